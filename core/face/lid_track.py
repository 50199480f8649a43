"""Eyelid edges carried from a reference picture to another by matching the lid margin's texture.

A lid edge is an occlusion boundary, so optical flow around it follows the skin above, which
stretches as the lid comes down, and reads a shut eye half open (core.face.flow); the iris model's
contour reads a shut lid at 35-60 % of the open aperture and narrows an open eye by up to a
fifth when the iris looks aside. What moves with the lid unchanged is its margin: the lash line
and the few pixels of lid just outside the edge. So each lid point is found again by a small
strip of that margin (outside the eye, never the eyeball), searched mostly along the lid's
travel around the iris model's guess. Trade-off: the strip is a few pixels tall, so where a lid
has no visible lashes or margin (low contrast) the iris model's reading stands.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..mesh_index import EYE_CORNERS, EYE_LOWER, EYE_UPPER

# Upper lid, lower lid, (outer, inner) corners per eye: right, left (core/mesh_index.py).
UPPER = (EYE_UPPER["Right"], EYE_UPPER["Left"])
LOWER = (EYE_LOWER["Right"], EYE_LOWER["Left"])
CORNERS = (EYE_CORNERS["Right"], EYE_CORNERS["Left"])
MIN_SCORE = 0.7  # normalised cross-correlation of a strip we trust
MAX_FB_ERROR = 0.75  # px: forward then backward must land this close to the start
MIN_CONTRAST = 6.0  # grey levels (standard deviation) a strip needs to be matched at all


def track_lids(reference_gray: np.ndarray, reference: np.ndarray, gray: np.ndarray,
               measured: np.ndarray) -> tuple[dict[int, np.ndarray], float]:
    """reference, measured: (478, 3+) landmarks (continuous pixel coordinates) of the reference
    and the new picture, both pictures uint8 grayscale of one size. Returns {landmark: (x, y)}
    for the lid points found again, and the fraction of lid points found."""
    ref = np.asarray(reference, np.float64)
    mea = np.asarray(measured, np.float64)
    found: dict[int, np.ndarray] = {}
    total = 0
    for k in range(2):
        a, b = ref[CORNERS[k][0], :2], ref[CORNERS[k][1], :2]
        width = float(np.linalg.norm(a - b))
        opening = float(np.mean(ref[list(LOWER[k]), 1] - ref[list(UPPER[k]), 1]))
        if width < 8.0 or opening < 2.0:
            continue
        half_w = max(round(0.1 * width), 2)  # strip half width: a fifth of the eye's width
        tall = max(round(0.1 * width), 3)  # strip height: the lash line and lid margin
        reach = int(np.ceil(1.3 * opening)) + 2  # the lid's travel, and some
        for idx, sign in ((UPPER[k], -1), (LOWER[k], 1)):
            for i in idx[1:-1]:  # the points next to the corners see mostly the corner
                total += 1
                p = _track_one(reference_gray, gray, ref[i, :2], mea[i, :2], sign, half_w, tall, reach)
                if p is None:
                    continue
                # Forward-backward: the strip found must lead back to where it came from (a
                # stretched band of skin matches several places; the margin, one).
                back = _track_one(gray, reference_gray, p, ref[i, :2], sign, half_w, tall, reach)
                if back is not None and np.linalg.norm(back - ref[i, :2]) <= MAX_FB_ERROR:
                    found[i] = p
    return found, len(found) / max(total, 1)


def _track_one(g0: np.ndarray, g1: np.ndarray, p0: np.ndarray, guess: np.ndarray, sign: int,
               half_w: int, tall: int, reach: int) -> np.ndarray | None:
    h, w = g1.shape
    cx, cy = int(np.floor(p0[0])), int(np.floor(p0[1]))
    # The strip outside the eye: rows from one pixel beyond the edge to ``tall`` beyond it.
    r0, r1 = (cy - tall - 1, cy - 1) if sign < 0 else (cy + 2, cy + tall + 2)
    if r0 < 0 or r1 > h or cx - half_w < 0 or cx + half_w + 1 > w:
        return None
    tpl = g0[r0:r1, cx - half_w:cx + half_w + 1].astype(np.float32)
    if tpl.std() < MIN_CONTRAST:
        return None
    # Search: the lid's travel across the eye around the guess, and a couple of pixels sideways.
    dx0 = int(np.floor(guess[0])) - cx
    dy0 = int(np.floor(guess[1])) - cy
    sx = 2
    y0, y1 = r0 + dy0 - reach, r1 + dy0 + reach
    x0, x1 = cx - half_w + dx0 - sx, cx + half_w + 1 + dx0 + sx
    if y0 < 0 or x0 < 0 or y1 > h or x1 > w:
        return None
    res = cv2.matchTemplate(g1[y0:y1, x0:x1].astype(np.float32), tpl, cv2.TM_CCOEFF_NORMED)
    iy, ix = np.unravel_index(int(np.argmax(res)), res.shape)
    if res[iy, ix] < MIN_SCORE or not (0 < iy < res.shape[0] - 1):
        return None
    fy = _vertex(res[iy - 1, ix], res[iy, ix], res[iy + 1, ix])
    fx = _vertex(res[iy, ix - 1], res[iy, ix], res[iy, ix + 1]) if 0 < ix < res.shape[1] - 1 else 0.0
    shift = np.array([x0 + ix + fx - (cx - half_w), y0 + iy + fy - r0])
    return p0 + shift


def _vertex(a: float, b: float, c: float) -> float:
    d = a - 2.0 * b + c
    return float(np.clip(0.5 * (a - c) / d, -0.5, 0.5)) if d < 0 else 0.0
