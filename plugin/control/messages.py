"""Protocol v1 messages: one frozen dataclass per message type, each field with its JSON type and range.

The dataclasses are the single source: the parser, the JSON Schemas (`marionette schema`), the
docs and the LLM tool definitions are all generated from the field metadata here. Parsing is strict
about shape (unknown types and fields, wrong JSON types are errors that say what was expected) and
lenient about range (numbers outside a field's range are clamped, and the reply lists each clamp).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import math
import re
from dataclasses import MISSING, dataclass, field
from typing import Any, ClassVar

from ...core.control.gestures import GESTURES
from ...core.errors import InputError
from ...core.motion_space import ALL_CHANNELS, ARKIT_BLENDSHAPES, EMOTIONS, POSE_RANGES
from ...core.types import Clamp

log = logging.getLogger(__name__)

PROTOCOL_VERSION = 1
MAX_MESSAGE_BYTES = 512 * 1024  # a base64 push_audio chunk of ~10 s at 16 kHz fits; more is refused
MAX_TEXT = 4000
MAX_ID = 64
MAX_INT_ID = 2**53 - 1  # integer ids that survive a round trip through a JavaScript number
MAX_PCM_B64 = MAX_MESSAGE_BYTES - 1024
SUBSCRIBABLE = ("speech", "errors", "status", "stats", "motion")
# Voice names reach TTS command lines: letters, digits and . _ + - only, never a leading dash.
# The end is written (?![\s\S]), not $: Python's $ also matches before a final newline, and
# JSON Schema validators (jsonschema uses Python's re.search) would then accept "en\n".
VOICE_PATTERN = r"^[A-Za-z0-9_.+][A-Za-z0-9_.+-]*(?![\s\S])"


class ProtocolError(InputError):
    """A message we cannot act on. code: machine-readable (see docs/protocol.md); field: which one."""

    def __init__(self, code: str, message: str, *, id: str | int | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.code, self.id, self.field = code, id, field

    def to_json(self) -> dict:
        out: dict[str, Any] = {"type": "error", "id": self.id, "code": self.code, "message": str(self)}
        if self.field is not None:
            out["field"] = self.field
        return out


# --- field specs ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Spec:
    """How one field looks on the wire. kind: str, num, int, bool, enum, values, names, events."""

    kind: str
    doc: str
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] = ()
    max_len: int | None = None
    nullable: bool = False
    pattern: str | None = None  # a regex the whole string must match (JSON Schema "pattern")


def f(kind: str, doc: str, default: Any = MISSING, **kw: Any) -> Any:
    """A dataclass field carrying its wire Spec; no default means the field is required."""
    spec = Spec(kind, doc, nullable=default is None, **kw)
    if default is MISSING:
        return field(metadata={"spec": spec})
    return field(default=default, metadata={"spec": spec})


TRANSITION_DOC = "seconds to blend from the current value (smoothstep)"


def _transition(default: float) -> Any:
    return f("num", TRANSITION_DOC, default, lo=0.0, hi=10.0)


# --- client -> server messages -----------------------------------------------------------
@dataclass(frozen=True)
class Message:
    TYPE: ClassVar[str] = ""
    SUMMARY: ClassVar[str] = ""
    EXAMPLE: ClassVar[dict] = {}


@dataclass(frozen=True)
class Speak(Message):
    TYPE = "speak"
    SUMMARY = ("Say text with lips in sync (queued after current speech unless interrupt is true). "
               "Inline tags like '[happy] Hello! [nod] Good to see you.' set the emotion or trigger a "
               "gesture where they appear. Emits speech start/end events.")
    EXAMPLE = {"id": 1, "type": "speak", "text": "[happy] Hello! [nod] Welcome to the show.", "voice": None}
    text: str = f("str", "what to say; may contain [emotion] and [gesture] tags", max_len=MAX_TEXT)
    emotion: str | None = f("enum", "emotion to speak with (before any inline tag)", None, choices=EMOTIONS)
    intensity: float = f("num", "emotion intensity", 1.0, lo=0.0, hi=1.0)
    voice: str | None = f("str", "voice name (engine-specific); default voice when absent", None, max_len=64,
                          pattern=VOICE_PATTERN)
    interrupt: bool = f("bool", "stop current speech first instead of queueing", False)


@dataclass(frozen=True)
class PushAudio(Message):
    TYPE = "push_audio"
    SUMMARY = ("Push speech audio to lip-sync: base64 PCM16 little-endian mono in 'pcm', or send raw "
               "PCM16 as binary websocket frames after a push_audio that sets sample_rate. 'end': true "
               "closes the utterance.")
    EXAMPLE = {"id": 2, "type": "push_audio", "pcm": "AAABAAIA", "sample_rate": 16000, "end": False}
    pcm: str | None = f("str", "base64 of PCM16 LE mono samples", None, max_len=MAX_PCM_B64)
    sample_rate: int = f("int", "Hz of this and following binary audio frames", 16000, lo=8000, hi=48000)
    end: bool = f("bool", "this chunk ends the utterance", False)


@dataclass(frozen=True)
class Interrupt(Message):
    TYPE = "interrupt"
    SUMMARY = "Stop speaking now: clears queued text, buffered audio and motion."
    EXAMPLE = {"id": 3, "type": "interrupt"}


@dataclass(frozen=True)
class SetEmotion(Message):
    TYPE = "set_emotion"
    SUMMARY = "Set the emotion (one of 8 labels) with an intensity; blends over 'transition' seconds."
    EXAMPLE = {"id": 4, "type": "set_emotion", "label": "happy", "intensity": 0.7, "transition": 0.5}
    label: str = f("enum", "emotion label", choices=EMOTIONS)
    intensity: float = f("num", "0 = none, 1 = full", 1.0, lo=0.0, hi=1.0)
    transition: float = _transition(0.5)


@dataclass(frozen=True)
class SetExpression(Message):
    TYPE = "set_expression"
    SUMMARY = ("Override ('set') or offset ('add') ARKit blendshapes by name (0..1). Held until cleared, "
               "or for 'hold' seconds.")
    EXAMPLE = {"id": 5, "type": "set_expression", "values": {"jawOpen": 0.6, "browInnerUp": 0.4},
               "mode": "set", "transition": 0.2, "hold": 2.0}
    values: dict = f("values", "ARKit blendshape name -> value (0..1 for set, -1..1 for add)",
                     choices=ARKIT_BLENDSHAPES)
    mode: str = f("enum", "set = override generated motion, add = offset it", "set", choices=("set", "add"))
    transition: float = _transition(0.2)
    hold: float | None = f("num", "seconds at full value before releasing; null = until cleared", None, lo=0.0, hi=3600.0)


def _pose(name: str, unit: str) -> Any:
    lo, hi = POSE_RANGES[name]
    return f("num", f"{unit} ({lo:g}..{hi:g} for set)", None, lo=lo - hi if name != "scale" else lo - 1.0, hi=hi - lo if name != "scale" else hi)


@dataclass(frozen=True)
class SetPose(Message):
    TYPE = "set_pose"
    SUMMARY = ("Override ('set') or offset ('add') head pose: pitch (+ = down), yaw (+ = turn to the "
               "subject's left), roll (+ = clockwise) in degrees; tx, ty in face widths; scale.")
    EXAMPLE = {"id": 6, "type": "set_pose", "yaw": 10, "pitch": -3, "mode": "set", "transition": 0.4}
    pitch: float | None = _pose("pitch", "degrees, + = looking down")
    yaw: float | None = _pose("yaw", "degrees, + = turned to the subject's left")
    roll: float | None = _pose("roll", "degrees, + = clockwise in the image")
    tx: float | None = _pose("tx", "face widths, + = image right")
    ty: float | None = _pose("ty", "face widths, + = image down")
    scale: float | None = _pose("scale", "factor")
    mode: str = f("enum", "set = override, add = offset", "set", choices=("set", "add"))
    transition: float = _transition(0.3)
    hold: float | None = f("num", "seconds before releasing; null = until cleared", None, lo=0.0, hi=3600.0)


@dataclass(frozen=True)
class LookAt(Message):
    TYPE = "look_at"
    SUMMARY = ("Hold the gaze on a point: x (-1 image left .. 1 image right), y (-1 down .. 1 up); "
               "0, 0 = the camera. Eyes follow fully, the head turns a little. Release with clear.")
    EXAMPLE = {"id": 7, "type": "look_at", "x": 0.5, "y": 0.2, "transition": 0.3}
    x: float = f("num", "horizontal target, + = image right", lo=-1.0, hi=1.0)
    y: float = f("num", "vertical target, + = up", lo=-1.0, hi=1.0)
    transition: float = _transition(0.3)


@dataclass(frozen=True)
class Gesture(Message):
    TYPE = "gesture"
    SUMMARY = "Play a timed gesture that blends in and out: " + "; ".join(f"{g.name}: {g.description}" for g in GESTURES.values())
    EXAMPLE = {"id": 8, "type": "gesture", "name": "nod", "intensity": 0.8}
    name: str = f("enum", "which gesture", choices=tuple(GESTURES))
    intensity: float = f("num", "amplitude", 1.0, lo=0.0, hi=1.0)
    duration: float | None = f("num", "seconds; null = the gesture's natural length", None, lo=0.05, hi=10.0)
    side: str | None = f("enum", "tilt/wink: the subject's own side", None, choices=("left", "right"))
    x: float | None = f("num", "look_at: target x (-1..1, + = image right)", None, lo=-1.0, hi=1.0)
    y: float | None = f("num", "look_at: target y (-1..1, + = up)", None, lo=-1.0, hi=1.0)


@dataclass(frozen=True)
class Clear(Message):
    TYPE = "clear"
    SUMMARY = ("Release overrides and offsets of the named channels back to generated motion (all "
               "channels and the gaze when 'channels' is absent); 'gaze': true releases only the gaze.")
    EXAMPLE = {"id": 9, "type": "clear", "channels": ["jawOpen", "yaw"], "transition": 0.3}
    channels: list | None = f("names", "channel names (blendshapes or pose)", None, choices=ALL_CHANNELS)
    gaze: bool = f("bool", "release the look_at target", False)
    transition: float = _transition(0.2)


@dataclass(frozen=True)
class Reset(Message):
    TYPE = "reset"
    SUMMARY = "Back to generated motion: clears every override, offset, gaze, gesture; emotion neutral."
    EXAMPLE = {"id": 10, "type": "reset", "transition": 0.3}
    transition: float = _transition(0.3)


@dataclass(frozen=True)
class GetState(Message):
    TYPE = "get_state"
    SUMMARY = "Current controls (emotion, overrides, offsets, gaze, gestures) and engine status."
    EXAMPLE = {"id": 11, "type": "get_state"}


@dataclass(frozen=True)
class Subscribe(Message):
    TYPE = "subscribe"
    SUMMARY = ("Receive events on this connection: speech (start/end), errors, status, stats "
               "(at stats_rate Hz), motion (the controlled motion at motion_rate Hz).")
    EXAMPLE = {"id": 12, "type": "subscribe", "events": ["speech", "motion"], "motion_rate": 10}
    events: list = f("events", "event kinds", choices=SUBSCRIBABLE)
    motion_rate: float = f("num", "motion events per second", 15.0, lo=1.0, hi=60.0)
    stats_rate: float = f("num", "stats events per second", 1.0, lo=0.2, hi=10.0)


@dataclass(frozen=True)
class Unsubscribe(Message):
    TYPE = "unsubscribe"
    SUMMARY = "Stop receiving the named event kinds (all when 'events' is absent)."
    EXAMPLE = {"id": 13, "type": "unsubscribe", "events": ["motion"]}
    events: list | None = f("events", "event kinds", None, choices=SUBSCRIBABLE)


@dataclass(frozen=True)
class Motion(Message):
    TYPE = "motion"
    SUMMARY = ("Stream motion in (a face tracker, a puppeteer) at up to 60 Hz: channel values, "
               "optionally restricted by 'mask'. Streamed channels release by themselves 'timeout' "
               "seconds after the last frame. Not answered unless it carries an id.")
    EXAMPLE = {"type": "motion", "values": {"jawOpen": 0.3, "yaw": 4.0}, "mask": ["jawOpen", "yaw"]}
    values: dict = f("values", "channel name -> value (blendshapes and pose)", choices=ALL_CHANNELS)
    mask: list | None = f("names", "only these channels of 'values' apply", None, choices=ALL_CHANNELS)
    mode: str = f("enum", "set = override, add = offset", "set", choices=("set", "add"))
    timeout: float = f("num", "seconds after the last frame before the channels release", 0.3, lo=0.05, hi=5.0)


@dataclass(frozen=True)
class Ping(Message):
    TYPE = "ping"
    SUMMARY = "Liveness check; the reply carries the engine clock time."
    EXAMPLE = {"id": 14, "type": "ping"}


@dataclass(frozen=True)
class SetBackground(Message):
    TYPE = "set_background"
    SUMMARY = ("Switch the background behind the person: keep (the photo's own, still), blur, green "
               "(chroma key), transparent, or color:#RRGGBB. Pictures (image:PATH) are set in the "
               "engine's config, not over the wire.")
    EXAMPLE = {"id": 15, "type": "set_background", "mode": "blur"}
    mode: str = f("str", "keep, blur, green, transparent or color:#RRGGBB", max_len=32)


@dataclass(frozen=True)
class SetDrive(Message):
    TYPE = "set_drive"
    SUMMARY = ("Choose who drives the face when a camera is attached (run --source camera): camera (the "
               "face in front of the camera drives everything), camera+audio (lips from the audio, the "
               "rest from the camera), camera+controls (agent and panel controls on top of the camera).")
    EXAMPLE = {"id": 16, "type": "set_drive", "mode": "camera+controls"}
    mode: str = f("enum", "who drives the face", choices=("camera", "camera+audio", "camera+controls"))


MESSAGES: dict[str, type[Message]] = {
    m.TYPE: m for m in (Speak, PushAudio, Interrupt, SetEmotion, SetExpression, SetPose, LookAt, Gesture,
                        Clear, Reset, GetState, Subscribe, Unsubscribe, Motion, Ping, SetBackground)
}
MESSAGES[SetDrive.TYPE] = SetDrive
ENVELOPE = ("id", "type", "v")


@functools.cache
def specs(cls: type[Message]) -> tuple[tuple[str, Spec, bool, Any], ...]:
    """(name, spec, required, default) for each field of a message class."""
    out = []
    for fl in dataclasses.fields(cls):
        required = fl.default is MISSING and fl.default_factory is MISSING
        out.append((fl.name, fl.metadata["spec"], required, None if required else fl.default))
    return tuple(out)


# --- parsing --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Parsed:
    """A valid message: its id (echoed in the reply), the typed message, and what was clamped."""

    id: str | int | None
    message: Message
    clamps: tuple[Clamp, ...] = ()


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


# A float holds about 308 decimal digits; an integer longer than this cannot be any of our numbers.
# Kept as a marker instead of an int: Python refuses to even convert more than 4300 digits.
MAX_INT_DIGITS = 310


class Oversized:
    """A JSON integer too long for a float: every field refuses it with `bad_value`."""

    def __init__(self, digits: int) -> None:
        self.digits = digits

    def __repr__(self) -> str:
        return f"<{self.digits}-digit integer>"


def _parse_int(text: str) -> int | Oversized:
    digits = len(text) - text.startswith("-")
    return Oversized(digits) if digits > MAX_INT_DIGITS else int(text)


def _as_float(v: Any) -> float | None:
    """A JSON number as a finite float, or None when it does not fit one (1e400, a 401-digit integer)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    try:
        x = float(v)
    except OverflowError:
        return None
    return x if math.isfinite(x) else None


