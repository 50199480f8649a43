"""Blendshapes and head pose of one video frame, solved against the user's own neutral face.

The solve is core.face.extract's MotionExtractor (the renderer's inverse, used offline), with the
per-frame cost a camera needs: one pass instead of two, started from the previous frame's pose
and expression (a video frame is close to the one before it), and the bounded least squares
solved by an active-set Newton method on the small channel-by-channel normal equations instead of
scipy's general BVLS (6 ms a frame). Trade-off: a frame far from the previous one (the first, or
after the face was lost) takes the offline path's full two passes, once.
"""

from __future__ import annotations

import numpy as np

from ..face.extract import RIDGE, Extraction, MotionExtractor, MotionReference, _inverse_pose
from ..face.landmarks import N_POINTS, FaceLandmarks
from ..motion_space import ARKIT_BLENDSHAPES
from ..render.face_frame import RIGID_POINTS, FaceFrame, HeadPose
from ..types import MotionFrame

MAX_ACTIVE_SET_STEPS = 25
# A prior on what a face shows: the core channels (jaw, smiles, blinks, sideways gaze, inner brows
# raised) are fitted freely; every other channel pays a ridge of DAMPED_WEIGHT times its own
# curvature, so alone it reads 1 / (1 + DAMPED_WEIGHT) of itself and it shows only where it
# explains clearly more than the core channels can. Why: on rendered faces the landmark fit
# explained an open jaw partly as mouthRollLower 0.6-0.96, mouthPress and mouthFrown 0.3-0.6 (and,
# on the astronaut, mouthPucker 0.4-0.75), and a pitch as vertical gaze 0.3 (tools/camera_eval.py);
# driving a second face with those made it pout and frown. The cost, to know: a real frown,
# squint, sneer, pucker or lip press reads at about a fifth of its strength.
CORE_PREFIXES = ("jawOpen", "mouthSmile", "eyeBlink", "eyeLookIn", "eyeLookOut", "browInnerUp")
DAMPED_WEIGHT = 4.0
POSE_STEPS = 4  # Gauss-Newton steps from the previous frame's pose (it moves a few degrees a frame)
_RIGID = np.array(RIGID_POINTS)
# Finite-difference steps per pose parameter: degrees for the angles, face widths, scale factor.
_STEP = np.array([1e-3, 1e-3, 1e-3, 1e-5, 1e-5, 1e-5])


def pose_from_xy(shaped: np.ndarray, points: np.ndarray, frame: FaceFrame, start: HeadPose,
                 confidence: np.ndarray | None = None) -> tuple[HeadPose, float]:
    """The pose fit of core.face.extract._pose_from_xy (image x, y of the rigid points, weak
    perspective, Cauchy loss with scale 1 % of a face width, confidence-scaled residuals) as a few
    iteratively reweighted Gauss-Newton steps from a nearby pose: scipy's trust-region solver took
    4-5 ms a frame on our machines, mostly in its own bookkeeping."""
    src = shaped[_RIGID]
    dst = points[_RIGID, :2].astype(np.float64)
    conf = np.ones((len(_RIGID), 1)) if confidence is None else np.asarray(confidence, np.float64)[_RIGID, None]
    f_scale = 0.01 * frame.scale

    def residual(x: np.ndarray) -> np.ndarray:
        a, b = frame.image_matrix(HeadPose(*x))
        return ((src @ a[:2].T + b[:2] - dst) * conf).ravel()

    x = np.array([start.pitch, start.yaw, start.roll, start.tx, start.ty, start.scale])
    r = residual(x)
    for _ in range(POSE_STEPS):
        jac = np.empty((r.size, 6))
        for k in range(6):
            xk = x.copy()
            xk[k] += _STEP[k]
            jac[:, k] = (residual(xk) - r) / _STEP[k]
        w = 1.0 / (1.0 + (r / f_scale) ** 2)  # Cauchy: rho'(z) with z = (r / f_scale)^2
        jw = jac * w[:, None]
        dx = np.linalg.solve(jw.T @ jac + 1e-9 * np.eye(6), -jw.T @ r)
        x = x + dx
        r = residual(x)
        if np.all(np.abs(dx) < _STEP):
            break
    rms = float(np.sqrt((r.reshape(-1, 2) ** 2).sum(1).mean()) / frame.scale)
    return HeadPose(*(float(v) for v in x)), rms


