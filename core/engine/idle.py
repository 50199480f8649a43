"""Idle life: blinks, saccades, breathing and a slow sway, so the avatar never freezes.

A pure function of time plus a seeded event schedule drawn lazily as time moves on, so the same
seed gives the same life (tests, recordings). Trade-off: motion is additive on top of whatever the
generator says, with no knowledge of speech content, so it is kept small while speaking.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..motion_space import CHANNEL_INDEX
from ..types import MOTION_HIGH, MOTION_LOW, MotionFrame


@dataclass(frozen=True, kw_only=True)
class IdleConfig:
    """Amplitudes in degrees (pose), face widths (ty) or blendshape units; periods in seconds."""

    blink_interval: tuple[float, float] = (2.0, 6.0)  # uniform range between blinks
    blink_duration: float = 0.2
    double_blink_chance: float = 0.12
    saccade_interval: tuple[float, float] = (0.8, 3.0)
    gaze_amplitude: float = 0.18  # eyeLook* units
    breath_period: float = 4.2
    breath_pitch: float = 0.5
    breath_ty: float = 0.003
    sway_yaw: float = 1.6
    sway_pitch: float = 0.8
    sway_roll: float = 1.0
    speaking_sway: float = 0.5  # sway scale while the generator reports speech


_BLINK = (CHANNEL_INDEX["eyeBlinkLeft"], CHANNEL_INDEX["eyeBlinkRight"])
_LOOK = {name: CHANNEL_INDEX[name] for name in (
    "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft", "eyeLookDownLeft",
    "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight", "eyeLookDownRight")}
_PITCH, _YAW, _ROLL, _TY = (CHANNEL_INDEX[c] for c in ("pitch", "yaw", "roll", "ty"))


def _blink_shape(u: float) -> float:
    # Lids close in the first third and open more slowly, as real blinks do.
    if u <= 0.0 or u >= 1.0:
        return 0.0
    if u < 0.33:
        v = u / 0.33
        return v * v * (3 - 2 * v)
    v = (u - 0.33) / 0.67
    return 1.0 - v * v * (3 - 2 * v)


class IdleLife:
    """Adds life to a MotionFrame at time t. t must not go backwards by more than the schedule
    already drawn; clear() is not needed on interrupt (life is not buffered content)."""

    def __init__(self, config: IdleConfig | None = None, *, seed: int = 0) -> None:
        self.config = config or IdleConfig()
        self._rng = np.random.default_rng(seed)
        self._blinks: list[float] = []  # start times, ascending
        self._blink_horizon = 0.0
        self._gaze: list[tuple[float, float, float]] = [(-1e9, 0.0, 0.0)]  # (t, gx, gy) targets
        self._phases = self._rng.uniform(0, 2 * math.pi, size=6)
        self._t_origin: float | None = None

    # --- schedules --------------------------------------------------------------------
    def _extend(self, t: float) -> None:
        c = self.config
        if self._t_origin is None:
            self._t_origin = t
            self._blink_horizon = t + float(self._rng.uniform(0.5, c.blink_interval[1]))
            self._gaze = [(t - 1e-3, 0.0, 0.0)]
        while self._blink_horizon <= t + 1.0:
            start = self._blink_horizon
            self._blinks.append(start)
            if self._rng.random() < c.double_blink_chance:
                self._blinks.append(start + c.blink_duration * 1.3)
            self._blink_horizon = start + float(self._rng.uniform(*c.blink_interval))
        while self._gaze[-1][0] <= t + 1.0:
            t_last = self._gaze[-1][0]
            nxt = t_last + float(self._rng.uniform(*c.saccade_interval))
            if self._rng.random() < 0.4:  # often glance back to the camera
                gx = gy = 0.0
            else:
                gx = float(self._rng.uniform(-1, 1)) * c.gaze_amplitude
                gy = float(self._rng.uniform(-0.6, 0.6)) * c.gaze_amplitude
            self._gaze.append((nxt, gx, gy))
        # Forget what lies well behind us so a long run keeps flat memory.
        cut = t - 5.0
        while len(self._blinks) > 1 and self._blinks[0] < cut:
            self._blinks.pop(0)
        while len(self._gaze) > 2 and self._gaze[1][0] < cut:
            self._gaze.pop(0)

    def blink_at(self, t: float) -> float:
        d = self.config.blink_duration
        return max((_blink_shape((t - s) / d) for s in self._blinks if s <= t < s + d), default=0.0)

    def gaze_at(self, t: float) -> tuple[float, float]:
        prev = self._gaze[0]
        for g in self._gaze:
            if g[0] > t:
                break
            prev = g
        # Saccades are fast (about 40 ms): a short smoothstep from the previous target.
        i = self._gaze.index(prev)
        before = self._gaze[i - 1] if i > 0 else prev
        u = min(1.0, max(0.0, (t - prev[0]) / 0.04))
        s = u * u * (3 - 2 * u)
        return before[1] + (prev[1] - before[1]) * s, before[2] + (prev[2] - before[2]) * s

    # --- the frame ---------------------------------------------------------------------
    def offsets(self, t: float, *, speaking: bool = False) -> np.ndarray:
        """float32 (58,) additive offsets at time t (blink is returned as an additive 0..1)."""
        self._extend(t)
        c = self.config
        out = np.zeros(len(MOTION_LOW), np.float32)
        tt = t - (self._t_origin or 0.0)
        ph = self._phases
        breath = math.sin(2 * math.pi * tt / c.breath_period + ph[0])
        sway = c.speaking_sway if speaking else 1.0
        # Incommensurate slow sines: never repeating, never still.
        out[_YAW] = sway * c.sway_yaw * (0.7 * math.sin(2 * math.pi * tt / 9.3 + ph[1]) + 0.3 * math.sin(2 * math.pi * tt / 3.7 + ph[2]))
        out[_ROLL] = sway * c.sway_roll * (0.7 * math.sin(2 * math.pi * tt / 11.1 + ph[3]) + 0.3 * math.sin(2 * math.pi * tt / 4.3 + ph[4]))
        out[_PITCH] = c.breath_pitch * breath + sway * c.sway_pitch * math.sin(2 * math.pi * tt / 7.7 + ph[5])
        out[_TY] = c.breath_ty * breath
        b = self.blink_at(t)
        out[_BLINK[0]] = out[_BLINK[1]] = b
        gx, gy = self.gaze_at(t)  # gx + = toward the subject's left, gy + = up
        if gx > 0:
            out[_LOOK["eyeLookInRight"]] = out[_LOOK["eyeLookOutLeft"]] = gx
        else:
            out[_LOOK["eyeLookOutRight"]] = out[_LOOK["eyeLookInLeft"]] = -gx
        if gy > 0:
            out[_LOOK["eyeLookUpRight"]] = out[_LOOK["eyeLookUpLeft"]] = gy
        else:
            out[_LOOK["eyeLookDownRight"]] = out[_LOOK["eyeLookDownLeft"]] = -gy
        return out

    def apply(self, frame: MotionFrame, t: float, *, speaking: bool = False) -> MotionFrame:
        vec = frame.to_vector() + self.offsets(t, speaking=speaking)
        np.clip(vec, MOTION_LOW, MOTION_HIGH, out=vec)
        return MotionFrame.from_vector(vec, t=t)