def _type_name(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, Oversized):
        return repr(v)
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}.get(type(v), type(v).__name__)


def _short(v: Any) -> str:
    s = json.dumps(v) if isinstance(v, (str, int, float, bool, type(None))) else _type_name(v)
    return s if len(s) <= 40 else s[:37] + "..."


def parse_message(raw: str | bytes) -> Parsed:
    """Check one text frame against protocol v1; raise ProtocolError saying what was wrong.

    Nothing else escapes: whatever a message contains, the caller gets a Parsed or a ProtocolError
    (a failure of this module itself becomes code `internal`, logged with its traceback)."""
    try:
        return _parse(raw)
    except ProtocolError:
        raise
    except Exception as e:  # noqa: BLE001 - a bug here must cost one error reply, never the connection
        log.exception("protocol parser failed")
        raise ProtocolError("internal", f"the server could not read this message ({type(e).__name__}); "
                            "this is a bug in Marionette, please report it") from None


def parse_object(obj: Any, *, allowed: tuple[str, ...] | None = None) -> Parsed:
    """Check an already-decoded message (an OBS custom event, a panel action) like a text frame.
    allowed: the message types this caller accepts (None: all)."""
    try:
        obj = json.loads(json.dumps(obj, allow_nan=False), parse_int=_parse_int)
    except (TypeError, ValueError, RecursionError):
        raise ProtocolError("bad_message", f"command is {_type_name(obj)} that is not plain JSON; expected an "
                            'object like {"type": "gesture", "name": "nod"}') from None
    if allowed is not None and isinstance(obj, dict) and obj.get("type") not in allowed:
        kind = obj.get("type")
        shown = repr(kind) if isinstance(kind, str) else _short(kind)
        raise ProtocolError("unknown_type", f"command type {shown}; expected one of "
                            f"{', '.join(allowed)}", field="type")
    try:
        return _check_object(obj)
    except ProtocolError:
        raise
    except Exception as e:  # noqa: BLE001 - as in parse_message
        log.exception("protocol parser failed")
        raise ProtocolError("internal", f"the server could not read this command ({type(e).__name__})") from None


