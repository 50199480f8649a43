"""Motion capture to a file: the camera's tracked motion as a motion track (core/track.py formats).

Frames arrive at the camera's own, irregular times; the track is resampled onto a fixed grid of
``fps`` from the first tracked frame (linear between frames; a gap without a face holds the
neutral face, as the avatar shows idle life then). Frames are kept in memory until close (58
floats each: about 25 MB an hour at 30 fps) and refused past MAX_SECONDS, so memory is bounded.
Trade-off: a track, not a live stream; VMC and websocket motion events are the live outputs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError
from ..track import MotionTrack
from ..types import N_CHANNELS, NEUTRAL_VECTOR, MotionFrame

MAX_SECONDS = 4 * 3600.0


class TrackRecorder:
    """add(frame or None, t) per tracked camera frame; save() writes .json or .csv."""

    def __init__(self, path: str | Path, fps: float = 30.0) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() not in (".json", ".csv"):
            raise InputError(f"motion capture file {self.path}: expected a .json or .csv file name")
        if not fps > 0:
            raise InputError(f"motion capture fps {fps}, expected a positive number")
        self.fps = float(fps)
        self._t: list[float] = []
        self._v: list[np.ndarray] = []
        self.dropped = 0

    def add(self, motion: MotionFrame | None, t: float) -> None:
        """motion None: no face at clock time t (written as the neutral face)."""
        if self._t and t - self._t[0] > MAX_SECONDS:
            self.dropped += 1
            return
        if self._t and t <= self._t[-1]:
            return  # the same camera frame twice
        self._t.append(float(t))
        self._v.append(NEUTRAL_VECTOR.copy() if motion is None else motion.to_vector())

    def __len__(self) -> int:
        return len(self._t)

    def track(self) -> MotionTrack:
        if len(self._t) < 2:
            return MotionTrack(self.fps, np.asarray(self._v, np.float32).reshape(-1, N_CHANNELS))
        t = np.asarray(self._t) - self._t[0]
        v = np.stack(self._v)
        grid = np.arange(0.0, t[-1] + 1e-9, 1.0 / self.fps)
        out = np.stack([np.interp(grid, t, v[:, c]) for c in range(N_CHANNELS)], axis=1)
        return MotionTrack(self.fps, out.astype(np.float32))

    def save(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.track().save(self.path)
        return self.path
