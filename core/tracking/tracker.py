"""Realtime face tracking: camera frame in, the user's MotionFrame out, on one core.

Per frame: the 468-point mesh on the crop the previous frame's landmarks imply (one pass; face
detection only when the track is lost), both irises, landmarks refined by optical flow from the
calibration frame (the mesh network alone reads half of a smile or a raised brow), then pose and
blendshapes solved against the user's neutral face (core.tracking.solver), head pose eased into
the renderer's range, and a One-Euro filter per channel. All of it is core.face's offline
analysis (detector, mesh, iris, flow, extraction) run with a video's budget.
Trade-off: the newest frame only; a frame that arrives while one is being tracked replaces the
one waiting (latency over completeness).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Mapping

import cv2
import numpy as np

from ..face.analyzer import FaceAnalyzer
from ..face.flow import REALTIME, flow_confidence, refine_with_flow
from ..face.landmarks import FaceLandmarks, NoFaceError
from ..motion_space import ALL_CHANNELS, POSE_CHANNELS
from ..types import N_CHANNELS, MotionFrame
from .calibration import NeutralCalibration, to_gray
from .filters import OneEuroFilter
from .solver import RealtimeSolver

# One-Euro settings per channel group (min cutoff Hz, beta per unit/s). Angles in degrees: a still
# head is smoothed below 1.2 Hz, a 30 deg/s turn passes at about 4 Hz. Blendshapes: a blink
# (about 8 units/s) passes at 10+ Hz, the jitter of a held expression is cut at 2 Hz.
FILTER = {"angle": (1.2, 0.1), "translation": (1.2, 4.0), "scale": (1.2, 4.0), "blendshape": (2.0, 1.0)}
# Head pose is eased into the renderer's range: linear up to this fraction of each limit, then
# bending smoothly towards the limit (a head turned past what a photo can show stays turned,
# without a hard stop that would stick).
SOFT_KNEE = 0.8
# Weight in the solve of a point optical flow tried to follow from the calibration frame and lost
# (core.face.flow.LOST_CONFIDENCE is 1/3 offline). Those are mostly inner-lip points over an
# opening mouth, where only the mesh network's guess is left and it under-reads the jaw: at 1/3
# it pulled a smile to 0.5 of itself and an open jaw into mouthRollLower (tools/camera_eval.py).
LOST_WEIGHT: float | None = 0.05
MAX_TRACK_SIDE = 640  # frames are shrunk to this longer side: the face networks see crops anyway


@dataclass(frozen=True, eq=False)
class TrackedFrame:
    """One camera frame read. motion: the filtered MotionFrame (t = capture time) or None when no
    face is seen; raw: the same before filtering and retargeting; landmarks: the refined points
    in the tracked picture's pixels; detected: detection ran this frame (track lost or first);
    track_ms / cpu_ms: wall and thread CPU time spent on this frame."""

    motion: MotionFrame | None
    raw: MotionFrame | None
    landmarks: FaceLandmarks | None
    detected: bool
    track_ms: float
    cpu_ms: float
    t: float


def working_size(width: int, height: int, max_side: int = MAX_TRACK_SIDE) -> tuple[int, int]:
    """The size frames are tracked at: the camera's, shrunk so the longer side is <= max_side."""
    k = min(1.0, max_side / max(width, height))
    return (max(1, round(width * k)), max(1, round(height * k)))


