"""Motion extraction, the renderer's inverse: landmarks of any picture -> MotionFrame.

Head pose is a least-squares similarity (Umeyama) between the portrait's neutral reference and
the measured points, on points that expressions barely move, refined on x, y alone; blendshapes are bounded least
squares (0..1) of the de-posed residual on the same authored bases the renderer uses, with a
little ridge so correlated channels (jawOpen vs mouthLowerDown) do not trade noise. Blinks are
the exception: each eye's blink is read from its lid aperture (normalised by the reference's),
then held while the rest is fitted: a least-squares fit over the whole face let brow, squint and
gaze channels absorb the lid motion (a closed eye read 0.1-0.4). This is the
role of Ditto's motion extractor, and how we check that the renderer shows what it was told.
Trade-off: it reads identity differences as expression, so the reference should be the same face.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..mesh_index import IRIS, LID_PAIRS
from ..motion_space import ARKIT_BLENDSHAPES
from ..render.bases import ExpressionBases, build_bases
from ..render.face_frame import RIGID_POINTS, FaceFrame, HeadPose, face_frame, solve_pose
from ..types import MotionFrame
from .landmarks import N_POINTS, FaceLandmarks

# Weight of depth in the blendshape fit: none, the fit uses x and y. Depth from a single photo
# is the mesh network's guess, and in a re-analysed render it carries no signal at all: the
# renderer projects orthographically, so at pose zero no motion in depth reaches the picture.
# At 0.3 the network's under-read depth of an opening jaw (0.1-0.4 of the basis' z) was
# explained as jawForward 0.6-1.0 (jawOpen 0.8 on astronaut, hopper, obama). Channels that move
# only in depth (jawForward, which the renderer cannot show at pose zero either) read 0.
Z_WEIGHT = 0.0
# Ridge on the blendshape weights: penalty RIDGE * w^2 against the squared residual (face
# widths^2, summed over points). Small enough not to bias a clear expression, large enough to
# keep channels the picture does not show near zero.
RIDGE = 1e-4
ITERATIONS = 2
# Gaze under a closing lid, by closure in blink units (0 open, 1 shut): the iris points weigh 1
# up to IRIS_FADE[0], fading to 0 at IRIS_FADE[1]; from IRIS_HIDDEN on, gaze is held at zero.
IRIS_FADE = (0.4, 0.8)
IRIS_HIDDEN = 0.6


@dataclass(frozen=True, eq=False)
class MotionReference:
    """What extraction measures against: one face at rest, seen in one picture.

    neutral: float32 (478, 3) canonical landmarks (face widths, core.render.face_frame).
    frame: the FaceFrame mapping that picture's pixels to canonical units (pose zero).
    bases: the expression bases (canonical deltas per ARKit channel), normally the renderer's.
    """

    neutral: np.ndarray
    frame: FaceFrame
    bases: ExpressionBases

    @classmethod
    def from_landmarks(cls, landmarks: FaceLandmarks | np.ndarray, bases: ExpressionBases | None = None) -> "MotionReference":
        """Reference from the landmarks of a neutral picture (image pixels). Without ``bases`` the
        renderer's bases are authored on this face, as PortraitRenderer.load would."""
        points = np.asarray(getattr(landmarks, "points", landmarks), np.float64)
        if points.shape != (N_POINTS, 3):
            raise ValueError(f"landmarks shape {points.shape}, expected ({N_POINTS}, 3) image pixels")
        frame = face_frame(points)
        neutral = frame.to_canonical(points)
        if bases is None:
            bases = build_bases(neutral)
        return cls(neutral.astype(np.float32), frame, bases)

    @classmethod
    def from_renderer(cls, renderer: object, analyzer: object) -> "MotionReference":
        """Reference for re-analysing a PortraitRenderer's frames: its neutral output analysed by
        ``analyzer`` (so analysis bias cancels), with the renderer's own bases."""
        neutral_image = renderer.base  # the neutral render is the resampled portrait itself
        return cls.from_landmarks(analyzer.analyze(neutral_image), renderer.bases)


@dataclass(frozen=True, eq=False)
class Extraction:
    """A MotionFrame and how well it explains the points: residual rms in face widths of the
    rigid fit and of the full fit (landmarks the model could not reach, e.g. a different face)."""

    motion: MotionFrame
    pose_residual: float
    fit_residual: float


# Lid pairs (upper, lower) that measure how open each eye is.
_LID_PAIRS = LID_PAIRS
_IRIS_POINTS = IRIS


