"""468 face landmarks with depth plus both irises, for a photo of any size and framing.

Detection proposes faces; the mesh model runs on a 192-pixel crop turned so the eyes are level,
then again on the crop its own first answer implies (mediapipe's tracking step), which steadies
the points. Irises come from a 64-pixel crop per eye (the left eye mirrored: the model knows one
side), which also refines the 71 mesh points around each eye. Crops are cut from the full-resolution picture, so a face in a 24 MP photo keeps its detail.
"""

from __future__ import annotations

import math

import numpy as np

from .detector import FaceDetector
from .geometry import Roi, crop, roi_from_points
from .image import load_image
from .landmarks import (
    LEFT_EYE_CORNERS,
    LEFT_EYE_REGION,
    MIN_FACE_PX,
    N_MESH,
    RIGHT_EYE_CORNERS,
    RIGHT_EYE_REGION,
    FaceBox,
    FaceIndexError,
    FaceLandmarks,
    FaceTooSmallError,
    NoFaceError,
)
from .tflite import TfliteModel

MESH_SCALE = 1.5  # crop side / face extent, as mediapipe's face mesh
IRIS_SCALE = 2.3  # crop side / eye-corner distance, as mediapipe's iris graph
MIN_PRESENCE = 0.5  # the mesh model's face flag; below it a detection is not a face


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, x))))


