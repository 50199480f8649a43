"""Realtime face tracking for the camera path: a webcam face becomes the avatar's motion.

filters (One-Euro), calibration (the user's neutral face), solver (pose and blendshapes against
it), tracker (frame -> MotionFrame), drive (how camera, audio lips and agent controls combine).
Everything reuses core.face's offline analysis; nothing here imports plugin code.
"""

from .calibration import CALIBRATION_SECONDS, CalibrationError, Calibrator, NeutralCalibration
from .filters import OneEuroFilter
from .solver import RealtimeSolver
from .tracker import FaceTracker, TrackedFrame

__all__ = ["CALIBRATION_SECONDS", "CalibrationError", "Calibrator", "NeutralCalibration", "OneEuroFilter",
           "RealtimeSolver", "FaceTracker", "TrackedFrame"]
