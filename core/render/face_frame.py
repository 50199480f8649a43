"""The face-normalised canonical frame, and the head pose map between it and the image.

Canonical points are the portrait's landmarks under a similarity transform: origin between the eyes,
one unit = one face width (cheek to cheek, 3D), the eye line horizontal; x right, y down, z away from
the camera (mediapipe's sign). The portrait as shot is pose zero: we do not try to frontalise it,
because a warp can only show small rotations relative to the photo anyway. Projection is
orthographic (weak perspective), which is accurate within the renderer's +-12 degree range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..mesh_index import CHEEKS, EYE_CORNERS, RIGID_POINTS

RIGHT_EYE_CORNERS = EYE_CORNERS["Right"]
LEFT_EYE_CORNERS = EYE_CORNERS["Left"]


@dataclass(frozen=True)
class HeadPose:
    """Head pose relative to the portrait: degrees (pitch + = chin down, yaw + = face turns to
    the subject's left / image right, roll + = clockwise), tx/ty in face widths (+ = image right/down),
    scale as a factor. Same conventions as core.motion_space."""

    pitch: float = 0.0
    yaw: float = 0.0
    roll: float = 0.0
    tx: float = 0.0
    ty: float = 0.0
    scale: float = 1.0

    @property
    def is_neutral(self) -> bool:
        return (self.pitch, self.yaw, self.roll, self.tx, self.ty, self.scale) == (0.0, 0.0, 0.0, 0.0, 0.0, 1.0)


def rotation_matrix(pitch: float, yaw: float, roll: float) -> np.ndarray:
    """float64 (3, 3) for degrees, in the canonical axes (x right, y down, z away).

    R = Rz(roll) @ Ry(yaw) @ Rx(pitch): pitch + moves the nose tip (z < 0) down, yaw + moves it to
    image right, roll + turns the image clockwise (y is down, so a top point moves right)."""
    p, y, r = (math.radians(a) for a in (pitch, yaw, roll))
    cp, sp, cy, sy, cr, sr = math.cos(p), math.sin(p), math.cos(y), math.sin(y), math.cos(r), math.sin(r)
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    ry = np.array([[cy, 0, -sy], [0, 1, 0], [sy, 0, cy]])
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return rz @ ry @ rx


def euler_from_matrix(rot: np.ndarray) -> tuple[float, float, float]:
    """(pitch, yaw, roll) degrees of a rotation built by rotation_matrix (inverse of it)."""
    # R[2,0] = sin(yaw) cos(...)... derived from Rz Ry Rx: row 2 = [sy, cy*sp, cy*cp].
    r = np.asarray(rot, np.float64)
    yaw = math.asin(max(-1.0, min(1.0, r[2, 0])))
    pitch = math.atan2(r[2, 1], r[2, 2])
    roll = math.atan2(r[1, 0], r[0, 0])
    return math.degrees(pitch), math.degrees(yaw), math.degrees(roll)


@dataclass(frozen=True)
class FaceFrame:
    """The similarity transform image <-> canonical for one portrait, plus its head pivot.

    origin: float64 (3,) image pixels (x, y, z) of the canonical origin. scale: pixels per face width.
    angle: radians of the eye line in the image (clockwise, since y is down).
    pivot: float64 (3,) canonical point the head turns about (behind and below the eyes, near the neck).
    """

    origin: np.ndarray
    scale: float
    angle: float
    pivot: np.ndarray

    def _rot2(self) -> np.ndarray:
        c, s = math.cos(self.angle), math.sin(self.angle)
        return np.array([[c, -s], [s, c]])

    def to_canonical(self, points: np.ndarray) -> np.ndarray:
        """Image points (N, 3) pixels -> canonical (N, 3) face widths, float32."""
        p = np.asarray(points, np.float64) - self.origin
        out = np.empty_like(p)
        out[:, :2] = p[:, :2] @ self._rot2() / self.scale  # row-vector form of R^-1 p
        out[:, 2] = p[:, 2] / self.scale
        return out.astype(np.float32)

    def to_image(self, canonical: np.ndarray) -> np.ndarray:
        """Canonical (N, 3) -> image (N, 3) pixels, float32."""
        c = np.asarray(canonical, np.float64)
        out = np.empty_like(c)
        out[:, :2] = c[:, :2] @ self._rot2().T * self.scale
        out[:, 2] = c[:, 2] * self.scale
        return (out + self.origin).astype(np.float32)

    def pose_matrix(self, pose: HeadPose) -> tuple[np.ndarray, np.ndarray]:
        """(A, b) with posed = canonical @ A.T + b, all in canonical units.

        posed = scale * R (c - pivot) + pivot + t, where t is (tx, ty) face widths along the
        image axes (not the portrait's tilted eye line), turned into canonical axes."""
        a = pose.scale * rotation_matrix(pose.pitch, pose.yaw, pose.roll)
        t = np.zeros(3)
        t[:2] = self._rot2().T @ np.array([pose.tx, pose.ty])
        b = self.pivot - a @ self.pivot + t
        return a, b

    def apply_pose(self, canonical: np.ndarray, pose: HeadPose) -> np.ndarray:
        """Canonical points moved by a head pose, still canonical units (float32)."""
        a, b = self.pose_matrix(pose)
        return (np.asarray(canonical, np.float64) @ a.T + b).astype(np.float32)

    def project(self, canonical: np.ndarray, pose: HeadPose) -> np.ndarray:
        """Canonical points -> image pixels (N, 3) for a head pose: the forward map of the renderer."""
        return self.to_image(self.apply_pose(canonical, pose))

    def image_matrix(self, pose: HeadPose) -> tuple[np.ndarray, np.ndarray]:
        """(A, b) with image = canonical @ A.T + b for a pose, folded into one affine map (3x3, 3)."""
        pa, pb = self.pose_matrix(pose)
        s = np.eye(3)
        s[:2, :2] = self._rot2() * self.scale
        s[2, 2] = self.scale
        return s @ pa, s @ pb + self.origin


def face_frame(points: np.ndarray) -> FaceFrame:
    """The canonical frame of one set of 478 (or 468) landmarks in image pixels."""
    p = np.asarray(points, np.float64)
    if p.ndim != 2 or p.shape[0] < 468 or p.shape[1] != 3:
        raise ValueError(f"landmarks shape {p.shape}, expected (478, 3) or (468, 3) image pixels")
    right_eye = p[list(RIGHT_EYE_CORNERS)].mean(0)
    left_eye = p[list(LEFT_EYE_CORNERS)].mean(0)
    origin = (right_eye + left_eye) / 2
    scale = float(np.linalg.norm(p[CHEEKS[1]] - p[CHEEKS[0]]))
    if not scale > 1.0:
        raise ValueError(f"face width {scale:.2f} px: the landmarks are degenerate")
    d = left_eye - right_eye
    angle = math.atan2(d[1], d[0])
    frame = FaceFrame(origin, scale, angle, np.zeros(3))
    cheeks = frame.to_canonical(p[list(CHEEKS)]).astype(np.float64).mean(0)
    # The head turns about the top of the spine: about a third of a face width below the
    # ear line and a quarter behind it. Rough anatomy; errors only shift the rotation a little.
    pivot = np.array([0.0, cheeks[1] + 0.3, cheeks[2] + 0.25])
    return FaceFrame(origin, scale, angle, pivot)


def to_canonical(points: np.ndarray) -> tuple[np.ndarray, FaceFrame]:
    """Landmarks in image pixels -> (canonical float32 (N, 3), the FaceFrame that maps back)."""
    frame = face_frame(points)
    return frame.to_canonical(points), frame


def solve_pose(neutral: np.ndarray, points: np.ndarray, frame: FaceFrame,
               index: tuple[int, ...] = RIGID_POINTS) -> tuple[HeadPose, float]:
    """The head pose that best maps canonical ``neutral`` onto image ``points`` (N, 3) pixels.

    Least-squares similarity (Umeyama) on the rigid points, after mapping ``points`` into the
    portrait's canonical frame. Returns the pose and the rms residual in face widths."""
    idx = list(index)
    src = np.asarray(neutral, np.float64)[idx] - frame.pivot
    dst = frame.to_canonical(np.asarray(points)[idx]).astype(np.float64) - frame.pivot
    ms, md = src.mean(0), dst.mean(0)
    xs, xd = src - ms, dst - md
    u, sig, vt = np.linalg.svd(xd.T @ xs)
    d = np.ones(3)
    d[2] = np.sign(np.linalg.det(u @ vt))
    rot = u @ np.diag(d) @ vt
    s = float((sig * d).sum() / (xs ** 2).sum())
    t = md - s * rot @ ms
    pitch, yaw, roll = euler_from_matrix(rot)
    txy = frame._rot2() @ t[:2]  # canonical axes -> image axes
    pose = HeadPose(pitch, yaw, roll, float(txy[0]), float(txy[1]), s)
    resid = dst - (src @ rot.T * s + t)
    return pose, float(np.sqrt((resid ** 2).sum(1).mean()))
