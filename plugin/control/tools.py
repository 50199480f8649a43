"""LLM tool definitions for the control protocol, in OpenAI, Anthropic and MCP formats.

Generated from the protocol message classes, so a tool's parameters are exactly the message's
fields (same names, ranges, enums). Trade-off: nullable fields become plain optional parameters,
because function-calling models handle "omit it" better than anyOf-with-null.
"""

from __future__ import annotations

from typing import Any

from .messages import MESSAGES, Message, specs
from .schema import _field_schema

# The tools an agent gets (the list, plus reset and get_state so it can recover and look).
TOOL_MESSAGES = ("speak", "set_emotion", "set_expression", "set_pose", "look_at", "gesture", "interrupt",
                 "reset", "get_state")
FORMATS = ("openai", "anthropic", "mcp")


def tool_parameters(cls: type[Message]) -> dict[str, Any]:
    props: dict[str, Any] = {}
    required = []
    for name, spec, req, default in specs(cls):
        s = _field_schema(spec)
        if "anyOf" in s:  # nullable: offer the non-null form; omitting the parameter means null
            s = dict(s["anyOf"][0])
        if default is not None:
            s["default"] = default
        props[name] = s
        if req:
            required.append(name)
    return {"type": "object", "properties": props, "required": required, "additionalProperties": False}


def tool_definitions(fmt: str = "openai") -> list[dict[str, Any]]:
    if fmt not in FORMATS:
        raise ValueError(f"tool format {fmt!r}, expected one of {', '.join(FORMATS)}")
    out = []
    for name in TOOL_MESSAGES:
        cls = MESSAGES[name]
        params = tool_parameters(cls)
        desc = f"{cls.SUMMARY} (Marionette avatar)"
        if fmt == "openai":
            out.append({"type": "function", "function": {"name": name, "description": desc, "parameters": params}})
        elif fmt == "anthropic":
            out.append({"name": name, "description": desc, "input_schema": params})
        else:
            out.append({"name": name, "description": desc, "inputSchema": params})
    return out
