"""The one command layer: a checked protocol message (messages.py) applied to the engine.

Every door that steers the avatar goes through here: the websocket server (and with it the
control panel and the MCP bridge, which speak the websocket protocol), and the OBS bridge (custom
events, hotkeys). So a command means the same from every door: same ranges, same clamps reported,
same inline speech tags, same errors. Transports keep what is theirs (connections, subscriptions,
rate limits) and hand this layer typed messages only. Trade-off: the layer knows no connection;
the little it keeps per client (the pushed-audio sample rate, the audio meter) is a Session the
transport owns.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...core.clock import Clock
from ...core.control.api import BackgroundControl, EngineControl, SpeechEvent
from ...core.errors import InputError
from ...core.motion_space import POSE_CHANNELS
from ...core.speech.errors import SpeechQueueFull
from ...core.types import AudioChunk, Clamp, Emotion
from . import messages as m
from .tags import Segment, split_tags

MOTION_IN_TRANSITION = 0.05  # s; smooths a 30-60 Hz tracker stream without adding visible lag
MAX_PENDING_SPEECH = 256  # tag actions waiting for their speech to start; older ones are forgotten

# What the OBS bridge accepts from custom events and hotkeys (no audio, no state queries).
OBS_COMMANDS = ("gesture", "set_emotion", "set_expression", "set_pose", "look_at", "clear", "reset", "speak",
                "interrupt")


def _admit_all(seconds: float) -> bool:
    return True


@dataclass
class Session:
    """Per-client state of the command layer. sample_rate: of pushed audio (push_audio sets it,
    binary frames use it). admit_audio(seconds of audio) -> bool: the transport's meter; False
    refuses the chunk with `rate_limited`."""

    sample_rate: int = 16000
    admit_audio: Callable[[float], bool] = field(default=_admit_all)
    owner: str | None = None  # who queues speech: the engine's limits on queued speech count per owner


@dataclass(frozen=True)
class Outcome:
    """result: the reply's result object, or None when nothing is to be answered (a streamed
    motion frame). clamps: values moved into range. summary: one line for logs ("gesture nod")."""

    result: dict | None
    clamps: tuple[Clamp, ...] = ()
    summary: str = ""


class Commands:
    """Applies messages to one engine. start() subscribes to speech events (inline tags act when
    their sentence starts); close() unsubscribes. Every method returns at once: the engine queues."""

    def __init__(self, engine: EngineControl, clock: Clock) -> None:
        self.engine, self.clock = engine, clock
        self._lock = threading.Lock()  # tag tables: written by callers, read by the engine's thread
        self._on_start: dict[str, Segment] = {}
        self._on_end: dict[str, Segment] = {}
        self._started: dict[str, bool] = {}  # starts seen before say() returned their id
        self._unsubscribe: Callable[[], None] | None = None
        from ...core.control.api import DriveControl

        self._drive = engine if isinstance(engine, DriveControl) else None  # optional ability: a camera
        self._background = engine if isinstance(engine, BackgroundControl) else None  # optional ability

    def start(self) -> "Commands":
        if self._unsubscribe is None:
            self._unsubscribe = self.engine.subscribe(self._on_engine_event)
        return self

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    # ------------------------------------------------------------------ commands
    def execute(self, msg: m.Message, session: Session | None = None) -> Outcome:
        """Apply one message; raises ProtocolError (or InputError from the engine) on refusal.
        subscribe/unsubscribe belong to a transport and are refused here."""
        mixer = self.engine.mixer
        if isinstance(msg, m.SetExpression):
            clamps = mixer.set_channels(msg.values, mode=msg.mode, transition=msg.transition, hold=msg.hold)
            return Outcome({}, tuple(clamps), f"expression {', '.join(msg.values)}")
        if isinstance(msg, m.SetPose):
            values = {c: getattr(msg, c) for c in POSE_CHANNELS if getattr(msg, c) is not None}
            clamps = mixer.set_channels(values, mode=msg.mode, transition=msg.transition, hold=msg.hold)
            return Outcome({}, tuple(clamps), f"pose {', '.join(values)}")
        if isinstance(msg, m.SetEmotion):
            return Outcome({}, tuple(mixer.set_emotion(msg.label, msg.intensity, msg.transition)), f"emotion {msg.label}")
        if isinstance(msg, m.LookAt):
            return Outcome({}, tuple(mixer.look_at(msg.x, msg.y, msg.transition)), "look_at")
        if isinstance(msg, m.Gesture):
            target = None if msg.x is None else (msg.x, msg.y)
            clamps = mixer.gesture(msg.name, msg.intensity, msg.duration, side=msg.side, target=target)
            return Outcome({}, tuple(clamps), f"gesture {msg.name}")
        if isinstance(msg, m.Clear):
            self._clear(msg)
            return Outcome({}, (), "clear")
        if isinstance(msg, m.Reset):
            mixer.reset(msg.transition)
            return Outcome({}, (), "reset")
        if isinstance(msg, m.Motion):
            values = msg.values if msg.mask is None else {k: v for k, v in msg.values.items() if k in msg.mask}
            clamps = mixer.set_channels(values, mode=msg.mode, transition=MOTION_IN_TRANSITION,
                                        hold=msg.timeout) if values else []
            return Outcome(None, tuple(clamps), "motion")
        if isinstance(msg, m.Speak):
            result = self._speak(msg, session)
            return Outcome(result, (), f"speak {' '.join(result['speech_ids'])}".strip())
        if isinstance(msg, m.PushAudio):
            return Outcome(self._push_audio(msg, session or Session()), (), "push_audio")
        if isinstance(msg, m.Interrupt):
            self.engine.interrupt()
            return Outcome({}, (), "interrupt")
        if isinstance(msg, m.GetState):
            return Outcome(self.state(), (), "get_state")
        if isinstance(msg, m.Ping):
            return Outcome({"pong": True, "t": self.clock.now()}, (), "ping")
        if isinstance(msg, m.SetBackground):
            return Outcome({"background": self._set_background(msg.mode)}, (), f"background {msg.mode}")
        if isinstance(msg, m.SetDrive):
            return Outcome({"drive": self._set_drive(msg.mode)}, (), f"drive {msg.mode}")
        raise m.ProtocolError("not_available", f"{msg.TYPE} is not available here (it belongs to a connection)",
                              field="type")

    def _set_background(self, mode: str) -> str:
        if self._background is None:
            raise m.ProtocolError("not_available", "this engine cannot switch its background", field="type")
        if mode.strip().lower().startswith("image"):
            raise m.ProtocolError("bad_value", "image backgrounds are set in the engine's config or with "
                                  "`run --background image:PATH`; the protocol reads no files", field="mode")
        try:
            return self._background.set_background(mode)
        except InputError as e:
            raise m.ProtocolError("bad_value", str(e), field="mode") from None

    def _set_drive(self, mode: str) -> str:
        if self._drive is None:
            raise m.ProtocolError("not_available", "this engine has no camera to drive the face", field="type")
        try:
            return self._drive.set_drive(mode)
        except InputError as e:
            raise m.ProtocolError("not_available", str(e), field="mode") from None

    def push_pcm(self, data: bytes, session: Session) -> int:
        """Raw PCM16 LE mono at session.sample_rate (a binary websocket frame); returns samples queued."""
        if len(data) % 2:
            raise m.ProtocolError("bad_value", f"audio is {len(data)} bytes, expected PCM16 (an even number of bytes)",
                                  field="pcm")
        n = len(data) // 2
        # Metered in seconds of sound at the chunk's own rate: 8 kHz audio is not 6x cheaper than 48 kHz.
        if n and not session.admit_audio(n / session.sample_rate):
            raise m.ProtocolError("rate_limited", "audio arrives faster than this connection may push it "
                                  "(a few times real time); this chunk was dropped")
        if n:
            samples = np.frombuffer(data, "<i2").astype(np.float32) / 32768.0
            self.engine.push_audio(AudioChunk(samples, session.sample_rate, self.clock.now()))
        return n

    def state(self) -> dict:
        return {"protocol": m.PROTOCOL_VERSION, "controls": self.engine.mixer.state(), "engine": self.engine.status()}

    # ------------------------------------------------------------------ details
    def _clear(self, msg: m.Clear) -> None:
        mixer = self.engine.mixer
        if msg.channels is None and not msg.gaze:
            mixer.clear_channels(None, msg.transition)
            mixer.clear_gaze(msg.transition)
            return
        if msg.channels:
            mixer.clear_channels(msg.channels, msg.transition)
        if msg.gaze:
            mixer.clear_gaze(msg.transition)

    def _push_audio(self, msg: m.PushAudio, session: Session) -> dict:
        session.sample_rate = msg.sample_rate
        n = 0
        if msg.pcm:
            try:
                data = base64.b64decode(msg.pcm, validate=True)
            except (binascii.Error, ValueError):
                raise m.ProtocolError("bad_value", "push_audio.pcm is not valid base64", field="pcm") from None
            n = self.push_pcm(data, session)
        if msg.end:
            self.engine.end_segment()
        return {"samples": n, "seconds": round(n / msg.sample_rate, 6)}

    def _speak(self, msg: m.Speak, session: Session | None) -> dict:
        segments, tail = split_tags(msg.text, msg.emotion, msg.intensity)
        if msg.interrupt:
            self.engine.interrupt()
        ids = []
        for seg in segments:
            emotion = Emotion(seg.emotion, seg.intensity) if seg.emotion else None
            try:
                sid = self.engine.say(seg.text, emotion=emotion, voice=msg.voice,
                                      owner=session.owner if session else None)
            except SpeechQueueFull as e:  # too much speech waits: over a limit, like a rate
                raise m.ProtocolError("rate_limited", str(e), field="text") from None
            ids.append(sid)
            with self._lock:  # an engine may announce the start inside say(), before we knew the id
                started = self._started.pop(sid, False)
            if started:
                self._act(seg)
            else:
                self._remember(self._on_start, sid, seg)
        if ids and tail is not None:
            self._remember(self._on_end, ids[-1], tail)
        elif tail is not None:  # only tags, nothing to say: act now
            self._act(tail)
        return {"speech_ids": ids, "segments": [{"text": s.text, "emotion": s.emotion, "gestures": s.gestures}
                                                for s in segments]}

    def _remember(self, table: dict[str, Segment], key: str, value: Segment) -> None:
        with self._lock:
            table[key] = value
            while len(table) > MAX_PENDING_SPEECH:
                table.pop(next(iter(table)))

    def _act(self, seg: Segment) -> None:
        mixer = self.engine.mixer
        if seg.emotion is not None and (seg.emotion, seg.intensity) != (mixer.emotion.label, mixer.emotion.intensity):
            mixer.set_emotion(seg.emotion, seg.intensity)
        for g in seg.gestures:
            mixer.gesture(g)

    def _on_engine_event(self, event: Any) -> None:
        """Speech events (engine thread): a sentence's tags act when it starts, trailing tags at the end."""
        if not isinstance(event, SpeechEvent):
            return
        with self._lock:
            if event.kind == "start":
                seg = self._on_start.pop(event.speech_id, None)
                if seg is None:
                    self._started[event.speech_id] = True
                    while len(self._started) > MAX_PENDING_SPEECH:
                        self._started.pop(next(iter(self._started)))
            else:
                self._on_start.pop(event.speech_id, None)
                seg = self._on_end.pop(event.speech_id, None)
                if event.interrupted:
                    seg = None
        if seg is not None:
            self._act(seg)


def command_from_object(obj: Any, *, allowed: tuple[str, ...] = OBS_COMMANDS) -> m.Parsed:
    """A command from outside the websocket (an OBS custom event, a hotkey's stored action),
    checked by the same parser: {"type": "gesture", "name": "nod"} -> Parsed, or ProtocolError."""
    return m.parse_object(obj, allowed=allowed)
