"""Landmarks carried from a reference picture to another by optical flow (pyramidal Lucas-Kanade).

The mesh network regresses towards an average face, so it under-reports how far a warped
feature moved (about 0.5-0.8 of a rendered jaw or smile). When the reference picture of the same
face is at hand (re-analysing rendered frames), tracking each landmark's neighbourhood measures
the pixels' actual motion; a forward-backward check keeps only points whose texture was found
again, and the mesh's estimate stands for the rest (new content: an opened mouth, a closed lid),
with less weight in the motion fit (flow_confidence).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..mesh_index import EYE_CORNERS, EYE_LOWER, EYE_UPPER
from .iris_track import track_irises
from .landmarks import N_MESH, FaceLandmarks
from .lid_track import track_lids

WINDOW = 15  # px at a ~160 px face: a landmark's neighbourhood, bigger than an iris
# Upper and lower lid edges and eye corners of both eyes (the tables of core/mesh_index.py).
_LID_EDGES = tuple(i for side in ("Right", "Left")
                   for i in (*EYE_CORNERS[side], *EYE_UPPER[side], *EYE_LOWER[side]))
_FLOW_POINTS = np.setdiff1d(np.arange(N_MESH), _LID_EDGES)  # every mesh point but the lid edges
MAX_FB_ERROR = 0.5  # px: forward then backward must land this close to the start
# Relative precision (1 / sigma, the row weight in a least-squares fit) of a point the flow tried
# to follow and lost, against a tracked one. Where flow loses a point, the picture there holds
# content the reference lacks (the inside of an opened mouth under the lips, a silhouette), and
# the mesh network's guess is the only reading: it disagrees with flow by 1.4-1.6 px rms on the
# points both follow (Biden and its mirror, the calibration faces, every calibration case),
# while a tracked point returns within MAX_FB_ERROR. So sigma_mesh / sigma_flow >= 3.
LOST_CONFIDENCE = 1.0 / 3.0


@dataclass(frozen=True)
class LkSettings:
    """Pyramidal Lucas-Kanade settings: window side (px), pyramid levels above the picture, and
    iterations per level."""

    window: int = WINDOW
    levels: int = 3
    iterations: int = 30


OFFLINE = LkSettings()
# A camera frame's budget (core.tracking): a smaller window, one level less and a third of the
# iterations (they converge in fewer) cost about 60 % of OFFLINE. One level only (15 % less
# again) was tried and undone: the mesh under-reads a wide jaw by more than one level can
# reach, and the cross-identity chain of tools/camera_eval.py read pucker 0.8 into an open jaw.
REALTIME = LkSettings(window=11, levels=2, iterations=10)


def refine_with_flow(reference_image: np.ndarray, reference: FaceLandmarks, image: np.ndarray,
                     measured: FaceLandmarks, *, lk: LkSettings = OFFLINE) -> tuple[FaceLandmarks, np.ndarray]:
    """``measured`` with every point that optical flow can follow from ``reference`` replaced by
    the flow's position (x, y; z stays the mesh's); irises follow their own texture where it
    is found. Returns the landmarks and a bool (478,) mask of the points flow replaced. Both
    images: uint8 RGB, or uint8 grayscale (a video's reference converted once), of the same size."""
    if reference_image.shape[:2] != image.shape[:2]:
        raise ValueError(f"reference picture {reference_image.shape} and picture {image.shape} differ in size")
    g0 = reference_image if reference_image.ndim == 2 else cv2.cvtColor(reference_image, cv2.COLOR_RGB2GRAY)
    g1 = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    # OpenCV's pixel centres sit at integers; landmarks use continuous coordinates (+0.5).
    p0 = (reference.points[:, :2] - 0.5).astype(np.float32).reshape(-1, 1, 2)
    guess = (measured.points[:, :2] - 0.5).astype(np.float32).reshape(-1, 1, 2)
    crit = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, lk.iterations, 0.01)
    win = (lk.window, lk.window)
    # Irises and lid edges are measured by their own texture below: flow is not asked for them.
    use = _FLOW_POINTS
    fwd = guess.copy()
    back = p0.copy()
    st1 = np.zeros((len(p0), 1), np.uint8)
    st2 = np.zeros((len(p0), 1), np.uint8)
    fwd[use], st1[use], _ = cv2.calcOpticalFlowPyrLK(g0, g1, p0[use], guess[use].copy(), winSize=win,
                                                     maxLevel=lk.levels, criteria=crit,
                                                     flags=cv2.OPTFLOW_USE_INITIAL_FLOW)
    back[use], st2[use], _ = cv2.calcOpticalFlowPyrLK(g1, g0, fwd[use], p0[use].copy(), winSize=win,
                                                      maxLevel=lk.levels, criteria=crit,
                                                      flags=cv2.OPTFLOW_USE_INITIAL_FLOW)
    fb = np.linalg.norm((back - p0).reshape(-1, 2), axis=1)
    ok = (st1.ravel() == 1) & (st2.ravel() == 1) & (fb < MAX_FB_ERROR)
    # An iris is smaller than the window, which then follows the eye's skin and white rather than
    # the iris: irises are matched by their own texture instead (core.face.iris_track), and
    # keep the iris model's reading where that fails (a closing lid).
    irises, ok[N_MESH:] = track_irises(g0, reference.points, g1, measured.points)
    # A lid edge is an occlusion boundary, not texture: flow follows the skin above it (or the
    # lashes) and a closing lid reads half open. The lid margin is matched instead
    # (core.face.lid_track); where it is not found, the iris model's eye contour stands.
    ok[list(_LID_EDGES)] = False
    pts = measured.points.astype(np.float32).copy()
    pts[ok, :2] = fwd.reshape(-1, 2)[ok] + 0.5
    pts[N_MESH:, :2] = irises
    lids, _ = track_lids(g0, reference.points, g1, measured.points)
    for i, p in lids.items():
        pts[i, :2] = p
        ok[i] = True
    return FaceLandmarks(pts, measured.bbox, measured.score, measured.image_size), ok


def flow_confidence(tracked: np.ndarray) -> np.ndarray:
    """(478,) weights for MotionExtractor.extract(confidence=...) from refine_with_flow's mask: 1 where
    flow tracked the point and where flow does not try by design (irises, lid edges: the iris
    model is the measurement there), LOST_CONFIDENCE where flow tried and lost the point."""
    w = np.where(np.asarray(tracked, bool), 1.0, LOST_CONFIDENCE)
    w[N_MESH:] = 1.0
    w[list(_LID_EDGES)] = 1.0
    return w
