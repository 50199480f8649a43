"""Idle life that every generator adds: blinks, head sway and small gaze shifts, seeded.

Everything is a pure function of time given the seed (blink and saccade schedules are drawn in
order from their own generators; sway is a sum of slow sinusoids), so a frame computed while
streaming equals the same frame computed offline. Trade-off: sinusoid sway is less rich than
filtered noise but needs no state.

Blinks: inter-blink intervals follow a gamma distribution (shape 2.5; mean 3.5 s, in line with
the 15-20 blinks per minute measured in conversation), with a 0.4 s refractory minimum; each blink
closes in about 70 ms, holds 30 ms and reopens in about 130 ms (closing is faster than opening).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..motion_space import CHANNEL_INDEX
from ..types import N_CHANNELS

BLINK_CLOSE, BLINK_HOLD, BLINK_OPEN = 0.07, 0.03, 0.13
_SEED_BLINK, _SEED_SWAY, _SEED_GAZE = 101, 202, 303


@dataclass(frozen=True, kw_only=True)
class LifeConfig:
    blink_mean: float = 3.5  # s between blink onsets
    blink_shape: float = 2.5  # gamma shape: 1 = memoryless, larger = more regular
    blink_min: float = 0.4
    sway_deg: tuple[float, float, float] = (1.2, 2.0, 1.0)  # pitch, yaw, roll amplitude (degrees, 1 sigma)
    gaze_mean: float = 1.8  # s between gaze shifts
    gaze_range: float = 0.12  # eyeLook* amplitude of a gaze shift


class Schedule:
    """Event onsets drawn in order from a seeded gamma renewal process, extended on demand."""

    def __init__(self, seed: int, mean: float, shape: float, minimum: float, first: float = 0.0) -> None:
        self._rng = np.random.default_rng(seed)
        self._mean, self._shape, self._min = mean, shape, minimum
        self.onsets: list[float] = []
        self._next = first + self._draw() * 0.5

    def _draw(self) -> float:
        scale = max(self._mean - self._min, 1e-3) / self._shape
        return self._min + float(self._rng.gamma(self._shape, scale))

    def until(self, t: float) -> np.ndarray:
        while self._next <= t:
            self.onsets.append(self._next)
            self._next += self._draw()
        return np.asarray(self.onsets, np.float64)


class Life:
    """Blink, sway and gaze channels for any frame times, identical however they are requested."""

    def __init__(self, seed: int = 0, config: LifeConfig = LifeConfig(), blink_rate: float = 1.0) -> None:
        self.config = config
        self._blinks = Schedule(seed * 7919 + _SEED_BLINK, config.blink_mean / max(blink_rate, 1e-3),
                                config.blink_shape, config.blink_min)
        self._gaze = Schedule(seed * 7919 + _SEED_GAZE, config.gaze_mean, 2.0, 0.3)
        rng = np.random.default_rng(seed * 7919 + _SEED_SWAY)
        # Three slow sinusoids per axis (pitch, yaw, roll); variance of a sum of sines is sum(a^2)/2.
        self._freq = rng.uniform(0.04, 0.35, (3, 3))
        self._phase = rng.uniform(0, 2 * np.pi, (3, 3))
        amp = rng.uniform(0.5, 1.0, (3, 3))
        self._amp = amp / np.sqrt((amp ** 2).sum(axis=1, keepdims=True) / 2) * np.asarray(config.sway_deg)[:, None]
        grng = np.random.default_rng(seed * 7919 + _SEED_GAZE + 1)
        self._gaze_rng = grng
        self._gaze_targets: list[tuple[float, float]] = []
        self._blink_depth_rng = np.random.default_rng(seed * 7919 + _SEED_BLINK + 1)
        self._blink_depths: list[float] = []

    def blinks(self, times: np.ndarray) -> np.ndarray:
        """eyeBlink value (T,) in 0..1."""
        times = np.asarray(times, np.float64)
        onsets = self._blinks.until(float(times.max(initial=0.0)) + 1.0)
        while len(self._blink_depths) < onsets.size:
            self._blink_depths.append(float(self._blink_depth_rng.uniform(0.9, 1.0)))
        out = np.zeros(times.size, np.float64)
        if onsets.size == 0:
            return out
        k = np.searchsorted(onsets, times, side="right") - 1
        valid = k >= 0
        dt = np.where(valid, times - onsets[np.maximum(k, 0)], 1e9)
        depth = np.asarray(self._blink_depths)[np.maximum(k, 0)]
        closing = (dt >= 0) & (dt < BLINK_CLOSE)
        holding = (dt >= BLINK_CLOSE) & (dt < BLINK_CLOSE + BLINK_HOLD)
        opening = (dt >= BLINK_CLOSE + BLINK_HOLD) & (dt < BLINK_CLOSE + BLINK_HOLD + BLINK_OPEN)
        out[closing] = np.sin(0.5 * np.pi * dt[closing] / BLINK_CLOSE) ** 2
        out[holding] = 1.0
        u = (dt[opening] - BLINK_CLOSE - BLINK_HOLD) / BLINK_OPEN
        out[opening] = (1 - u) ** 2 * (1 + 2 * u)  # smooth, slower start of reopening
        return out * depth

    def blink_onsets(self, until: float) -> np.ndarray:
        return self._blinks.until(until)

    def sway(self, times: np.ndarray) -> np.ndarray:
        """(T, 3) pitch, yaw, roll in degrees."""
        t = np.asarray(times, np.float64)[:, None, None]
        return (self._amp * np.sin(2 * np.pi * self._freq * t + self._phase)).sum(axis=2)

    def gaze(self, times: np.ndarray) -> np.ndarray:
        """(T, 2) horizontal (+ = subject's left) and vertical (+ = up) gaze offset, eyeLook units."""
        times = np.asarray(times, np.float64)
        onsets = self._gaze.until(float(times.max(initial=0.0)) + 1.0)
        r = self.config.gaze_range
        while len(self._gaze_targets) < onsets.size:
            self._gaze_targets.append(tuple(self._gaze_rng.uniform(-r, r, 2) * (1.0, 0.6)))
        if onsets.size == 0:
            return np.zeros((times.size, 2))
        targets = np.asarray([(0.0, 0.0)] + self._gaze_targets)
        k = np.searchsorted(onsets, times, side="right")  # 0 = before the first shift
        prev = targets[np.maximum(k - 1, 0)]
        cur = targets[k]
        dt = np.where(k > 0, times - onsets[np.maximum(k - 1, 0)], 1e9)
        a = np.clip(dt / 0.05, 0, 1)[:, None]  # a saccade takes about 50 ms
        return prev + (cur - prev) * (a * a * (3 - 2 * a))

    def frame_values(self, times: np.ndarray, sway_gain: np.ndarray | float = 1.0) -> np.ndarray:
        """(T, 58) additive idle life (pose in degrees, blink and gaze blendshapes)."""
        times = np.asarray(times, np.float64)
        out = np.zeros((times.size, N_CHANNELS), np.float32)
        b = self.blinks(times)
        out[:, CHANNEL_INDEX["eyeBlinkLeft"]] = b
        out[:, CHANNEL_INDEX["eyeBlinkRight"]] = b
        sw = self.sway(times) * np.asarray(sway_gain, np.float64).reshape(-1, 1)
        out[:, CHANNEL_INDEX["pitch"]] = sw[:, 0]
        out[:, CHANNEL_INDEX["yaw"]] = sw[:, 1]
        out[:, CHANNEL_INDEX["roll"]] = sw[:, 2]
        g = self.gaze(times)
        h, v = g[:, 0], g[:, 1]
        # Looking to the subject's left: left eye looks out, right eye looks in.
        out[:, CHANNEL_INDEX["eyeLookOutLeft"]] = np.maximum(h, 0)
        out[:, CHANNEL_INDEX["eyeLookInRight"]] = np.maximum(h, 0)
        out[:, CHANNEL_INDEX["eyeLookInLeft"]] = np.maximum(-h, 0)
        out[:, CHANNEL_INDEX["eyeLookOutRight"]] = np.maximum(-h, 0)
        for side in ("Left", "Right"):
            out[:, CHANNEL_INDEX[f"eyeLookUp{side}"]] = np.maximum(v, 0)
            out[:, CHANNEL_INDEX[f"eyeLookDown{side}"]] = np.maximum(-v, 0)
        return out
