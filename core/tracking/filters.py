"""The One-Euro filter (Casiez, Roussel, Vogel: "1 Euro Filter", CHI 2012), vectorised over channels.

A low-pass whose cutoff rises with the signal's speed: a still face is smoothed hard (landmark
jitter of a pixel would otherwise make the avatar shimmer), a fast move passes with little lag.
Trade-off: min_cutoff and beta are per channel group, tuned on our own renders, not per user.
"""

from __future__ import annotations

import math

import numpy as np


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray:
    # Eq. 4 of the paper: alpha = 1 / (1 + tau / Te), tau = 1 / (2 pi fc).
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff, np.float64))
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Filters a float vector sampled at irregular times. min_cutoff (Hz) and beta (1 / unit) may
    be scalars or one value per element; d_cutoff (Hz) smooths the speed estimate."""

    def __init__(self, min_cutoff: np.ndarray | float = 1.0, beta: np.ndarray | float = 0.0,
                 d_cutoff: float = 1.0) -> None:
        self.min_cutoff = np.asarray(min_cutoff, np.float64)
        self.beta = np.asarray(beta, np.float64)
        self.d_cutoff = float(d_cutoff)
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    def reset(self) -> None:
        self._x = self._dx = self._t = None

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        x = np.asarray(x, np.float64)
        if self._x is None or self._t is None or t <= self._t:
            # First sample, or time did not advance (a repeated frame): nothing to filter against.
            if self._x is None or self._t is None:
                self._x, self._dx, self._t = x.copy(), np.zeros_like(x), t
            return self._x.copy()
        dt = t - self._t
        dx = (x - self._x) / dt
        self._dx = self._dx + _alpha(self.d_cutoff, dt) * (dx - self._dx)  # Eq. 5, speed low-passed
        cutoff = self.min_cutoff + self.beta * np.abs(self._dx)  # Eq. 6: faster -> less smoothing
        self._x = self._x + _alpha(cutoff, dt) * (x - self._x)
        self._t = t
        return self._x.copy()
