"""The interfaces between pipeline stages, and the optional abilities a stage may declare.

Each stage is small, one-directional and resettable; implementations live in their own modules
and are chosen by name from a registry. Only types from core.types cross these boundaries.

Optional abilities are small Protocols below. The engine checks them once, with isinstance(),
when a stage is added (core/engine/loop.py, core/engine/fanout.py), never by probing attribute
names per tick, and never reads a stage's private state. Conditions only flow forward: a stage
never calls a stage upstream of it (docs/engine.md draws the flow).
"""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from .types import AudioChunk, AudioFeatures, Conditions, MotionFrame, Phoneme, SpeechMark, TimedPhonemes, VideoFrame


@runtime_checkable
class FeatureExtractor(Protocol):
    """AudioChunk (any rate) -> AudioFeatures at 100 Hz; chunked output equals whole-file output."""

    def push(self, chunk: AudioChunk) -> AudioFeatures: ...
    def flush(self) -> AudioFeatures: ...
    def reset(self) -> None: ...


@runtime_checkable
class MotionGenerator(Protocol):
    """AudioFeatures -> MotionFrames at ``fps``, streaming, with at most ``lookahead`` seconds of delay.

    push() returns the frames that the audio so far allows (possibly none); flush() ends a
    segment and returns the rest; reset() forgets everything (interrupt). set_phonemes() gives
    the phone timings of the next segment (offline, a transcript); audio-only generators ignore
    it. Live, the engine hands phones only to a PhoneDriven generator.
    """

    fps: float
    lookahead: float

    def push(self, features: AudioFeatures) -> list[MotionFrame]: ...
    def flush(self) -> list[MotionFrame]: ...
    def reset(self) -> None: ...
    def set_phonemes(self, phonemes: list[Phoneme]) -> None: ...


@runtime_checkable
class Renderer(Protocol):
    """MotionFrame -> uint8 (H, W, 3) RGB picture of the portrait. Deterministic: the same
    motion renders the same pixels. Channels it cannot show are listed, never silently ignored."""

    size: tuple[int, int]  # (width, height)
    supported_channels: tuple[str, ...]
    unsupported_channels: tuple[str, ...]

    def render(self, motion: MotionFrame) -> np.ndarray: ...


@runtime_checkable
class FrameSink(Protocol):
    """Where frames go (virtual camera, MJPEG, file, preview). A slow sink drops frames itself;
    send() must never block the frame loop for longer than a copy."""

    name: str

    def send(self, frame: VideoFrame) -> None: ...
    def close(self) -> None: ...


@runtime_checkable
class AudioSource(Protocol):
    """Where audio comes from (microphone, file, TTS, pushed). Chunks carry their own rate."""

    name: str

    def read(self) -> AudioChunk | None: ...
    def close(self) -> None: ...


# --------------------------------------------------------------------------- optional abilities
# Generators -------------------------------------------------------------------------------------
@runtime_checkable
class PhoneDriven(Protocol):
    """A generator that follows the phone timings of speech we synthesize (the teacher, the
    per-source generator). The engine then cuts its segments where each such utterance starts and
    ends and gives it the utterance's phones at the cut (core/engine/phones.py).

    segment_driver(): who moves the lips in the current segment ("teacher", "diffusion", ...;
    "" between segments), for the status line that says which audio moves the lips how."""

    def set_phonemes(self, phonemes: Sequence[Phoneme]) -> None: ...
    def segment_driver(self) -> str: ...


@runtime_checkable
class Conditioned(Protocol):
    """A generator that takes the controls' state as conditions: it shows the emotion itself
    (so the ControlMixer leaves its recipe out) and keeps held channels fixed while generating.
    The engine calls set_conditions() on its worker thread before generating, only on a change."""

    def set_conditions(self, conditions: Conditions) -> None: ...


# Controls ---------------------------------------------------------------------------------------
@runtime_checkable
class MotionMixer(Protocol):
    """Controls on top of generated motion (core.control.ControlMixer), once per frame."""

    def apply(self, frame: MotionFrame, t: float) -> MotionFrame: ...


@runtime_checkable
class ConditionSource(Protocol):
    """A MotionMixer whose state becomes the generator's Conditions (read by the frame loop, which
    hands them forward; the mixer never calls the generator)."""

    def conditions(self) -> Conditions: ...


# Sources ----------------------------------------------------------------------------------------
@runtime_checkable
class Reporting(Protocol):
    """A stage with threads of its own (a device supervisor) that reports StatusEvents itself.
    The engine gives it its report function when the stage is added."""

    def set_reporter(self, report) -> None: ...


@runtime_checkable
class Interruptible(Protocol):
    """A source that buffers audio not yet released: clear() drops it (interrupt, STYLE.md 3)."""

    def clear(self) -> None: ...


@runtime_checkable
class PlayedSource(Protocol):
    """Audio we play ourselves (text-to-speech, pushed PCM, files), as opposed to a microphone,
    whose sound the room already heard. Only this audio goes to a SpeakerSink. It says when its
    utterances start and end, and the phone timings of speech it synthesized, stamped with the
    clock time of release; the engine drains both after each read() and hands them forward."""

    def take_phonemes(self) -> list[TimedPhonemes]: ...
    def take_marks(self) -> list[SpeechMark]: ...


# Sinks ------------------------------------------------------------------------------------------
# A sink declares any of these (FrameSink above for pictures). Every chunk of audio a sink gets is
# stamped with the clock time at which it must be heard: the time of the picture that shows it
# (the engine's av_delay after it was captured or released), so sound and picture leave together.
@runtime_checkable
class SoundSink(Protocol):
    """Carries the whole sound (microphone and our speech mixed, 16 kHz): recording, virtual microphone."""

    name: str

    def send_audio(self, chunk: AudioChunk) -> None: ...
    def close(self) -> None: ...


@runtime_checkable
class SpeakerSink(Protocol):
    """Plays only the audio we play ourselves (PlayedSource): the room's speaker. Never the
    microphone, which the room already heard (and which would echo)."""

    name: str

    def send_played(self, chunk: AudioChunk) -> None: ...
    def close(self) -> None: ...


@runtime_checkable
class MotionSink(Protocol):
    """Takes the motion exactly as rendered, t = the frame's presentation time (--motion-out, VMC)."""

    name: str

    def send_motion(self, frame: MotionFrame) -> None: ...
    def close(self) -> None: ...


@runtime_checkable
class SpeechSink(Protocol):
    """Takes speech start/end marks on the frame that shows them (captions, agents' speech events)."""

    name: str

    def send_speech(self, mark: SpeechMark) -> None: ...
    def close(self) -> None: ...


SINK_ABILITIES = (FrameSink, SoundSink, SpeakerSink, MotionSink, SpeechSink)