def _parse(raw: str | bytes) -> Parsed:
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("bad_json", "message is not UTF-8 text; send JSON text frames") from None
    if len(raw) > MAX_MESSAGE_BYTES:
        raise ProtocolError("too_large", f"message is {len(raw)} bytes, the limit is {MAX_MESSAGE_BYTES}")
    try:
        obj = json.loads(raw, parse_constant=_reject_constant, parse_int=_parse_int)
    except (ValueError, RecursionError) as e:
        raise ProtocolError("bad_json", f"message is not valid JSON ({str(e)[:80]}); expected an object like "
                            '{"id": 1, "type": "ping"}') from None
    return _check_object(obj)


def _check_object(obj: Any) -> Parsed:
    if not isinstance(obj, dict):
        raise ProtocolError("bad_message", f"message is a JSON {_type_name(obj)}, expected an object with a 'type'")
    msg_id = obj.get("id")
    if msg_id is not None and not (
        (isinstance(msg_id, str) and len(msg_id) <= MAX_ID)
        # an integer, also when written 7.0 (JSON Schema's "integer" says the same)
        or (isinstance(msg_id, (int, float)) and not isinstance(msg_id, bool)
            and abs(msg_id) <= MAX_INT_ID and float(msg_id).is_integer())
    ):
        raise ProtocolError("bad_value", f"id is {_short(msg_id)}, expected a string of at most {MAX_ID} "
                            f"characters or an integer of at most {MAX_INT_ID}", field="id")
    version = obj.get("v", PROTOCOL_VERSION)
    # True == 1 in Python, not in JSON: the schema says const 1, so a boolean is refused.
    if isinstance(version, bool) or not isinstance(version, (int, float)) or version != PROTOCOL_VERSION:
        raise ProtocolError("unsupported_version", f"protocol version {_short(obj['v'])}, this server speaks "
                            f"version {PROTOCOL_VERSION}", id=msg_id, field="v")
    mtype = obj.get("type")
    if not isinstance(mtype, str):
        raise ProtocolError("missing_field" if mtype is None else "bad_value",
                            f"'type' is {_short(mtype) if 'type' in obj else 'missing'}, expected one of "
                            f"{', '.join(MESSAGES)}", id=msg_id, field="type")
    cls = MESSAGES.get(mtype)
    if cls is None:
        raise ProtocolError("unknown_type", f"unknown message type {_short(mtype)}; expected one of "
                            f"{', '.join(MESSAGES)}", id=msg_id, field="type")
    fields = specs(cls)
    known = {name for name, *_ in fields}
    for key in obj:
        if key not in known and key not in ENVELOPE:
            raise ProtocolError("unknown_field", f"{mtype} has no field {_short(key)}; its fields are "
                                f"{', '.join(sorted(known)) or '(none)'}", id=msg_id, field=str(key))
    clamps: list[Clamp] = []
    kwargs: dict[str, Any] = {}
    for name, spec, required, default in fields:
        if name not in obj:
            if required:
                raise ProtocolError("missing_field", f"{mtype} needs {name!r} ({spec.doc})", id=msg_id, field=name)
            kwargs[name] = default
            continue
        kwargs[name] = _value(mtype, name, spec, obj[name], clamps, msg_id)
    message = cls(**kwargs)
    _check_whole(message, msg_id)
    return Parsed(msg_id, message, tuple(clamps))


