"""Irises carried from a reference picture to another by matching the iris's own texture.

The iris model regresses the iris towards where it expects it in the eye: on re-analysed
renders it reads 0.65-1.0 of an iris shift that template matching finds to within half a pixel,
and less for a shift towards the image left than to the right, on every face tried. Optical flow
cannot stand in (core.face.flow): an iris is smaller than its window, which then follows the
eye's skin. So each iris is found again by its band (the iris with the white either side, the
rows the lids rarely cover), searched around the iris model's guess. Trade-off: a closed or
half-closed eye has no iris to match, and there the iris model's reading stands.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..mesh_index import IRIS, LID_PAIRS

IRISES = (IRIS["Right"], IRIS["Left"])  # (centre, 4 contour points): right, left
# Upper/lower lid pairs at the middle of each eye (right, left), to tell an open eye from a closing one.
LIDS = (LID_PAIRS["Right"], LID_PAIRS["Left"])
# A match is trusted when the eye is open (lid gap at least MIN_OPEN of the reference's, as the
# iris model reads the lids) and the iris band correlates at least MIN_SCORE. Measured on
# renders of five faces (astronaut, hopper, obama, Biden and its mirror): irises of open eyes
# shifted by gaze 0.8 score 0.65-0.99, head turns 0.81-0.99; closed and half-closed eyes score
# 0.19-0.69, and all but one (hopper at blink 0.6: gap 0.8, score 0.61) read a gap under 0.75.
MIN_OPEN = 0.75
MIN_SCORE = 0.63


def track_irises(reference_gray: np.ndarray, reference: np.ndarray, gray: np.ndarray,
                 measured: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """reference, measured: (478, 3+) landmarks (continuous pixel coordinates: pixel centres at
    +0.5) of the reference and the new picture; both pictures uint8 grayscale of one size.
    Returns (10, 2) iris points (centre, contour; right eye then left) in the new picture and a
    bool (10,) mask of the points found by matching (the others are ``measured``'s)."""
    out = np.asarray(measured, np.float64)[468:478, :2].copy()
    found = np.zeros(10, bool)
    h, w = gray.shape
    for k, iris in enumerate(IRISES):
        c0 = np.asarray(reference, np.float64)[iris[0], :2]
        r = float(np.linalg.norm(np.asarray(reference, np.float64)[list(iris[1:]), :2] - c0, axis=1).mean())
        if r < 2.0 or _gap(measured, LIDS[k]) < MIN_OPEN * _gap(reference, LIDS[k]):
            continue
        # Template: the iris itself (a disc a little inside the limbus, cut to the rows the lids
        # rarely cover), so what surrounds it, which changes as it moves, is not compared.
        hx, hy = int(np.ceil(r)), max(round(0.35 * r), 1)
        cx, cy = int(np.floor(c0[0])), int(np.floor(c0[1]))
        tpl = reference_gray[cy - hy:cy + hy + 1, cx - hx:cx + hx + 1].astype(np.float32)
        yy, xx = np.mgrid[-hy:hy + 1, -hx:hx + 1]
        mask = ((xx + cx + 0.5 - c0[0]) ** 2 + (yy + cy + 0.5 - c0[1]) ** 2 <= (0.9 * r) ** 2).astype(np.float32)
        guess = np.asarray(measured, np.float64)[iris[0], :2]
        sx, sy = int(np.ceil(1.2 * r)), int(np.ceil(0.6 * r))  # search reach around the guess
        gx, gy = int(np.floor(guess[0])), int(np.floor(guess[1]))
        x0, y0 = gx - hx - sx, gy - hy - sy
        x1, y1 = gx + hx + sx + 1, gy + hy + sy + 1
        if tpl.shape != (2 * hy + 1, 2 * hx + 1) or x0 < 0 or y0 < 0 or x1 > w or y1 > h:
            continue
        res = cv2.matchTemplate(gray[y0:y1, x0:x1].astype(np.float32), tpl, cv2.TM_CCOEFF_NORMED, mask=mask)
        res = np.nan_to_num(res, nan=-1.0, posinf=-1.0, neginf=-1.0)
        iy, ix = np.unravel_index(int(np.argmax(res)), res.shape)
        if res[iy, ix] < MIN_SCORE or not (0 < ix < res.shape[1] - 1 and 0 < iy < res.shape[0] - 1):
            continue  # no iris like the reference's, or the best match at the edge of the reach
        # Sub-pixel peak: a parabola through the best score and its neighbours, per axis.
        fx = _vertex(res[iy, ix - 1], res[iy, ix], res[iy, ix + 1])
        fy = _vertex(res[iy - 1, ix], res[iy, ix], res[iy + 1, ix])
        shift = np.array([x0 + ix + fx + hx - cx, y0 + iy + fy + hy - cy])
        ref_pts = np.asarray(reference, np.float64)[list(iris), :2]
        out[5 * k:5 * k + 5] = ref_pts + shift
        found[5 * k:5 * k + 5] = True
    return out, found


def _gap(points: np.ndarray, pairs) -> float:
    p = np.asarray(points, np.float64)
    return float(np.mean([p[lo, 1] - p[up, 1] for up, lo in pairs]))


def _vertex(a: float, b: float, c: float) -> float:
    d = a - 2.0 * b + c
    return float(np.clip(0.5 * (a - c) / d, -0.5, 0.5)) if d < 0 else 0.0
