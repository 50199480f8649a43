"""`marionette mcp`: a Model Context Protocol server over stdio that drives the running engine."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser("mcp", help="MCP server (stdio) for LLM agents; talks to the running engine",
                              description="Run a Model Context Protocol server on stdin/stdout with the avatar's tools. "
                                          "Each tool call is sent to the engine's control websocket (start the engine "
                                          "with `marionette run`). Needs: pip install 'marionette[agents]'.")
    p.add_argument("--url", default=None, help="control websocket (default ws://127.0.0.1:8768/)")
    p.add_argument("--token", default=None, help="control token (default: read from the config directory)")
    p.add_argument("--token-file", default=None, help="read the token from this file")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import asyncio
    from pathlib import Path

    from ..control.auth import read_token
    from ..control.mcp_server import _require_mcp, serve_stdio
    from ..control.server import ServerConfig

    _require_mcp()
    url = args.url or f"ws://127.0.0.1:{ServerConfig().port}/"
    token = args.token or read_token(Path(args.token_file) if args.token_file else None)
    asyncio.run(serve_stdio(url, token))
    return 0