class MotionExtractor:
    """extract_motion with one reference's least-squares system precomputed."""

    def __init__(self, reference: MotionReference) -> None:
        self.reference = reference
        deltas = np.asarray(reference.bases.deltas, np.float64)  # (C, N, 3)
        c, n, _ = deltas.shape
        self._w = np.array([1.0, 1.0, Z_WEIGHT])
        self._a = (deltas * self._w).reshape(c, n * 3).T  # (3N, C)
        self._n = n
        self._channels = reference.bases.channels
        self._arkit = np.array([ARKIT_BLENDSHAPES.index(ch) for ch in self._channels])
        neutral = reference.neutral.astype(np.float64)
        self._neutral_gap = {s: _eye_gap(neutral, s) for s in _LID_PAIRS}
        self._gaze = {
            side: [i for i, ch in enumerate(self._channels) if ch.startswith("eyeLook") and ch.endswith(side)]
            for side in _LID_PAIRS
        }
        # Aperture lost per unit blink, as the bases say (calibrated bases: as the analyser reads it).
        self._blink = {}
        for side in _LID_PAIRS:
            name = f"eyeBlink{side}"
            if name in self._channels:
                i = self._channels.index(name)
                closed = neutral + deltas[i]
                drop = self._neutral_gap[side] - _eye_gap(closed, side)
                if drop > 1e-6:
                    self._blink[side] = (i, drop)

    def extract(self, landmarks: FaceLandmarks | np.ndarray, t: float = 0.0,
                confidence: np.ndarray | None = None) -> Extraction:
        """confidence: optional (478,) relative weight of each point in the blendshape fit (for
        example lower for points a tracker could only guess); None weighs all points alike."""
        from scipy.optimize import lsq_linear

        ref = self.reference
        points = np.asarray(getattr(landmarks, "points", landmarks), np.float64)
        if points.shape != (N_POINTS, 3):
            raise ValueError(f"landmarks shape {points.shape}, expected ({N_POINTS}, 3) image pixels")
        neutral = ref.neutral.astype(np.float64)
        weights = np.zeros(len(self._channels))
        observed_c = ref.frame.to_canonical(points).astype(np.float64)
        for _ in range(ITERATIONS):
            # Pose on the rigid points of the face as currently explained (neutral + expression).
            shaped = ref.bases.apply(neutral.astype(np.float32), weights.astype(np.float32)).astype(np.float64)
            pose, pose_rms = solve_pose(shaped, points, ref.frame, RIGID_POINTS)
            pose, pose_rms = _pose_from_xy(shaped, points, ref.frame, pose, confidence)
            rest = _inverse_pose(ref.frame, pose)(observed_c)  # the measured face, back at pose zero
            resid = ((rest - neutral) * self._w).reshape(-1)
            point_w, hidden = self._point_weights(rest)
            if confidence is not None:
                point_w = point_w * confidence
            rows = np.repeat(point_w, 3)
            # Weighted ridge least squares in normal form, handed to the bounded solver as a
            # C x C system (R w ~ y with R^T R = A^T W A + ridge): cheap whatever N is.
            aw = self._a * rows[:, None]
            gram = aw.T @ aw + RIDGE * np.eye(len(self._channels))
            r = np.linalg.cholesky(gram).T
            y = np.linalg.solve(r.T, aw.T @ (resid * rows))
            upper = np.ones(len(self._channels))
            lower = np.zeros(len(self._channels))
            for side in hidden:  # gaze behind a closed lid is unknown: hold it at zero
                upper[self._gaze[side]] = 1e-9
            for side, (i, _) in self._blink.items():  # blink: held at the aperture's reading
                lower[i] = self._closure(rest, side)
                upper[i] = lower[i] + 1e-9
            weights = lsq_linear(r, y, bounds=(lower, upper), method="bvls").x
        fit = (self._a @ weights - resid).reshape(-1, 3)
        bs = np.zeros(len(ARKIT_BLENDSHAPES), np.float32)
        bs[self._arkit] = weights
        motion = MotionFrame(pose.pitch, pose.yaw, pose.roll, pose.tx, pose.ty, pose.scale, bs, t)
        return Extraction(motion, pose_rms, float(np.sqrt((fit**2).sum(1).mean())))

    def _closure(self, rest: np.ndarray, side: str) -> float:
        """How closed one eye reads, 0 open .. 1 shut, in the units of its eyeBlink channel (the
        aperture lost over the aperture a full blink loses, as the bases say: calibrated bases
        say it as the analyser reads it). Without a blink channel: the raw aperture lost."""
        gap = _eye_gap(rest, side)
        if side in self._blink:
            return float(np.clip((self._neutral_gap[side] - gap) / self._blink[side][1], 0.0, 1.0))
        return float(np.clip(1.0 - gap / max(self._neutral_gap[side], 1e-6), 0.0, 1.0))

    def _point_weights(self, rest: np.ndarray) -> tuple[np.ndarray, list[str]]:
        # An iris behind a closing lid is the iris model's guess (it drifts down with the lid, which
        # would read as eyeLookDown): fade the iris points out as the eye closes, and report the
        # eyes whose gaze can no longer be measured. Closure is read in blink units, not as raw
        # aperture: the analyser reads a shut lid as 35-60 % of the open aperture, so thresholds
        # on the raw aperture (0.3-0.7) left the iris of a closed eye half trusted (astronaut:
        # eyeLookOut 0.4 under a full blink).
        w = np.ones(self._n)
        hidden = []
        for side, iris in _IRIS_POINTS.items():
            closure = self._closure(rest, side)
            w[list(iris)] = float(np.clip((IRIS_FADE[1] - closure) / (IRIS_FADE[1] - IRIS_FADE[0]), 0.0, 1.0))
            if closure >= IRIS_HIDDEN:
                hidden.append(side)
        return w, hidden