class FaceAnalyzer:
    """Detection, mesh and irises. Load once with FaceAnalyzer.load(); not thread-safe (the
    interpreters keep state), so give each thread its own analyzer."""

    def __init__(self, detector: FaceDetector, mesh: TfliteModel, iris: TfliteModel) -> None:
        self._detector = detector
        self._mesh = mesh
        self._iris = iris

    @classmethod
    def load(cls) -> "FaceAnalyzer":
        """Loads the bundled tflite models (about 20 ms)."""
        return cls(
            FaceDetector.load(), TfliteModel.load("face_landmark.tflite"), TfliteModel.load("iris_landmark.tflite")
        )

    # --- public API ------------------------------------------------------------------
    def detect(self, image: np.ndarray) -> list[FaceBox]:
        """Faces in the picture, largest first, each confirmed by the mesh model's face flag."""
        return [box for box, _ in self._confirmed(_as_rgb(image))]

    def _confirmed(self, image: np.ndarray) -> list[tuple[FaceBox, np.ndarray]]:
        # The detector fires on face-like texture now and then; the mesh model's face flag is
        # a second opinion that costs a millisecond per candidate, and its mesh is kept.
        meshes: dict[int, np.ndarray] = {}

        def confirm(box: FaceBox) -> bool:
            mesh, presence = self._mesh_in(image, _roi_from_box(box))
            meshes[id(box)] = mesh
            return presence >= MIN_PRESENCE

        return [(box, meshes[id(box)]) for box in self._detector.detect(image, confirm)]

    def analyze(self, image: np.ndarray, face_index: int = 0) -> FaceLandmarks:
        """Landmarks of the largest face, or of the face_index-th largest.

        Raises NoFaceError, FaceTooSmallError (box under 64 px) or FaceIndexError.
        """
        image = _as_rgb(image)
        h, w = image.shape[:2]
        faces = self._confirmed(image)
        if not faces:
            raise NoFaceError(
                f"no face found in the {w}x{h} picture; expected a photo with a clearly visible, "
                "roughly frontal face: use another photo or crop closer to the face"
            )
        if not 0 <= face_index < len(faces):
            raise FaceIndexError(
                f"face index {face_index} requested but {len(faces)} face(s) found; "
                f"use 0..{len(faces) - 1} (0 = the largest)"
            )
        box, mesh = faces[face_index]
        if box.size < MIN_FACE_PX:
            raise FaceTooSmallError(
                f"the face is {box.size:.0f} px wide in the {w}x{h} picture; need >= {MIN_FACE_PX} px: "
                "use a larger photo or one where the face fills more of the frame"
            )
        mesh, _ = self._mesh_in(image, _roi_from_mesh(mesh))
        irises, mesh = self._eyes(image, mesh)
        points = np.concatenate([mesh, irises])
        return FaceLandmarks(points, box.bbox, float(box.score), (w, h))

    def track(self, image: np.ndarray, previous: FaceLandmarks, *, refine: bool = True) -> FaceLandmarks:
        """Landmarks from the region of previous landmarks, skipping detection (video frames,
        re-analysing rendered frames). Raises NoFaceError if the face has left that region.
        refine=False skips the second mesh pass: for consecutive video frames the previous
        frame's mesh already frames the face as well as a first pass would (core.tracking)."""
        image = _as_rgb(image)
        h, w = image.shape[:2]
        mesh, presence = self._mesh_in(image, _roi_from_mesh(previous.points[:N_MESH]))
        if presence < MIN_PRESENCE:
            raise NoFaceError(
                f"the face is no longer where the previous landmarks were (face confidence {presence:.2f}); "
                "call analyze() to detect it again"
            )
        if refine:
            mesh, presence = self._mesh_in(image, _roi_from_mesh(mesh))
        irises, mesh = self._eyes(image, mesh)
        points = np.concatenate([mesh, irises])
        lm = FaceLandmarks(points, (0.0, 0.0, 0.0, 0.0), presence, (w, h))
        return FaceLandmarks(points, lm.mesh_bbox, presence, (w, h))

    # --- the two networks --------------------------------------------------------------
    def _mesh_in(self, image: np.ndarray, roi: Roi) -> tuple[np.ndarray, float]:
        """(468, 3) image-pixel landmarks in the ROI and the face flag 0..1."""
        n = self._mesh.input_size[0]
        patch = crop(image, roi, n)
        outs = self._mesh.run((patch.astype(np.float32) * (1.0 / 255.0))[None])  # input range 0..1
        raw = next(o for o in outs if o.size == N_MESH * 3).reshape(N_MESH, 3).astype(np.float64)
        flag = next(o for o in outs if o.size == 1)
        xy = roi.to_image(raw, n)
        z = raw[:, 2] * (roi.side / n)
        return np.column_stack([xy, z]), _sigmoid(float(flag.ravel()[0]))

    def _eyes(self, image: np.ndarray, mesh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Iris points (10, 3): right centre + contour, then left; and the mesh with the 71
        eye-region points of each eye (lids, their halos, brow underside) replaced by the iris
        model's, which follows a closing lid much better than the mesh model (mediapipe's
        iris pipeline does the same). Depth stays the mesh's: the iris model's is crop-relative."""
        n = self._iris.input_size[0]
        irises = []
        refined = mesh.copy()
        # The model is trained on the subject's right eye (image left); the left eye is mirrored in.
        for (outer, inner), mirror, region in (
            (RIGHT_EYE_CORNERS, False, RIGHT_EYE_REGION),
            (LEFT_EYE_CORNERS, True, LEFT_EYE_REGION),
        ):
            a, b = (mesh[outer, :2], mesh[inner, :2]) if not mirror else (mesh[inner, :2], mesh[outer, :2])
            centre = 0.5 * (a + b)
            side = float(np.linalg.norm(b - a)) * IRIS_SCALE
            roi = Roi(float(centre[0]), float(centre[1]), side, math.atan2(b[1] - a[1], b[0] - a[0]))
            patch = crop(image, roi, n)
            if mirror:
                patch = patch[:, ::-1]
            outs = self._iris.run((patch.astype(np.float32) * (2.0 / 255.0) - 1.0)[None])  # range -1..1
            iris = self._iris.output_named(outs, "output_iris").reshape(5, 3).astype(np.float64)
            eye = self._iris.output_named(outs, "output_eyes_contours_and_brows").reshape(71, 3).astype(np.float64)
            if mirror:
                iris[:, 0] = n - iris[:, 0]
                eye[:, 0] = n - eye[:, 0]
            z = mesh[[outer, inner], 2].mean() + (iris[:, 2] - iris[0, 2]) * (side / n)
            irises.append(np.column_stack([roi.to_image(iris, n), z]))
            refined[list(region), :2] = roi.to_image(eye, n)
        return np.concatenate(irises), refined


def _roi_from_box(box: FaceBox) -> Roi:
    # Detector keypoints 0/1 are the eyes: level them. The box is roughly brow-to-chin.
    (rx, ry), (lx, ly) = box.keypoints[0], box.keypoints[1]
    cx, cy = box.center
    return Roi(cx, cy, box.size * MESH_SCALE, math.atan2(ly - ry, lx - rx))


def _roi_from_mesh(mesh: np.ndarray) -> Roi:
    return roi_from_points(mesh[:N_MESH, :2], mesh[RIGHT_EYE_CORNERS[0], :2], mesh[LEFT_EYE_CORNERS[0], :2], MESH_SCALE)


def _as_rgb(image: np.ndarray) -> np.ndarray:
    """Arrays in any documented layout are accepted (grayscale, RGBA, 16-bit): load_image normalises."""
    if isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3:
        return np.ascontiguousarray(image)
    if not isinstance(image, np.ndarray):
        raise TypeError(
            f"image {type(image).__name__}, expected a numpy array; use load_image(path) for files"
        )
    return load_image(image)
