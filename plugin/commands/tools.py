"""`marionette tools`: tool definitions an LLM can call to drive the avatar (OpenAI, Anthropic, MCP)."""

from __future__ import annotations

import argparse
import json


def register(subparsers) -> None:
    p = subparsers.add_parser("tools", help="print LLM tool definitions (openai, anthropic or mcp format)",
                              description="Print the avatar's tools (speak, set_emotion, set_expression, set_pose, "
                                          "look_at, gesture, interrupt, reset, get_state) as JSON for an LLM API. "
                                          "Each tool call maps 1:1 to a control protocol message.")
    p.add_argument("--format", choices=("openai", "anthropic", "mcp"), default="openai",
                   help="openai: Chat Completions 'tools'; anthropic: Messages 'tools'; mcp: MCP Tool objects")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ..control.tools import tool_definitions

    print(json.dumps(tool_definitions(args.format), indent=2))
    return 0
