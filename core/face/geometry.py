"""Rotated square crops between image pixels and a network's input, and back.

Coordinates are continuous pixels (pixel i covers i..i+1, mediapipe's convention). Large
downscales go through an area-averaged resize first, so a face in a 24 MP photo is not aliased.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Roi:
    """A square region of the image: centre and side in pixels, and the angle (radians) of the
    region's x axis against the image's; with y pointing down, a positive angle turns it
    clockwise on screen (towards +y)."""

    cx: float
    cy: float
    side: float
    angle: float = 0.0

    def out_to_image(self, out_size: int) -> np.ndarray:
        """2x3 affine map from network pixels (continuous, 0..out_size) to image pixels."""
        c, s = math.cos(self.angle), math.sin(self.angle)
        k = self.side / out_size
        # p = centre + R @ ((u - N/2) * k)
        a = np.array([[c * k, -s * k], [s * k, c * k]], np.float64)
        t = np.array([self.cx, self.cy]) - a @ np.array([out_size / 2.0, out_size / 2.0])
        return np.hstack([a, t[:, None]])

    def to_image(self, uv: np.ndarray, out_size: int) -> np.ndarray:
        """(N, 2+) network pixel coordinates -> (N, 2) image pixels."""
        m = self.out_to_image(out_size)
        return uv[:, :2] @ m[:, :2].T + m[:, 2]


def roi_from_points(xy: np.ndarray, rot_from: np.ndarray, rot_to: np.ndarray, scale: float) -> Roi:
    """Square ROI around points, turned so that rot_from -> rot_to is horizontal, grown by ``scale``.

    Mirrors mediapipe's rect-from-landmarks: the box is measured in the rotated frame, which keeps
    a tilted face tight inside its crop.
    """
    dx, dy = float(rot_to[0] - rot_from[0]), float(rot_to[1] - rot_from[1])
    angle = math.atan2(dy, dx)
    c, s = math.cos(angle), math.sin(angle)
    centre0 = xy.mean(axis=0)
    rel = xy - centre0
    # Coordinates in the frame whose x axis points along rot_from -> rot_to.
    local = np.stack([rel[:, 0] * c + rel[:, 1] * s, -rel[:, 0] * s + rel[:, 1] * c], axis=1)
    lo, hi = local.min(axis=0), local.max(axis=0)
    mid = 0.5 * (lo + hi)
    centre = centre0 + np.array([mid[0] * c - mid[1] * s, mid[0] * s + mid[1] * c])
    side = float(max(hi - lo)) * scale
    return Roi(float(centre[0]), float(centre[1]), side, angle)


def crop(image: np.ndarray, roi: Roi, out_size: int, border: int = cv2.BORDER_CONSTANT) -> np.ndarray:
    """The ROI resampled to out_size x out_size (same dtype as image), black outside the image."""
    h, w = image.shape[:2]
    m = roi.out_to_image(out_size)
    shrink = roi.side / out_size
    src = image
    offset = np.zeros(2)
    factor = 1.0
    if shrink > 2.0:
        # Area-resize the region's bounding box first; warpAffine's bilinear filter would alias.
        half = 0.5 * roi.side * (abs(math.cos(roi.angle)) + abs(math.sin(roi.angle))) + 2
        x0, y0 = max(int(roi.cx - half), 0), max(int(roi.cy - half), 0)
        x1, y1 = min(int(math.ceil(roi.cx + half)), w), min(int(math.ceil(roi.cy + half)), h)
        if x1 <= x0 or y1 <= y0:
            return np.zeros((out_size, out_size) + image.shape[2:], image.dtype)
        factor = shrink / 1.5
        sub = image[y0:y1, x0:x1]
        nw, nh = max(1, round((x1 - x0) / factor)), max(1, round((y1 - y0) / factor))
        src = cv2.resize(sub, (nw, nh), interpolation=cv2.INTER_AREA)
        offset = np.array([x0, y0], np.float64)
        factor_x, factor_y = (x1 - x0) / nw, (y1 - y0) / nh
        m = m.copy()
        m[0] = (m[0] - np.array([0, 0, offset[0]])) / factor_x
        m[1] = (m[1] - np.array([0, 0, offset[1]])) / factor_y
    # cv2 samples output pixel j (centre j + 0.5 in continuous coordinates) at source pixel centre
    # coordinates, which are continuous coordinates minus 0.5.
    mm = m.copy()
    mm[:, 2] = m[:, 2] + 0.5 * (m[:, 0] + m[:, 1]) - 0.5
    return cv2.warpAffine(
        src, mm, (out_size, out_size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=border, borderValue=0,
    )
