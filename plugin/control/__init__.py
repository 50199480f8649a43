"""The agent control channel: websocket protocol, auth, LLM tools, MCP server and VMC/OSC bridge.

Everything here talks to the engine only through core.control.EngineControl: controls go into
the ControlMixer's state, speech and audio are queued, events come back by subscription.
"""
