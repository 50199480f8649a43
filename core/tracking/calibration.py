"""The user's own neutral face: two seconds of "look at the camera", kept between runs.

Blendshapes are measured as the difference between a frame and a neutral face (core.face.extract),
so the neutral must be the user's, not an average face: otherwise a wide mouth reads as a smile
for ever. The calibration keeps the median landmarks of the frames (steadier than any one frame)
and one frame with its own landmarks, the reference optical flow measures motion from
(core.face.flow). Trade-off: a calibration belongs to one camera and frame size; another size
asks for a new one instead of rescaling (the flow reference must be the same picture geometry).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError
from ..face.extract import MotionReference
from ..face.landmarks import N_POINTS, FaceLandmarks, NoFaceError

CALIBRATION_SECONDS = 2.0
MIN_FRAMES = 10  # a 2 s calibration at 5 fps or better
# Spread of the calibration frames (rms distance of the landmarks from their median, in face
# widths) above which the face was not held still: the calibration is kept but reported.
STEADY_SPREAD = 0.02
FORMAT_VERSION = 1


class CalibrationError(InputError):
    """A calibration file or run that cannot be used; the message says why and what to do."""


@dataclass(frozen=True, eq=False)
class NeutralCalibration:
    """neutral: float32 (478, 3) median landmarks of the calibration (image pixels of frames of
    ``frame_size``). reference: landmarks of ``gray``, the calibration frame flow starts from.
    gray: uint8 (H, W). camera: which camera it was taken with. spread: rms landmark spread over
    the calibration frames, face widths. created: seconds since the epoch (informational)."""

    neutral: np.ndarray
    reference: FaceLandmarks
    gray: np.ndarray
    camera: str
    spread: float
    created: float

    @property
    def frame_size(self) -> tuple[int, int]:
        """(width, height) of the frames it applies to."""
        return (int(self.gray.shape[1]), int(self.gray.shape[0]))

    @property
    def steady(self) -> bool:
        return self.spread <= STEADY_SPREAD

    def motion_reference(self) -> MotionReference:
        """What the solver measures against: the user's median neutral, with expression bases
        authored on this face and scaled to what the landmark analysis reads back."""
        return MotionReference.from_landmarks(self.neutral)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez_compressed(
            tmp, version=FORMAT_VERSION, neutral=self.neutral, reference=self.reference.points,
            reference_score=self.reference.score, gray=self.gray, camera=self.camera, spread=self.spread,
            created=self.created,
        )
        tmp.replace(path)  # atomic: a run killed while saving leaves the old calibration
        return path

    @classmethod
    def load(cls, path: str | Path) -> "NeutralCalibration":
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                if int(z["version"]) != FORMAT_VERSION:
                    raise CalibrationError(f"{path}: calibration format {int(z['version'])}, expected "
                                           f"{FORMAT_VERSION}; delete it or run with --calibrate")
                gray = z["gray"]
                ref = FaceLandmarks(z["reference"], (0.0, 0.0, 0.0, 0.0), float(z["reference_score"]),
                                    (int(gray.shape[1]), int(gray.shape[0])))
                return cls(z["neutral"].astype(np.float32), ref, gray.astype(np.uint8), str(z["camera"]),
                           float(z["spread"]), float(z["created"]))
        except (OSError, KeyError, ValueError) as e:
            raise CalibrationError(f"{path}: not a readable camera calibration ({e}); delete it or run "
                                   "with --calibrate") from None


class Calibrator:
    """Collects landmarks for CALIBRATION_SECONDS of camera time, then builds the calibration.
    add() is fed tracked frames (landmarks may be None when no face was found)."""

    def __init__(self, camera: str, seconds: float = CALIBRATION_SECONDS) -> None:
        self.camera = camera
        self.seconds = seconds
        self._points: list[np.ndarray] = []
        self._frames: list[tuple[np.ndarray, FaceLandmarks]] = []
        self._t0: float | None = None
        self._last_t = 0.0

    @property
    def progress(self) -> float:
        """0..1 of the calibration time covered by frames with a face."""
        if self._t0 is None:
            return 0.0
        return min(1.0, (self._last_t - self._t0) / self.seconds)

    @property
    def done(self) -> bool:
        return self.progress >= 1.0 and len(self._points) >= MIN_FRAMES

    def add(self, gray: np.ndarray, landmarks: FaceLandmarks | None, t: float) -> None:
        if landmarks is None:  # a lost face restarts the count: the calibration must be one look
            self._points.clear()
            self._frames.clear()
            self._t0 = None
            return
        if self._t0 is None:
            self._t0 = t
        self._last_t = t
        self._points.append(np.asarray(landmarks.points, np.float32))
        # Keep every fourth frame as a flow-reference candidate (bounded: 2 s at 60 fps = 30).
        if len(self._points) % 4 == 1:
            self._frames.append((gray, landmarks))

    def result(self) -> NeutralCalibration:
        if not self.done:
            raise NoFaceError(f"calibration needs {self.seconds:g} s of a visible face; have "
                              f"{self.progress * self.seconds:.1f} s ({len(self._points)} frames)")
        stack = np.stack(self._points)
        neutral = np.median(stack, axis=0).astype(np.float32)
        width = float(np.linalg.norm(neutral[234, :2] - neutral[454, :2]))
        spread = float(np.sqrt(((stack[..., :2] - neutral[None, :, :2]) ** 2).sum(-1).mean()) / max(width, 1e-6))
        # The flow reference: the kept frame closest to the median face.
        gray, ref = min(self._frames, key=lambda f: float(np.abs(f[1].points[:, :2] - neutral[:, :2]).mean()))
        if neutral.shape != (N_POINTS, 3):
            raise CalibrationError(f"calibration landmarks {neutral.shape}, expected ({N_POINTS}, 3)")
        return NeutralCalibration(neutral, ref, np.ascontiguousarray(gray), self.camera, spread, time.time())


def to_gray(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