def _value(mtype: str, name: str, spec: Spec, v: Any, clamps: list[Clamp], msg_id: Any) -> Any:
    def bad(expected: str) -> ProtocolError:
        return ProtocolError("bad_value", f"{mtype}.{name} is {_short(v)}, expected {expected}", id=msg_id, field=name)

    if v is None:
        if spec.nullable:
            return None
        raise bad(_expected(spec))
    k = spec.kind
    if k == "bool":
        if not isinstance(v, bool):
            raise bad("true or false")
        return v
    if k in ("num", "int"):
        if isinstance(v, bool) or not isinstance(v, (int, float, Oversized)):
            raise bad(_expected(spec))
        x = _as_float(v)
        if x is None:
            raise bad("a finite number that fits a 64-bit float")
        if k == "int" and not x.is_integer():
            raise bad("an integer")
        if spec.lo is not None and x < spec.lo or spec.hi is not None and x > spec.hi:
            y = min(max(x, spec.lo), spec.hi)
            clamps.append(Clamp(name, x, y))
            x = y
        return int(x) if k == "int" else x
    if k == "str":
        if not isinstance(v, str):
            raise bad("a string")
        if spec.max_len is not None and len(v) > spec.max_len:
            raise bad(f"a string of at most {spec.max_len} characters (got {len(v)})")
        if spec.pattern is not None and not re.fullmatch(spec.pattern, v):
            raise bad(f"a string matching {spec.pattern}")
        return v
    if k == "enum":
        if not isinstance(v, str) or v not in spec.choices:
            raise bad("one of " + ", ".join(spec.choices))
        return v
    if k in ("names", "events"):
        if not isinstance(v, list) or len(v) > len(spec.choices):
            raise bad(f"an array of at most {len(spec.choices)} names")
        for item in v:
            if not isinstance(item, str) or item not in spec.choices:
                raise bad(f"names from: {', '.join(spec.choices)} (got {_short(item)})")
        return list(dict.fromkeys(v))
    if k == "values":
        if not isinstance(v, dict) or len(v) > len(spec.choices):
            raise bad("an object of channel name -> number")
        out: dict[str, float] = {}
        for key, x in v.items():
            if key not in spec.choices:
                close = [c for c in spec.choices if c.lower() == str(key).lower()]
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ProtocolError("bad_value", f"{mtype}.{name} has unknown channel {_short(key)}{hint}; "
                                    f"valid: {', '.join(spec.choices)}", id=msg_id, field=f"{name}.{key}")
            fx = _as_float(x)
            if fx is None:
                raise ProtocolError("bad_value", f"{mtype}.{name}.{key} is {_short(x)}, expected a finite number "
                                    "that fits a 64-bit float", id=msg_id, field=f"{name}.{key}")
            out[key] = fx
        return out
    raise AssertionError(f"unhandled spec kind {k}")  # a bug in this module, not in the message


