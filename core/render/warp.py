"""Thin-plate-spline warp with its operator precomputed per portrait.

Per frame the warp costs one (G x K) @ (K x 2) matmul for the field on a coarse grid, a two-step
fixed-point inversion on that grid (backward sampling: p - D(p - D(p))), one cv2.resize of the
map and one cv2.remap of the head region. The trade-off: a coarse grid blurs sharp features of
the field over one cell, so the lip seam (where the jaw splits the face) is built into the operator
as a blend of two splines, one fitted without the lower lip and one without the upper lip.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


def _tps_kernel(r2: np.ndarray) -> np.ndarray:
    # U(r) = r^2 log r^2 (a constant factor away from r^2 log r); 0 at r = 0.
    with np.errstate(divide="ignore", invalid="ignore"):
        u = r2 * np.log(r2)
    return np.nan_to_num(u, nan=0.0, posinf=0.0, neginf=0.0)


def tps_operator(ctrl: np.ndarray, query: np.ndarray, smoothing: float = 1e-4) -> np.ndarray:
    """float64 (Q, K): displacement at query points = operator @ displacement at control points.

    ctrl (K, 2), query (Q, 2) in any consistent units (we use face widths, for conditioning).
    smoothing > 0 trades exact interpolation for a better-conditioned, less overshooting fit."""
    k = len(ctrl)
    d2 = ((ctrl[:, None, :] - ctrl[None, :, :]) ** 2).sum(-1)
    a = np.zeros((k + 3, k + 3))
    a[:k, :k] = _tps_kernel(d2) + smoothing * np.eye(k)
    p = np.hstack([np.ones((k, 1)), ctrl])
    a[:k, k:] = p
    a[k:, :k] = p.T
    # Weights and affine part for a unit displacement at each control point: columns of inv(A)[:, :k].
    rhs = np.zeros((k + 3, k))
    rhs[:k] = np.eye(k)
    sol = np.linalg.solve(a, rhs)
    q2 = ((query[:, None, :] - ctrl[None, :, :]) ** 2).sum(-1)
    basis = np.hstack([_tps_kernel(q2), np.ones((len(query), 1)), query])
    return basis @ sol


@dataclass
class GridWarp:
    """A warp of the region ``roi`` (x0, y0, x1, y1 output pixels) driven by K control points.

    operator: float32 (g*g, K), already blended and tapered. nodes: float32 (g, g, 2) grid node
    positions in roi pixel coordinates (cv2.resize's pixel-centre convention)."""

    roi: tuple[int, int, int, int]
    grid: int
    operator: np.ndarray
    nodes: np.ndarray

    @property
    def roi_size(self) -> tuple[int, int]:
        x0, y0, x1, y1 = self.roi
        return x1 - x0, y1 - y0

    @classmethod
    def build(cls, roi: tuple[int, int, int, int], grid: int, ctrl_px: np.ndarray, unit_px: float,
              groups: list[tuple[np.ndarray, np.ndarray]], taper: np.ndarray,
              smoothing: float = 1e-4) -> "GridWarp":
        """ctrl_px (K, 2) output pixels. groups: (mask over the g*g nodes, boolean over K controls):
        each group is a spline fitted on its controls; node rows are blended by the masks (which
        must sum to 1). taper (g*g,) scales the field to 0 at the roi border."""
        x0, y0, x1, y1 = roi
        w, h = x1 - x0, y1 - y0
        gx = (np.arange(grid) + 0.5) * w / grid - 0.5
        gy = (np.arange(grid) + 0.5) * h / grid - 0.5
        nodes = np.stack(np.meshgrid(gx, gy), -1).astype(np.float32)  # (g, g, 2) roi coords
        q = (nodes.reshape(-1, 2) + (x0, y0)) / unit_px
        c = ctrl_px / unit_px
        op = np.zeros((grid * grid, len(c)))
        for mask, use in groups:
            rows = mask > 1e-6
            if not rows.any():
                continue
            sub = tps_operator(c[use], q[rows], smoothing)
            block = np.zeros((rows.sum(), len(c)))
            block[:, use] = sub
            op[rows] += mask[rows, None] * block
        op *= taper[:, None]
        return cls(roi, grid, op.astype(np.float32), nodes)

    def field(self, disp: np.ndarray) -> np.ndarray:
        """Forward displacement (g, g, 2) pixels at the nodes, for control displacements (K, 2)."""
        # Two matrix-vector products beat one (G x K) @ (K x 2) product in OpenBLAS by 2x.
        d = np.ascontiguousarray(disp.T, np.float32)
        out = np.empty((self.grid, self.grid, 2), np.float32)
        out[..., 0] = (self.operator @ d[0]).reshape(self.grid, self.grid)
        out[..., 1] = (self.operator @ d[1]).reshape(self.grid, self.grid)
        return out

    def source_map(self, disp: np.ndarray) -> np.ndarray:
        """float32 (h, w, 2) source coordinates (output pixels) for every roi pixel."""
        g = self.grid
        f = self.field(disp)
        w, h = self.roi_size
        # Backward sampling: s = p - D(p - D(p)). D is known at grid nodes; sample it at
        # p - D(p) bilinearly, in grid index units.
        s1 = self.nodes - f
        idx = np.empty_like(s1)
        idx[..., 0] = (s1[..., 0] + 0.5) * (g / w) - 0.5
        idx[..., 1] = (s1[..., 1] + 0.5) * (g / h) - 0.5
        d1 = cv2.remap(f, idx, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        src = self.nodes - d1
        src += np.array(self.roi[:2], np.float32)
        return cv2.resize(src, (w, h), interpolation=cv2.INTER_LINEAR)

    def apply(self, image: np.ndarray, out: np.ndarray, disp: np.ndarray) -> np.ndarray:
        """Warp ``image`` (full output size) into ``out``'s roi; returns the source map used."""
        x0, y0, x1, y1 = self.roi
        m = self.source_map(disp)
        # Fixed-point maps remap about 40 % faster than float maps; 1/32 px is plenty.
        m1, m2 = cv2.convertMaps(m, None, cv2.CV_16SC2)
        cv2.remap(image, m1, m2, cv2.INTER_LINEAR, dst=out[y0:y1, x0:x1], borderMode=cv2.BORDER_REPLICATE)
        return m
