"""JSON Schemas (draft 2020-12) for every protocol message, generated from messages.py.

One schema per client message type plus the server's reply, error and event envelopes, so that
clients in any language can validate before sending. The schemas state the documented ranges; the
server is more lenient (it clamps and reports) so a strict client never sends what we would refuse.
"""

from __future__ import annotations

from typing import Any

from .messages import MAX_ID, MESSAGES, PROTOCOL_VERSION, SUBSCRIBABLE, Message, Spec, specs

SCHEMA_BASE = "https://marionette.invalid/protocol/v1/"
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _field_schema(spec: Spec) -> dict[str, Any]:
    k = spec.kind
    if k == "bool":
        s: dict[str, Any] = {"type": "boolean"}
    elif k in ("num", "int"):
        s = {"type": "number" if k == "num" else "integer"}
        if spec.lo is not None:
            s["minimum"], s["maximum"] = spec.lo, spec.hi
    elif k == "str":
        s = {"type": "string"}
        if spec.max_len is not None:
            s["maxLength"] = spec.max_len
        if spec.pattern is not None:
            s["pattern"] = spec.pattern
    elif k == "enum":
        s = {"type": "string", "enum": list(spec.choices)}
    elif k in ("names", "events"):
        s = {"type": "array", "items": {"type": "string", "enum": list(spec.choices)}, "uniqueItems": True}
    elif k == "values":
        s = {"type": "object", "minProperties": 1, "propertyNames": {"enum": list(spec.choices)},
             "additionalProperties": {"type": "number"}}
    else:  # pragma: no cover - messages.py and this module move together
        raise AssertionError(k)
    s["description"] = spec.doc
    if spec.nullable:
        s = {"anyOf": [s, {"type": "null"}], "description": spec.doc}
    return s


ID_SCHEMA = {"description": "echoed in the reply; string (<= 64 chars) or integer",
             "anyOf": [{"type": "string", "maxLength": MAX_ID}, {"type": "integer"}, {"type": "null"}]}


def message_schema(cls: type[Message]) -> dict[str, Any]:
    props: dict[str, Any] = {
        "id": ID_SCHEMA,
        "type": {"const": cls.TYPE},
        "v": {"const": PROTOCOL_VERSION, "description": "protocol version (optional)"},
    }
    required = ["type"]
    for name, spec, req, default in specs(cls):
        props[name] = _field_schema(spec)
        if req:
            required.append(name)
        elif default is not None:
            props[name]["default"] = default
    return {
        "$schema": DIALECT,
        "$id": SCHEMA_BASE + cls.TYPE,
        "title": cls.TYPE,
        "description": cls.SUMMARY,
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": False,
        "examples": [cls.EXAMPLE],
    }


CLAMP_SCHEMA = {"type": "object", "properties": {"channel": {"type": "string"}, "requested": {"type": "number"},
                                                  "applied": {"type": "number"}},
                "required": ["channel", "requested", "applied"]}

SERVER_SCHEMAS: dict[str, dict[str, Any]] = {
    "reply": {
        "$schema": DIALECT, "$id": SCHEMA_BASE + "reply", "title": "reply",
        "description": "Success answer to a message with its id; 'clamped' lists values moved into range.",
        "type": "object",
        "properties": {"type": {"const": "reply"}, "id": ID_SCHEMA, "ok": {"const": True},
                       "result": {"type": "object"}, "clamped": {"type": "array", "items": CLAMP_SCHEMA}},
        "required": ["type", "id", "ok", "result"],
    },
    "error": {
        "$schema": DIALECT, "$id": SCHEMA_BASE + "error", "title": "error",
        "description": "A message that was refused, or an asynchronous failure (id null).",
        "type": "object",
        "properties": {"type": {"const": "error"}, "id": ID_SCHEMA,
                       "code": {"enum": ["bad_json", "bad_message", "unknown_type", "unknown_field", "missing_field",
                                         "bad_value", "unsupported_version", "too_large", "rate_limited",
                                         "not_available", "engine_error", "internal"]},
                       "message": {"type": "string"}, "field": {"type": "string"}},
        "required": ["type", "id", "code", "message"],
    },
    "event": {
        "$schema": DIALECT, "$id": SCHEMA_BASE + "event", "title": "event",
        "description": "Pushed by the server: 'welcome' on connect, then the kinds subscribed to.",
        "type": "object",
        "properties": {"type": {"const": "event"},
                       "event": {"enum": ["welcome", "speech_start", "speech_end", "error", "status", "stats", "motion"]},
                       "data": {"type": "object"}},
        "required": ["type", "event", "data"],
    },
}


def all_schemas() -> dict[str, dict[str, Any]]:
    """{name: schema} for every client message and every server message."""
    out = {name: message_schema(cls) for name, cls in MESSAGES.items()}
    out.update(SERVER_SCHEMAS)
    return out


def client_message_schema() -> dict[str, Any]:
    """One schema any client message validates against (a oneOf over the types)."""
    return {"$schema": DIALECT, "$id": SCHEMA_BASE + "client", "title": "client message",
            "oneOf": [message_schema(cls) for cls in MESSAGES.values()],
            "description": f"Marionette control protocol v{PROTOCOL_VERSION}; subscribable events: {', '.join(SUBSCRIBABLE)}"}