def _expected(spec: Spec) -> str:
    k = spec.kind
    text = {"num": "a number", "int": "an integer", "str": "a string", "bool": "true or false",
            "enum": "one of " + ", ".join(spec.choices), "values": "an object of name -> number",
            "names": "an array of names", "events": "an array of event names"}[k]
    if k in ("num", "int") and spec.lo is not None:
        text += f" in {spec.lo:g}..{spec.hi:g}"
    return text + (" or null" if spec.nullable else "")


def _check_whole(m: Message, msg_id: Any) -> None:
    """Rules that involve more than one field."""
    if isinstance(m, SetPose) and all(getattr(m, c) is None for c in POSE_RANGES):
        raise ProtocolError("missing_field", f"set_pose needs at least one of {', '.join(POSE_RANGES)}", id=msg_id)
    if isinstance(m, Speak) and not m.text.strip():
        raise ProtocolError("bad_value", "speak.text is empty; expected something to say", id=msg_id, field="text")
    if isinstance(m, Gesture) and (m.x is None) != (m.y is None):
        raise ProtocolError("bad_value", "gesture x and y go together (both or neither)", id=msg_id, field="x")
    if isinstance(m, (SetExpression, Motion)) and not m.values:
        raise ProtocolError("bad_value", f"{m.TYPE}.values is empty; expected at least one channel", id=msg_id, field="values")