def _eye_gap(points: np.ndarray, side: str) -> float:
    return float(np.mean([points[lo, 1] - points[up, 1] for up, lo in _LID_PAIRS[side]]))


_RIGID = np.array(RIGID_POINTS)


def _pose_from_xy(shaped: np.ndarray, points: np.ndarray, frame: FaceFrame, start: HeadPose,
                  confidence: np.ndarray | None = None) -> tuple[HeadPose, float]:
    """Refine a pose on image x, y alone (weak perspective, the renderer's own projection).

    Umeyama in 3D also fits the measured depth, which the mesh network infers from appearance
    and under-turns (a rendered 10 degree yaw reads as 7-9 degrees); the reference's depth with
    the measured x, y pins the rotation down better. Gauss-Newton, from the Umeyama start.

    The loss is Cauchy, whose pull fades for points far off the fit: the cheek points at the
    ears (234, 454, ...) are the face's silhouette, which the mesh network draws on the visible
    outline rather than on a fixed spot of skin, so under a turn it can be 5-8 px off where two
    thirds of the points agree within a pixel. They stay in the set (their depth gives yaw most
    of its leverage when they are right); soft_l1, whose pull never fades, let three of them cost
    2.4 degrees of a 10 degree yaw (obama, turned to the image left). A point's confidence
    (MotionExtractor.extract) scales its residual, as in the blendshape fit."""
    from scipy.optimize import least_squares

    src = shaped[_RIGID]
    dst = points[_RIGID, :2].astype(np.float64)
    conf = np.ones((len(_RIGID), 1)) if confidence is None else np.asarray(confidence, np.float64)[_RIGID, None]

    def residual(x: np.ndarray) -> np.ndarray:
        a, b = frame.image_matrix(HeadPose(*x))  # float64 (project() rounds to float32)
        return ((src @ a[:2].T + b[:2] - dst) * conf).ravel()

    x0 = np.array([start.pitch, start.yaw, start.roll, start.tx, start.ty, start.scale])
    sol = least_squares(residual, x0, method="trf", loss="cauchy", f_scale=0.01 * frame.scale,
                        x_scale=np.array([1.0, 1.0, 1.0, 0.01, 0.01, 0.01]))
    rms = float(np.sqrt((sol.fun.reshape(-1, 2) ** 2).sum(1).mean()) / frame.scale)
    return HeadPose(*(float(v) for v in sol.x)), rms


def _inverse_pose(frame: FaceFrame, pose: HeadPose):
    a, b = frame.pose_matrix(pose)
    inv = np.linalg.inv(a)
    return lambda c: (c - b) @ inv.T


def extract_motion(landmarks: FaceLandmarks | np.ndarray, reference: MotionReference, t: float = 0.0) -> MotionFrame:
    """The MotionFrame that, rendered from ``reference``, best reproduces ``landmarks`` (image
    pixels of the same picture space as the reference). Blendshapes in 0..1, pose in degrees,
    face widths and a scale factor, as core.types.MotionFrame."""
    return MotionExtractor(reference).extract(landmarks, t).motion
