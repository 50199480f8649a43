"""Thin-plate-spline warp with its operator precomputed per portrait, on two grid levels.

Per frame the warp costs, per level, one (G x K) matrix-vector product per axis for the field on
a coarse grid, a two-step fixed-point inversion on that grid (backward sampling:
p - D(p - D(p))), and one cv2.resize of the map; then one cv2.remap of the head region. A coarse
grid over the whole head (hair and neck move smoothly) is refined by a finer grid over the face,
where lids, brows and lip corners move a few pixels against still neighbours; the fine map is
feathered into the coarse one. The lip seam (where the jaw splits the face) is built into each
operator as a blend of two splines, one fitted without the lower lip and one without the upper.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


INVERSION_STEPS = 3


def _tps_kernel(r2: np.ndarray) -> np.ndarray:
    # U(r) = r^2 log r^2 (a constant factor away from r^2 log r); 0 at r = 0.
    with np.errstate(divide="ignore", invalid="ignore"):
        u = r2 * np.log(r2)
    return np.nan_to_num(u, nan=0.0, posinf=0.0, neginf=0.0)


def tps_operator(ctrl: np.ndarray, query: np.ndarray, smoothing: float = 1e-6) -> np.ndarray:
    """float64 (Q, K): displacement at query points = operator @ displacement at control points.

    ctrl (K, 2), query (Q, 2) in any consistent units (we use face widths, for conditioning).
    smoothing > 0 keeps the system well conditioned when control points nearly coincide."""
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


def grid_nodes(roi: tuple[int, int, int, int], grid: int) -> np.ndarray:
    """float32 (g, g, 2) node positions in roi pixel coordinates, placed where cv2.resize from a
    g x g image to the roi size puts its source pixel centres, so the resize interpolates exactly."""
    x0, y0, x1, y1 = roi
    gx = (np.arange(grid) + 0.5) * (x1 - x0) / grid - 0.5
    gy = (np.arange(grid) + 0.5) * (y1 - y0) / grid - 0.5
    return np.stack(np.meshgrid(gx, gy), -1).astype(np.float32)


@dataclass
class GridLevel:
    """One grid: roi (x0, y0, x1, y1) output pixels, operator float32 (g*g, K), nodes (g, g, 2)
    in roi coordinates, and feather (h, w) float32 weights for blending into the level below
    (None for the base level)."""

    roi: tuple[int, int, int, int]
    grid: int
    operator: np.ndarray
    nodes: np.ndarray
    feather: np.ndarray | None = None

    @property
    def feather_rest(self) -> np.ndarray:
        if not hasattr(self, "_rest"):
            self._rest = np.ascontiguousarray(1.0 - self.feather, np.float32)
        return self._rest

    @classmethod
    def build(cls, roi: tuple[int, int, int, int], grid: int, ctrl_px: np.ndarray, unit_px: float,
              groups, taper: np.ndarray | None = None, feather: np.ndarray | None = None,
              smoothing: float = 1e-6) -> "GridLevel":
        """groups: (weights over the g*g nodes, boolean mask over the K controls): each group is a
        spline fitted on its controls; node rows are blended by the weights (which sum to 1).
        taper (g*g,) scales the field, e.g. to 0 at the roi border."""
        nodes = grid_nodes(roi, grid)
        q = (nodes.reshape(-1, 2) + roi[:2]) / unit_px
        c = ctrl_px / unit_px
        op = np.zeros((grid * grid, len(c)))
        for weight, use in groups:
            rows = weight > 1e-6
            if not rows.any():
                continue
            block = np.zeros((rows.sum(), len(c)))
            block[:, use] = tps_operator(c[use], q[rows], smoothing)
            op[rows] += weight[rows, None] * block
        if taper is not None:
            op *= taper[:, None]
        return cls(roi, grid, op.astype(np.float32), nodes, feather)

    def node_positions(self) -> np.ndarray:
        """(g*g, 2) node positions in output pixels."""
        return self.nodes.reshape(-1, 2) + np.array(self.roi[:2], np.float32)

    def field(self, d: np.ndarray) -> np.ndarray:
        """Forward displacement (g, g, 2) at the nodes; d: (2, K) control displacements."""
        g = self.grid
        out = np.empty((g, g, 2), np.float32)
        # Two matrix-vector products beat one (G x K) @ (K x 2) product in OpenBLAS by 2x.
        out[..., 0] = (self.operator @ d[0]).reshape(g, g)
        out[..., 1] = (self.operator @ d[1]).reshape(g, g)
        return out

    def source_map(self, d: np.ndarray) -> np.ndarray:
        """float32 (h, w, 2) source coordinates (output pixels) for every pixel of this roi."""
        g = self.grid
        x0, y0, x1, y1 = self.roi
        w, h = x1 - x0, y1 - y0
        f = self.field(d)
        # Backward sampling: iterate s <- p - D(s) from s = p (p - D(p - D(p - D(p)))). D is
        # known at the nodes; sample it bilinearly, in grid index units. Two steps leave about
        # a tenth of a steep displacement (a pursed lip) undone; three leave a few percent.
        src = self.nodes - f
        idx = np.empty_like(src)
        scale = np.array((g / w, g / h), np.float32)
        for _ in range(INVERSION_STEPS - 1):
            idx[:] = (src + 0.5) * scale - 0.5
            src = self.nodes - cv2.remap(f, idx, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        src += np.array((x0, y0), np.float32)
        return cv2.resize(src, (w, h), interpolation=cv2.INTER_LINEAR)


@dataclass
class GridWarp:
    """A coarse level over the head region (``roi``) and finer levels feathered into it.

    bands: (y0, y1, x0, x1) row bands of the roi (roi coordinates) outside which the map is the
    identity (the base level's field is zero there), so remap skips the roi's empty corners."""

    levels: list[GridLevel]
    bands: list[tuple[int, int, int, int]] | None = None

    def __post_init__(self) -> None:
        if self.bands is None:
            self.bands = _bands(self.levels[0])

    @property
    def roi(self) -> tuple[int, int, int, int]:
        return self.levels[0].roi

    def source_map(self, disp: np.ndarray) -> np.ndarray:
        """float32 (h, w, 2) source coordinates for the roi, for control displacements (K, 2) px."""
        d = np.ascontiguousarray(disp.T, np.float32)
        base = self.levels[0]
        m = base.source_map(d)
        bx, by = base.roi[:2]
        for lvl in self.levels[1:]:
            x0, y0, x1, y1 = lvl.roi
            sub = m[y0 - by:y1 - by, x0 - bx:x1 - bx]
            sub[:] = cv2.blendLinear(lvl.source_map(d), np.ascontiguousarray(sub), lvl.feather, lvl.feather_rest)
        return m

    def apply(self, image: np.ndarray, out: np.ndarray, disp: np.ndarray) -> np.ndarray:
        """Warp ``image`` (full output size) into ``out``'s roi; returns the source map used."""
        x0, y0 = self.roi[:2]
        m = self.source_map(disp)
        # Fixed-point maps remap about 20 % faster than float maps; 1/32 px is plenty.
        m1, m2 = cv2.convertMaps(m, None, cv2.CV_16SC2)
        self.last_maps = (m1, m2)  # the roi's fixed-point maps, for layers carried by the same warp
        for ya, yb, xa, xb in self.bands:
            cv2.remap(image, m1[ya:yb, xa:xb], m2[ya:yb, xa:xb], cv2.INTER_LINEAR,
                      dst=out[y0 + ya:y0 + yb, x0 + xa:x0 + xb], borderMode=cv2.BORDER_REPLICATE)
        return m


def _bands(level: GridLevel, n: int = 12) -> list[tuple[int, int, int, int]]:
    """Row bands covering every roi pixel whose map can differ from the identity: a pixel is
    interpolated from its four nearest nodes, so it moves only if one of them has a field."""
    g = level.grid
    x0, y0, x1, y1 = level.roi
    w, h = x1 - x0, y1 - y0
    live = np.abs(level.operator).sum(1).reshape(g, g) > 0
    if not live.any():
        return []
    live = cv2.dilate(live.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    cell_w, cell_h = w / g, h / g
    bands = []
    edges = np.linspace(0, g, n + 1).round().astype(int)
    for ga, gb in zip(edges[:-1], edges[1:]):
        cols = np.flatnonzero(live[ga:gb].any(0))
        if cols.size == 0:
            continue
        ya, yb = int(np.floor(ga * cell_h)), int(np.ceil(gb * cell_h))
        xa, xb = int(np.floor(cols[0] * cell_w)), int(np.ceil((cols[-1] + 1) * cell_w))
        bands.append((max(ya, 0), min(yb, h), max(xa, 0), min(xb, w)))
    return bands


def feather_weights(w: int, h: int, margin: float) -> np.ndarray:
    """(h, w) float32: 1 inside, smoothly 0 at the border over ``margin`` of each side."""
    def ramp(n: int) -> np.ndarray:
        t = np.minimum(np.arange(n) + 0.5, n - np.arange(n) - 0.5) / max(margin * n, 1.0)
        t = np.clip(t, 0, 1)
        return t * t * (3 - 2 * t)

    return (ramp(h)[:, None] * ramp(w)[None, :]).astype(np.float32)
