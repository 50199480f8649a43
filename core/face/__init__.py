"""Portrait analysis, offline: face detection, 468 landmarks with depth, irises.

Models are mediapipe 0.10.21's tflite files (shipped in models/face) run under ai-edge-litert,
which works with numpy 2 and needs no mediapipe install (see models/face/MODEL_CARD.md).
Motion extraction (landmarks -> MotionFrame) lives in ``marionette.core.face.extract`` and the
control-accuracy evaluation in ``marionette.tools.control_eval``; they import the renderer's
bases, so they are not imported here.
"""

from .analyzer import FaceAnalyzer
from .assets import default_portrait_path
from .image import ImageReadError, load_image
from .landmarks import (
    CHEEKS,
    CHIN,
    FOREHEAD,
    LEFT_EYE_CORNERS,
    LEFT_EYE_LOWER,
    LEFT_EYE_UPPER,
    LEFT_IRIS,
    LEFT_IRIS_CENTER,
    LOWER_LIP_INNER,
    MIN_FACE_PX,
    MOUTH_CORNERS,
    N_MESH,
    N_POINTS,
    NOSE_TIP,
    RIGHT_EYE_CORNERS,
    RIGHT_EYE_LOWER,
    RIGHT_EYE_UPPER,
    RIGHT_IRIS,
    RIGHT_IRIS_CENTER,
    UPPER_LIP_INNER,
    FaceBox,
    FaceIndexError,
    FaceLandmarks,
    FaceTooSmallError,
    NoFaceError,
)

__all__ = [
    "FaceAnalyzer", "FaceBox", "FaceLandmarks", "NoFaceError", "FaceTooSmallError", "FaceIndexError",
    "ImageReadError", "load_image", "default_portrait_path", "MIN_FACE_PX", "N_MESH", "N_POINTS",
    "RIGHT_IRIS_CENTER", "RIGHT_IRIS", "LEFT_IRIS_CENTER", "LEFT_IRIS", "RIGHT_EYE_CORNERS",
    "LEFT_EYE_CORNERS", "RIGHT_EYE_UPPER", "RIGHT_EYE_LOWER", "LEFT_EYE_UPPER", "LEFT_EYE_LOWER",
    "MOUTH_CORNERS", "UPPER_LIP_INNER", "LOWER_LIP_INNER", "NOSE_TIP", "CHIN", "FOREHEAD", "CHEEKS",
]
