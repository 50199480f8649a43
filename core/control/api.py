"""The small typed interface between the control channel and the engine (no websocket here).

Protocol servers (websocket, MCP, VMC) hold an ``EngineControl`` and nothing else: they write
controls into its ``mixer`` and queue speech or audio; the engine reports back through events.
Tests drive the server against a fake that implements this Protocol; the live engine implements
it for real. Every method must return at once (queue, never synthesize or render inline).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal, Protocol, runtime_checkable

from ..types import AudioChunk, Emotion, MotionFrame
from .mixer import ControlMixer


@dataclass(frozen=True)
class SpeechEvent:
    """Speech started or ended. speech_id: from say() (or "push-N" for pushed audio segments).
    t: engine clock time of the first/last frame that shows it. interrupted: ended by interrupt()."""

    kind: Literal["start", "end"]
    speech_id: str
    text: str = ""
    t: float = 0.0
    interrupted: bool = False


@dataclass(frozen=True)
class MotionEvent:
    """The controlled motion of one emitted frame (what the renderer drew)."""

    frame: MotionFrame


# What subscribe() callbacks receive: SpeechEvent, MotionEvent, or the engine's own status and
# stats dataclasses (core.engine.stats.StatusEvent: component/message/level; EngineStats: fps/...).
EngineEvent = Any


@runtime_checkable
class EngineControl(Protocol):
    mixer: ControlMixer

    def say(self, text: str, *, emotion: Emotion | None = None, voice: str | None = None,
            owner: str | None = None) -> str:
        """Queue text to speak (after what is already queued); returns its speech id. owner: who
        queued it (a connection); limits on queued speech count per owner, and a refusal raises
        core.speech.SpeechQueueFull with nothing queued."""
        ...

    def push_audio(self, chunk: AudioChunk) -> None:
        """Queue client audio (any sample rate) to speak with lips in sync."""
        ...

    def end_segment(self) -> None:
        """The pushed audio so far is one complete utterance (flush the generator)."""
        ...

    def interrupt(self) -> None:
        """Stop speaking now: clear queued text, buffered audio and generated motion."""
        ...

    def subscribe(self, callback: Callable[[EngineEvent], None]) -> Callable[[], None]:
        """Call ``callback`` (from any thread) with every event; returns the unsubscribe function."""
        ...

    def status(self) -> dict:
        """JSON-ready state of the engine for get_state: speaking, queue, fps, voices..."""
        ...


@runtime_checkable
class BackgroundControl(Protocol):
    """An optional ability of an engine: switching the background behind the person live
    (core/render/background.py). The command layer checks for it once, at construction."""

    def set_background(self, spec: str) -> str:
        """Switch to ``spec`` ('keep', 'blur', 'green', 'transparent', 'color:#RRGGBB'); returns
        the mode as applied. Raises core.errors.InputError for a spec it cannot use."""
        ...


@runtime_checkable
class DriveControl(Protocol):
    """An optional ability of an engine: choosing who drives the face live when a camera is
    attached (core/tracking/drive.py: camera, camera+audio, camera+controls)."""

    def set_drive(self, mode: str) -> str:
        """Switch the drive mode; returns it as applied. Raises core.errors.InputError for an
        unknown mode or when no camera is attached."""
        ...
