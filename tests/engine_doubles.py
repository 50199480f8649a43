"""Test doubles for the live engine: fakes that implement the real stage interfaces, driven by data.

Used only where a real part cannot show the behaviour under test (a sink that is slow or breaks
on purpose); the real renderer, feature extractor and envelope generator are used everywhere else.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from marionette.tools.bench.pipeline import MouthMeter  # noqa: F401  (re-exported: tests and bench read mouths alike)
from marionette.core.types import AudioChunk, VideoFrame


class RecordingFrameSink:
    """Keeps every frame's (index, t) and, optionally, the images."""

    def __init__(self, name: str = "recording", keep_images: bool = False) -> None:
        self.name = name
        self.keep_images = keep_images
        self.frames: list[tuple[int, float]] = []
        self.images: list[np.ndarray] = []
        self.audio: list[AudioChunk] = []
        self.closed = False

    def send(self, frame: VideoFrame) -> None:
        self.frames.append((frame.index, frame.t))
        if self.keep_images:
            self.images.append(frame.image)

    def send_audio(self, chunk: AudioChunk) -> None:
        self.audio.append(chunk)

    def close(self) -> None:
        self.closed = True


class SlowSink(RecordingFrameSink):
    """Takes ``delay`` seconds of real time per frame (a stalled client, a slow disk)."""

    def __init__(self, delay: float, name: str = "slow") -> None:
        super().__init__(name)
        self.delay = delay

    def send(self, frame: VideoFrame) -> None:
        time.sleep(self.delay)
        super().send(frame)


class FlakySink(RecordingFrameSink):
    """Raises on frames whose index is in ``bad`` (a broken pipe that heals)."""

    def __init__(self, bad: range, name: str = "flaky") -> None:
        super().__init__(name)
        self.bad = bad

    def send(self, frame: VideoFrame) -> None:
        if frame.index in self.bad:
            raise BrokenPipeError("client went away")
        super().send(frame)


class ScriptedSource:
    """An AudioSource that yields given chunks at given clock times (t of each chunk)."""

    name = "scripted"

    def __init__(self, clock, chunks: list[AudioChunk], *, fail_between: tuple[float, float] | None = None) -> None:
        self.clock = clock
        self.chunks = sorted(chunks, key=lambda c: c.t)
        self.fail_between = fail_between
        self._lock = threading.Lock()

    def read(self) -> AudioChunk | None:
        now = self.clock.now()
        if self.fail_between and self.fail_between[0] <= now < self.fail_between[1]:
            raise OSError("device vanished")
        with self._lock:
            if self.chunks and self.chunks[0].t + self.chunks[0].duration <= now:
                return self.chunks.pop(0)
        return None

    def close(self) -> None:
        pass


def tone_bursts(rate: int, total: float, bursts: list[tuple[float, float]], chunk: float = 0.02,
                freq: float = 180.0, amp: float = 0.5) -> list[AudioChunk]:
    """Chunks of silence with voiced bursts (start, end) in seconds; chunk t = start time."""
    n = int(total * rate)
    t = np.arange(n) / rate
    x = np.zeros(n, np.float32)
    for a, b in bursts:
        m = (t >= a) & (t < b)
        # A harmonic-rich buzz, like a voice: loud enough for any envelope follower.
        x[m] = amp * np.sign(np.sin(2 * np.pi * freq * t[m])) * 0.6 + amp * 0.4 * np.sin(2 * np.pi * 2 * freq * t[m])
    step = int(chunk * rate)
    return [AudioChunk(x[i:i + step].copy(), rate, i / rate) for i in range(0, n, step)]


