"""A Model Context Protocol server (stdio) that lets an LLM agent drive a running Marionette.

It is a thin bridge: each tool call becomes one protocol message on the engine's websocket, and
the reply (or error) goes back as the tool result, so the MCP server holds no state of its own and
the engine's validation, clamping and rate limits apply unchanged. Needs the `mcp` SDK (extra
"agents"). Trade-off: one websocket per MCP session, opened lazily on the first call.
"""

from __future__ import annotations

import json
from typing import Any

from ...core.errors import MarionetteError
from .client import ControlClient, RemoteError
from .tools import TOOL_MESSAGES, tool_definitions


def _require_mcp():
    try:
        import mcp_types
        from mcp.server import Server
    except ImportError as e:
        raise MarionetteError(f"`marionette mcp` needs the MCP SDK: pip install 'marionette[agents]' ({e})") from None
    return Server, mcp_types


def build_server(url: str, token: str):
    """The MCP server object (mcp.server.Server) bridging tool calls to ``url``."""
    Server, types = _require_mcp()
    from websockets.exceptions import ConnectionClosed, InvalidStatus

    state: dict[str, Any] = {"client": None}
    tools = [types.Tool(name=t["name"], description=t["description"], input_schema=t["inputSchema"])
             for t in tool_definitions("mcp")]

    async def list_tools(ctx, params):
        return types.ListToolsResult(tools=tools)

    async def call_tool(ctx, params):
        name, args = params.name, dict(params.arguments or {})
        if name not in TOOL_MESSAGES:
            return _result(types, f"unknown tool {name!r}; tools: {', '.join(TOOL_MESSAGES)}", error=True)
        try:
            client = state["client"]
            if client is None:
                client = state["client"] = await ControlClient(url, token).connect()
            result = await client.request(name, **args)
        except RemoteError as e:
            return _result(types, str(e), error=True)
        except InvalidStatus as e:
            state["client"] = None
            return _result(types, f"the Marionette engine at {url} refused the connection "
                           f"(HTTP {e.response.status_code}): check the token (marionette mcp --token)", error=True)
        except (OSError, ConnectionError, TimeoutError, ConnectionClosed) as e:
            state["client"] = None
            return _result(types, f"cannot reach the Marionette engine at {url} ({e}); is `marionette run` going?",
                           error=True)
        return _result(types, json.dumps(result) if result else "ok")

    return Server("marionette", version="1", instructions=(
        "Drive a live talking-head avatar: speak text (inline [emotion] and [gesture] tags work), set its "
        "emotion, expression (ARKit blendshapes), head pose and gaze, play gestures, interrupt."),
        on_list_tools=list_tools, on_call_tool=call_tool)


def _result(types, text: str, error: bool = False):
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=error)


async def serve_stdio(url: str, token: str) -> None:
    from mcp.server.stdio import stdio_server

    server = build_server(url, token)
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())
