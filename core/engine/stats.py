"""Live statistics and status events of the frame loop, as typed values.

Rolling windows of fixed length keep memory flat over hours; the trade-off is that percentiles
describe the last few seconds, not the whole run (benchmarks keep their own full lists).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

import numpy as np

Level = Literal["info", "warning", "error", "recovered"]


@dataclass(frozen=True)
class StatusEvent:
    """Something a person should see: a sink failing, a microphone gone, a device back.

    component: e.g. "source:microphone", "sink:mjpeg". retrying: the engine keeps trying on its own.
    t: seconds on the engine clock."""

    component: str
    message: str
    level: Level = "error"
    retrying: bool = False
    t: float = 0.0

    def __str__(self) -> str:
        tail = " (retrying)" if self.retrying else ""
        return f"[{self.level}] {self.component}: {self.message}{tail}"


@dataclass(frozen=True)
class StageTiming:
    """Compute cost of one stage over the recent window, in milliseconds."""

    name: str
    mean_ms: float
    p95_ms: float
    max_ms: float


@dataclass(frozen=True)
class SinkStats:
    """Frames a sink took, frames it dropped because it was busy, and its errors."""

    name: str
    sent: int
    dropped: int
    errors: int
    failing: bool


@dataclass(frozen=True)
class EngineStats:
    """A snapshot of the frame loop.

    fps: frames emitted per second over the recent window (clock time). late_ticks: ticks skipped
    because a step overran its slot. latency_*_ms: audio captured (or released, for audio we play)
    to the frame that shows it leaving the renderer; None until speech motion has been shown."""

    t: float
    frames: int
    target_fps: float
    fps: float
    late_ticks: int
    stages: tuple[StageTiming, ...]
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    audio_seconds: float
    sinks: tuple[SinkStats, ...]
    av_delay_ms: float = 0.0  # how long every sound output holds audio back: the picture's latency

    def stage(self, name: str) -> StageTiming | None:
        return next((s for s in self.stages if s.name == name), None)

    def summary(self) -> str:
        lat = "-" if self.latency_p50_ms is None else f"{self.latency_p50_ms:.0f}/{self.latency_p95_ms:.0f} ms"
        stages = " ".join(f"{s.name} {s.mean_ms:.1f}" for s in self.stages)
        drops = ", ".join(f"{s.name} {s.dropped}" for s in self.sinks if s.dropped)
        return (f"{self.fps:.1f}/{self.target_fps:g} fps, frames {self.frames}, late {self.late_ticks}, "
                f"latency p50/p95 {lat}, A/V delay {self.av_delay_ms:.0f} ms, ms: {stages}" + (f", drops: {drops}" if drops else ""))


class Rolling:
    """A fixed-length window of floats."""

    def __init__(self, n: int = 300) -> None:
        self._d: deque[float] = deque(maxlen=n)

    def add(self, x: float) -> None:
        self._d.append(float(x))

    def __len__(self) -> int:
        return len(self._d)

    def values(self) -> np.ndarray:
        return np.fromiter(self._d, np.float64, len(self._d))

    def percentile(self, q: float) -> float | None:
        return float(np.percentile(self.values(), q)) if self._d else None

    def timing(self, name: str) -> StageTiming:
        v = self.values()
        if v.size == 0:
            return StageTiming(name, 0.0, 0.0, 0.0)
        return StageTiming(name, float(v.mean()) * 1e3, float(np.percentile(v, 95)) * 1e3, float(v.max()) * 1e3)
