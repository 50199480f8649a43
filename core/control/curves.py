"""Smooth ramps for controls: every change of a control is a smoothstep from where it is now.

Vectorised over all 58 channels so the mixer's per-frame cost stays a few numpy calls; the
trade-off is that each channel carries one ramp per layer (a new command retargets it from its
current value rather than queueing behind the old one).
"""

from __future__ import annotations

import math

import numpy as np


def smoothstep(u: np.ndarray | float) -> np.ndarray | float:
    """3u^2 - 2u^3 on [0, 1]: zero slope at both ends, so nothing jumps when a ramp starts or ends."""
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


class Ramps:
    """n independent scalars, each moving from a0 to a1 over [t0, t0 + dur] (smoothstep)."""

    def __init__(self, n: int, value: float | np.ndarray = 0.0) -> None:
        self.a0 = np.full(n, value, np.float64) if np.isscalar(value) else np.array(value, np.float64)
        self.a1 = self.a0.copy()
        self.t0 = np.zeros(n, np.float64)
        self.dur = np.zeros(n, np.float64)
        # Most frames no ramp is moving: then the value is a1 and at() costs nothing.
        self.busy_until = -math.inf
        self._zero = not self.a1.any()

    def idle_zero(self, t: float) -> bool:
        """True when every ramp has finished at zero (the layer contributes nothing at t)."""
        return self._zero and t >= self.busy_until

    def at(self, t: float) -> np.ndarray:
        """Values at t (read-only: may be the internal target array)."""
        if t >= self.busy_until:
            return self.a1
        # dur == 0 means "jump at t0": u is 1 from t0 on.
        u = np.where(self.dur > 0, (t - self.t0) / np.maximum(self.dur, 1e-9), np.where(t >= self.t0, 1.0, 0.0))
        return self.a0 + (self.a1 - self.a0) * smoothstep(u)

    def retarget(self, mask: np.ndarray, target: np.ndarray | float, t: np.ndarray | float, dur: np.ndarray | float) -> None:
        """Start ramps on ``mask`` from their value at ``t`` towards ``target`` (t and dur scalar or per channel)."""
        if not np.any(mask):
            return
        t_arr = np.broadcast_to(np.asarray(t, np.float64), self.a0.shape)
        idx = np.flatnonzero(mask)
        # Value of each masked ramp at its own start time (t differs per channel for hold releases).
        ti, t0, d = t_arr[idx], self.t0[idx], self.dur[idx]
        u = np.where(d > 0, (ti - t0) / np.maximum(d, 1e-9), np.where(ti >= t0, 1.0, 0.0))
        cur = self.a0[idx] + (self.a1[idx] - self.a0[idx]) * smoothstep(u)
        self.a0[idx] = cur
        self.a1[idx] = np.broadcast_to(np.asarray(target, np.float64), self.a0.shape)[idx]
        self.t0[idx] = t_arr[idx]
        self.dur[idx] = np.broadcast_to(np.asarray(dur, np.float64), self.a0.shape)[idx]
        self.busy_until = max(self.busy_until, float(np.max(self.t0[idx] + self.dur[idx])))
        self._zero = not self.a1.any()

    def value(self, i: int, t: float) -> float:
        """One ramp's value at t (pure Python: cheaper than numpy for a handful of channels)."""
        a0, a1, t0, d = float(self.a0[i]), float(self.a1[i]), float(self.t0[i]), float(self.dur[i])
        if d > 0:
            u = min(max((t - t0) / d, 0.0), 1.0)
        else:
            u = 1.0 if t >= t0 else 0.0
        return a0 + (a1 - a0) * u * u * (3.0 - 2.0 * u)

    def retarget_one(self, i: int, target: float, t: float, dur: float, *, jump: bool = False) -> None:
        """Start ramp i from its value at t towards target (jump: start at target, no ramp)."""
        self.a0[i] = target if jump else self.value(i, t)
        self.a1[i] = target
        self.t0[i] = t
        self.dur[i] = 0.0 if jump else dur
        self.busy_until = max(self.busy_until, t + float(self.dur[i]))
        if target != 0.0:
            self._zero = False
        elif not self._zero:
            self._zero = not self.a1.any()

    def targets(self) -> np.ndarray:
        return self.a1.copy()

    def settle(self, value: float) -> None:
        """Jump everything to ``value`` now (a hard reset)."""
        self.a0[:] = value
        self.a1[:] = value
        self.dur[:] = 0.0
        self.busy_until = -math.inf
        self._zero = value == 0.0
