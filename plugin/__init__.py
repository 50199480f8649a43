"""The integration edge: CLI, config, audio sources, frame sinks, control server."""
