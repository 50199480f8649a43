"""The interfaces between pipeline stages (ARCHITECTURE.md, STYLE.md 2 and 4).

Each stage is small, one-directional and resettable; implementations live in their own modules
and are chosen by name from a registry. Only types from core.types cross these boundaries.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from .types import AudioChunk, AudioFeatures, MotionFrame, Phoneme, VideoFrame


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
    segment and returns the rest; reset() forgets everything (interrupt). Generators that can
    use a transcript (the teacher) accept phoneme timings through set_phonemes(); others ignore it.
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