def bounded_least_squares(gram: np.ndarray, rhs: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                          start: np.ndarray) -> tuple[np.ndarray, bool]:
    """argmin 0.5 w'Gw - rhs'w with lower <= w <= upper (G symmetric positive definite), by a
    primal active-set method (Nocedal & Wright, Numerical Optimization, 16.5) warm-started at
    ``start``: the working set is the variables held at a bound. Returns (w, converged); on False
    the caller falls back to a general solver (a guard against cycling)."""
    w = np.clip(start, lower, upper)
    pinned = upper - lower < 1e-9  # bounds that fix a value (a measured blink, a hidden gaze)
    at_lo = pinned | (w <= lower)
    at_hi = ~at_lo & (w >= upper)
    for _ in range(MAX_ACTIVE_SET_STEPS):
        held = at_lo | at_hi
        free = ~held
        target = w.copy()
        if free.any():
            target[free] = np.linalg.solve(gram[np.ix_(free, free)], rhs[free] - gram[np.ix_(free, held)] @ w[held])
        d = target - w
        with np.errstate(divide="ignore", invalid="ignore"):
            to_hi = np.where(free & (d > 1e-12), (upper - w) / d, np.inf)
            to_lo = np.where(free & (d < -1e-12), (lower - w) / d, np.inf)
        step = min(float(to_hi.min()), float(to_lo.min()))
        if step < 1.0:  # blocked: go as far as the first bound, hold that variable there
            w = np.clip(w + max(step, 0.0) * d, lower, upper)
            i_hi, i_lo = int(np.argmin(to_hi)), int(np.argmin(to_lo))
            if to_hi[i_hi] <= to_lo[i_lo]:
                at_hi[i_hi] = True
            else:
                at_lo[i_lo] = True
            continue
        w = np.clip(target, lower, upper)
        # Multipliers of the held variables: release the one whose bound pulls the wrong way most.
        grad = gram @ w - rhs
        wrong = np.where(at_lo & ~pinned, -grad, 0.0) + np.where(at_hi & ~pinned, grad, 0.0)
        i = int(np.argmax(wrong))
        if wrong[i] <= 1e-12:
            return w, True
        at_lo[i] = at_hi[i] = False
    return w, False


class RealtimeSolver(MotionExtractor):
    """MotionExtractor for a stream of frames of one face; reset() when the face was lost."""

    def __init__(self, reference: MotionReference) -> None:
        super().__init__(reference)
        self._neutral64 = reference.neutral.astype(np.float64)
        self._weights: np.ndarray | None = None
        self._pose: HeadPose | None = None
        self._prior = None
        if DAMPED_WEIGHT > 0:
            self._prior = np.array([DAMPED_WEIGHT if not ch.startswith(CORE_PREFIXES) else 0.0 for ch in self._channels])
        self.fallbacks = 0  # frames the active-set solve handed to scipy (a guard; reported in bench)

    def reset(self) -> None:
        self._weights = None
        self._pose = None

    def solve(self, landmarks: FaceLandmarks | np.ndarray, t: float = 0.0,
              confidence: np.ndarray | None = None) -> Extraction:
        """One frame (image pixels, the reference's camera): the same answer as extract() to within
        the warm start, at a third of its cost."""
        if self._weights is None or self._pose is None:
            got = self.extract(landmarks, t, confidence)  # cold start: the offline two passes
            self._remember(got.motion)
            return got
        ref = self.reference
        points = np.asarray(getattr(landmarks, "points", landmarks), np.float64)
        if points.shape != (N_POINTS, 3):
            raise ValueError(f"landmarks shape {points.shape}, expected ({N_POINTS}, 3) image pixels")
        shaped = ref.bases.apply(ref.neutral, self._weights.astype(np.float32)).astype(np.float64)
        pose, pose_rms = pose_from_xy(shaped, points, ref.frame, self._pose, confidence)
        rest = _inverse_pose(ref.frame, pose)(ref.frame.to_canonical(points).astype(np.float64))
        resid = ((rest - self._neutral64) * self._w).reshape(-1)
        point_w, hidden = self._point_weights(rest)
        if confidence is not None:
            point_w = point_w * confidence
        rows = np.repeat(point_w, 3)
        aw = self._a * rows[:, None]
        c = len(self._channels)
        gram = aw.T @ aw + RIDGE * np.eye(c)
        if self._prior is not None:
            gram[np.diag_indices(c)] += self._prior * np.diag(gram)
        rhs = aw.T @ (resid * rows)
        upper = np.ones(c)
        lower = np.zeros(c)
        for side in hidden:
            upper[self._gaze[side]] = 0.0
        for side, (i, _) in self._blink.items():
            lower[i] = upper[i] = self._closure(rest, side)
        weights, ok = bounded_least_squares(gram, rhs, lower, upper, self._weights)
        if not ok:
            from scipy.optimize import lsq_linear

            self.fallbacks += 1
            r = np.linalg.cholesky(gram).T
            y = np.linalg.solve(r.T, rhs)
            weights = lsq_linear(r, y, bounds=(lower, upper + 1e-9), method="bvls").x
        fit = (self._a @ weights - resid).reshape(-1, 3)
        bs = np.zeros(len(ARKIT_BLENDSHAPES), np.float32)
        bs[self._arkit] = weights
        motion = MotionFrame(pose.pitch, pose.yaw, pose.roll, pose.tx, pose.ty, pose.scale, bs, t)
        self._weights, self._pose = weights, pose
        return Extraction(motion, pose_rms, float(np.sqrt((fit**2).sum(1).mean())))

    def _remember(self, motion: MotionFrame) -> None:
        self._weights = np.asarray(motion.blendshapes, np.float64)[self._arkit]
        self._pose = HeadPose(motion.pitch, motion.yaw, motion.roll, motion.tx, motion.ty, motion.scale)

