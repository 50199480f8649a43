"""JSON Schemas (draft 2020-12) for every protocol message, generated from messages.py.

One schema per client message type plus the server's reply, error and event envelopes, so that
clients in any language can validate before sending. The schemas state the documented ranges; the
server is more lenient (it clamps and reports) so a strict client never sends what we would refuse.
"""

from __future__ import annotations

from typing import Any

from ...core.motion_space import BLENDSHAPE_RANGE, POSE_RANGES
from .messages import (MAX_ID, MAX_INT_ID, MESSAGES, PROTOCOL_VERSION, SUBSCRIBABLE, Gesture, Message, SetPose, Speak,
                       Spec, specs)

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
        # Blendshapes 0..1 to set, -1..1 to add; a pose channel its range to set, +-its span to add.
        lo, hi = BLENDSHAPE_RANGE
        pose = {c: _value_range(*POSE_RANGES[c]) for c in spec.choices if c in POSE_RANGES}
        s = {"type": "object", "minProperties": 1, "propertyNames": {"enum": list(spec.choices)},
             "additionalProperties": {"type": "number", "minimum": -(hi - lo), "maximum": hi}}
        if pose:
            s["properties"] = {c: {"type": "number", "minimum": a, "maximum": b} for c, (a, b) in pose.items()}
    else:  # pragma: no cover - messages.py and this module move together
        raise AssertionError(k)
    s["description"] = spec.doc
    if spec.nullable:
        s = {"anyOf": [s, {"type": "null"}], "description": spec.doc}
    return s


def _value_range(lo: float, hi: float) -> tuple[float, float]:
    span = hi - lo
    return min(lo, -span), max(hi, span)


ID_SCHEMA = {"description": "echoed in the reply; string (<= 64 chars) or integer",
             "anyOf": [{"type": "string", "maxLength": MAX_ID},
                       {"type": "integer", "minimum": -MAX_INT_ID, "maximum": MAX_INT_ID}, {"type": "null"}]}


def _whole_message_rules(cls: type[Message]) -> dict[str, Any]:
    """The rules messages._check_whole applies across fields, as JSON Schema (so both agree)."""
    number = {"type": "number"}
    if cls is SetPose:  # at least one pose field that is not null
        return {"anyOf": [{"required": [c], "properties": {c: number}} for c in POSE_RANGES]}
    if cls is Gesture:  # x and y go together
        return {"allOf": [{"if": {"required": [a], "properties": {a: number}},
                           "then": {"required": [b], "properties": {b: number}}} for a, b in (("x", "y"), ("y", "x"))]}
    if cls is Speak:  # something to say, not only spaces
        return {"allOf": [{"properties": {"text": {"pattern": "\\S"}}}]}
    return {}


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
        **_whole_message_rules(cls),
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


# --- counter-examples -----------------------------------------------------------------------------
def counter_examples(cls: type[Message]) -> list[tuple[str, dict[str, Any]]]:
    """(what is wrong, message) pairs near the example that this schema refuses and the parser
    refuses too (tests run both; docs/protocol.md lists the rules). Out-of-range numbers are not
    here: the schema refuses them, the server clamps them and says so (range_counter_examples)."""
    base = {k: v for k, v in cls.EXAMPLE.items() if k != "id"}
    out: list[tuple[str, dict[str, Any]]] = [
        ("unknown field", {**base, "colour": "red"}),
        ("v is true, not 1", {**base, "v": True}),
        ("v is 2", {**base, "v": 2}),
        ("v is a string", {**base, "v": "1"}),
        ("id is a list", {**base, "id": [1]}),
        ("id is a boolean", {**base, "id": True}),
        ("id is too long", {**base, "id": "x" * (MAX_ID + 1)}),
        ("id beyond 2**53", {**base, "id": MAX_INT_ID + 1}),
        ("id does not fit a float", {**base, "id": 10**400}),
        ("type is misspelt", {**base, "type": cls.TYPE.upper()}),
    ]
    for name, spec, required, _ in specs(cls):
        value = base.get(name)
        if required:
            out.append((f"{name} missing", {k: v for k, v in base.items() if k != name}))
        if not spec.nullable:
            out.append((f"{name} is null", {**base, name: None}))
        k = spec.kind
        if k in ("num", "int"):
            out += [(f"{name} is a boolean", {**base, name: True}), (f"{name} is a string", {**base, name: "1"}),
                    (f"{name} is a 401-digit integer", {**base, name: 10**400}),
                    (f"{name} is a negative 401-digit integer", {**base, name: -(10**400)})]
            if k == "int":
                out.append((f"{name} is not whole", {**base, name: (spec.lo or 0) + 0.5}))
        elif k == "bool":
            out += [(f"{name} is 1", {**base, name: 1}), (f"{name} is a string", {**base, name: "true"})]
        elif k == "str":
            out.append((f"{name} is a number", {**base, name: 1}))
            if spec.max_len is not None:
                out.append((f"{name} is too long", {**base, name: "a" * (spec.max_len + 1)}))
            if spec.pattern is not None:
                out += [(f"{name} ends in a newline", {**base, name: "en\n"}),
                        (f"{name} starts with a dash", {**base, name: "-en"})]
        elif k == "enum":
            out += [(f"{name} is not a choice", {**base, name: "nope"}), (f"{name} is a number", {**base, name: 1})]
        elif k in ("names", "events"):
            out += [(f"{name} has an unknown name", {**base, name: ["nope"]}),
                    (f"{name} is a string", {**base, name: spec.choices[0]})]
        elif k == "values":
            first = next(iter(value)) if isinstance(value, dict) and value else spec.choices[0]
            out += [(f"{name} is empty", {**base, name: {}}),
                    (f"{name} has an unknown channel", {**base, name: {"nope": 0.5}}),
                    (f"{name} has a wrongly cased channel", {**base, name: {first.lower(): 0.5}}),
                    (f"{name} has a boolean", {**base, name: {first: True}}),
                    (f"{name} has a string", {**base, name: {first: "0.5"}}),
                    (f"{name} has a 401-digit integer", {**base, name: {first: 10**400}}),
                    (f"{name} is a list", {**base, name: [first]})]
    if cls is SetPose:
        out.append(("no pose field", {"type": cls.TYPE, "mode": "set"}))
        out.append(("every pose field null", {"type": cls.TYPE, **{c: None for c in POSE_RANGES}}))
    if cls is Gesture:
        out += [("x without y", {**base, "name": "look_at", "x": 0.5}), ("y without x", {**base, "name": "look_at", "y": 0.5}),
                ("x with a null y", {**base, "name": "look_at", "x": 0.5, "y": None})]
    if cls is Speak:
        out += [("text is empty", {**base, "text": ""}), ("text is only spaces", {**base, "text": " \t\n "})]
    return out


def range_counter_examples(cls: type[Message]) -> list[tuple[str, dict[str, Any]]]:
    """(field, message) with one number outside its documented range: the schema refuses it,
    the parser moves it into range and lists the clamp in the reply."""
    base = {k: v for k, v in cls.EXAMPLE.items() if k != "id"}
    out = []
    for name, spec, _, _ in specs(cls):
        if spec.kind in ("num", "int") and spec.lo is not None:
            msg = {**base, "x": 0.0, "y": 0.0} if cls is Gesture else base  # x and y go together
            out += [(name, {**msg, name: spec.lo - 1}), (name, {**msg, name: spec.hi + 1})]
    return out
