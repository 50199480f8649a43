"""The avatar controls an agent framework offers its LLM as function-call tools, next to its words
(speech itself comes from the framework's TTS): checked exactly like control protocol messages
(plugin/control/messages.py) and applied to one avatar's ControlMixer. Framework-free, so the
Pipecat service, the LiveKit avatar and the Ray Serve replicas share it.
"""

from __future__ import annotations

from typing import Any

from .control.messages import ProtocolError, parse_object

TOOL_NAMES = ("set_emotion", "gesture", "look_at", "set_expression", "set_pose", "reset")


def apply_tool(mixer, name: str, arguments: dict[str, Any] | None) -> dict[str, Any]:
    """Check a tool call exactly like a protocol message and apply it to ``mixer``. Returns
    {"ok": True, "clamped": [...]} or {"ok": False, "error": "..."} (a bad call never raises)."""
    from .control import messages as m

    if name not in TOOL_NAMES:
        return {"ok": False, "error": f"unknown tool {name!r}; expected one of {', '.join(TOOL_NAMES)}"}
    args = dict(arguments or {})
    args.pop("type", None)
    try:
        parsed = parse_object({"type": name, **args}, allowed=TOOL_NAMES)
        msg = parsed.message
    except ProtocolError as e:
        return {"ok": False, "error": str(e)}
    if isinstance(msg, m.SetEmotion):
        clamps = mixer.set_emotion(msg.label, msg.intensity, msg.transition)
    elif isinstance(msg, m.Gesture):
        target = None if msg.x is None else (msg.x, msg.y)
        clamps = mixer.gesture(msg.name, msg.intensity, msg.duration, side=msg.side, target=target)
    elif isinstance(msg, m.LookAt):
        clamps = mixer.look_at(msg.x, msg.y, msg.transition)
    elif isinstance(msg, m.SetExpression):
        clamps = mixer.set_channels(msg.values, mode=msg.mode, transition=msg.transition, hold=msg.hold)
    elif isinstance(msg, m.SetPose):
        values = {c: getattr(msg, c) for c in ("pitch", "yaw", "roll", "tx", "ty", "scale") if getattr(msg, c) is not None}
        clamps = mixer.set_channels(values, mode=msg.mode, transition=msg.transition, hold=msg.hold)
    else:
        mixer.reset(msg.transition)
        clamps = []
    every = [*parsed.clamps, *(clamps or [])]
    return {"ok": True, "clamped": [{"channel": c.channel, "requested": c.requested, "applied": c.applied} for c in every]}
