"""What portrait analysis hands to the rest of the engine: a detected face box and 478 landmarks.

Coordinates are pixels of the analysed picture (not normalised), so a renderer can warp the very
image it was given; z shares x's pixel scale (mediapipe's sign: smaller z = closer). Continuous
pixel convention: pixel i covers i..i+1 (subtract 0.5 for OpenCV's pixel-centre coordinates).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..mesh_index import (  # noqa: F401 (re-exported: core.face names them)
    CHEEKS,
    CHIN,
    EYE_CORNERS,
    EYE_LOWER,
    EYE_UPPER,
    FOREHEAD,
    IRIS,
    LOWER_LIP_INNER,
    N_MESH,
    N_POINTS,
    NOSE_TIP,
    UPPER_LIP_INNER,
)

MIN_FACE_PX = 64  # smallest detected face box side we animate

# Iris indices in FaceLandmarks.points ("right" = the subject's right = image left).
RIGHT_IRIS_CENTER, RIGHT_IRIS = IRIS["Right"][0], IRIS["Right"][1:]
LEFT_IRIS_CENTER, LEFT_IRIS = IRIS["Left"][0], IRIS["Left"][1:]

# Per-side names other modules keep asking for (core/mesh_index.py has every contour).
RIGHT_EYE_CORNERS, LEFT_EYE_CORNERS = EYE_CORNERS["Right"], EYE_CORNERS["Left"]  # outer, inner
RIGHT_EYE_UPPER, LEFT_EYE_UPPER = EYE_UPPER["Right"], EYE_UPPER["Left"]
RIGHT_EYE_LOWER, LEFT_EYE_LOWER = EYE_LOWER["Right"], EYE_LOWER["Left"]
# The mesh points the iris model's 71-point eye output stands for, in its output order: lower
# lid (corner to corner), upper lid, then four halos of skin around the eye and the brow's
# underside. The left list mirrors the right one (matched across the face's midline).
RIGHT_EYE_REGION = (
    33, 7, 163, 144, 145, 153, 154, 155, 133, 246, 161, 160, 159, 158, 157, 173,
    130, 25, 110, 24, 23, 22, 26, 112, 243, 247, 30, 29, 27, 28, 56, 190,
    226, 31, 228, 229, 230, 231, 232, 233, 244, 113, 225, 224, 223, 222, 221, 189,
    35, 124, 46, 53, 52, 65, 143, 111, 117, 118, 119, 120, 121, 128, 245, 156, 70, 63, 105, 66, 107, 55, 193,
)
LEFT_EYE_REGION = (
    263, 249, 390, 373, 374, 380, 381, 382, 362, 466, 388, 387, 386, 385, 384, 398,
    359, 255, 339, 254, 253, 252, 256, 341, 463, 467, 260, 259, 257, 258, 286, 414,
    446, 261, 448, 449, 450, 451, 452, 453, 464, 342, 445, 444, 443, 442, 441, 413,
    265, 353, 276, 283, 282, 295, 372, 340, 346, 347, 348, 349, 350, 357, 465, 383, 300, 293, 334, 296, 336, 285, 417,
)
MOUTH_CORNERS = (61, 291)  # subject's right, left


@dataclass(frozen=True, eq=False)
class FaceBox:
    """One detected face. bbox: x0, y0, x1, y1 in image pixels. score: detector confidence 0..1.
    keypoints: float32 (6, 2) pixels: right eye, left eye, nose tip, mouth, right ear, left ear."""

    bbox: tuple[float, float, float, float]
    score: float
    keypoints: np.ndarray = field(default_factory=lambda: np.zeros((6, 2), np.float32))

    @property
    def width(self) -> float:
        return self.bbox[2] - self.bbox[0]

    @property
    def height(self) -> float:
        return self.bbox[3] - self.bbox[1]

    @property
    def size(self) -> float:
        """The larger side of the box in pixels; what MIN_FACE_PX is checked against."""
        return max(self.width, self.height)

    @property
    def center(self) -> tuple[float, float]:
        return (0.5 * (self.bbox[0] + self.bbox[2]), 0.5 * (self.bbox[1] + self.bbox[3]))


@dataclass(frozen=True, eq=False)
class FaceLandmarks:
    """478 face points of one image.

    points: float32 (478, 3): x, y image pixels; z pixels at x's scale, smaller = closer to the
    camera. 0..467 mediapipe's mesh, 468 right iris centre, 469-472 right iris contour, 473 left
    iris centre, 474-477 left iris contour (right = the subject's right = image left).
    bbox: x0, y0, x1, y1 of the detected face in pixels (for a tracked frame, of the mesh).
    score: face confidence 0..1. image_size: (width, height).
    """

    points: np.ndarray
    bbox: tuple[float, float, float, float]
    score: float
    image_size: tuple[int, int]

    def __post_init__(self) -> None:
        pts = np.asarray(self.points, dtype=np.float32)
        if pts.shape != (N_POINTS, 3):
            raise ValueError(f"landmark points shape {pts.shape}, expected ({N_POINTS}, 3)")
        pts = pts.copy()
        pts.flags.writeable = False
        object.__setattr__(self, "points", pts)

    @property
    def xy(self) -> np.ndarray:
        """float32 (478, 2) image pixels."""
        return self.points[:, :2]

    @property
    def face_width(self) -> float:
        """Cheek-to-cheek distance in pixels: the unit MotionFrame translations are measured in."""
        a, b = CHEEKS
        return float(np.linalg.norm(self.points[a, :2] - self.points[b, :2]))

    @property
    def mesh_bbox(self) -> tuple[float, float, float, float]:
        """Tight box around the 468 mesh points (pixels)."""
        xy = self.points[:N_MESH, :2]
        x0, y0 = xy.min(axis=0)
        x1, y1 = xy.max(axis=0)
        return (float(x0), float(y0), float(x1), float(y1))


class NoFaceError(InputError):
    """The picture holds no face the detector can find."""


class FaceTooSmallError(InputError):
    """The face is found but too small to animate."""


class FaceIndexError(InputError, IndexError):
    """face_index asks for a face beyond the ones found."""