def prepare(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A camera frame (uint8 RGB) at the tracking size."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise TypeError(f"camera frame {image.dtype} {image.shape}, expected uint8 (H, W, 3) RGB")
    if (image.shape[1], image.shape[0]) == size:
        return image
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def soft_limit(value: float, lo: float, hi: float, knee: float = SOFT_KNEE) -> float:
    """value eased into [lo, hi]: unchanged inside knee * the limit, tanh-bent beyond it (slope 1 at
    the knee, asymptotic to the limit). lo < 0 < hi for angles and translations; scale is eased
    around 1 by the caller."""
    limit = hi if value >= 0 else -lo
    edge = knee * limit
    a = abs(value)
    if a <= edge:
        return value
    room = limit - edge
    return math.copysign(edge + room * math.tanh((a - edge) / room), value)


def retarget_pose(motion: MotionFrame, ranges: Mapping[str, tuple[float, float]]) -> MotionFrame:
    """Head pose eased into a renderer's pose range (e.g. PortraitRenderer.pose_range)."""
    vals = {}
    for name in POSE_CHANNELS:
        if name not in ranges:
            continue
        lo, hi = ranges[name]
        v = float(getattr(motion, name))
        if name == "scale":
            vals[name] = 1.0 + soft_limit(v - 1.0, lo - 1.0, hi - 1.0)
        else:
            vals[name] = soft_limit(v, lo, hi)
    return motion.replace(**vals)


def _filter_for_channels() -> OneEuroFilter:
    mins, betas = np.empty(N_CHANNELS), np.empty(N_CHANNELS)
    for i, name in enumerate(ALL_CHANNELS):
        group = ("angle" if name in ("pitch", "yaw", "roll") else "translation" if name in ("tx", "ty")
                 else "scale" if name == "scale" else "blendshape")
        mins[i], betas[i] = FILTER[group]
    return OneEuroFilter(mins, betas, d_cutoff=1.0)


class FaceTracker:
    """Tracks one face against one calibration. Not thread-safe: one tracker per capture thread."""

    def __init__(self, analyzer: FaceAnalyzer, calibration: NeutralCalibration, *,
                 pose_range: Mapping[str, tuple[float, float]] | None = None, smooth: bool = True) -> None:
        self.analyzer = analyzer
        self.calibration = calibration
        self.size = calibration.frame_size
        self.solver = RealtimeSolver(calibration.motion_reference())
        self.pose_range = dict(pose_range) if pose_range else None
        self._filter = _filter_for_channels() if smooth else None
        self._previous: FaceLandmarks | None = None
        self.frames = 0
        self.detections = 0
        self.lost_frames = 0

    def reset(self) -> None:
        """Forget the track (the next frame detects afresh) and the filter's state."""
        self._previous = None
        self.solver.reset()
        if self._filter is not None:
            self._filter.reset()

    def landmarks(self, image: np.ndarray) -> tuple[FaceLandmarks | None, bool]:
        """(landmarks, detected) of a frame at the tracking size: the previous frame's region
        first, detection only when that fails. None when no face is found."""
        detected = False
        lm = None
        if self._previous is not None:
            try:
                lm = self.analyzer.track(image, self._previous, refine=False)
            except NoFaceError:
                lm = None
        if lm is None:
            detected = True
            self.detections += 1
            try:
                lm = self.analyzer.analyze(image)
            except NoFaceError:
                lm = None
        return lm, detected

    def process(self, image: np.ndarray, t: float) -> TrackedFrame:
        """Track one camera frame (uint8 RGB, any size: shrunk to the calibration's) taken at
        clock time t."""
        w0, c0 = time.perf_counter(), time.thread_time()
        image = prepare(image, self.size)
        gray = to_gray(image)
        lm, detected = self.landmarks(image)
        self.frames += 1
        if lm is None:
            self.lost_frames += 1
            self.reset()
            return TrackedFrame(None, None, None, detected, (time.perf_counter() - w0) * 1e3,
                                (time.thread_time() - c0) * 1e3, t)
        if detected:
            self.solver.reset()  # a new track: solve from scratch, not from a stale frame
        self._previous = lm
        cal = self.calibration
        refined, tracked = refine_with_flow(cal.gray, cal.reference, gray, lm, lk=REALTIME)
        confidence = flow_confidence(tracked)
        if LOST_WEIGHT is not None:
            confidence = np.where(confidence < 1.0, LOST_WEIGHT, confidence)
        raw = self.solver.solve(refined, t, confidence).motion
        vec = raw.to_vector()
        if self._filter is not None:
            vec = self._filter(vec, t).astype(np.float32)
        motion = MotionFrame.from_vector(vec, t=t)
        if self.pose_range is not None:
            motion = retarget_pose(motion, self.pose_range)
        motion = motion.clamped()[0]
        return TrackedFrame(motion, raw, refined, detected, (time.perf_counter() - w0) * 1e3,
                            (time.thread_time() - c0) * 1e3, t)
