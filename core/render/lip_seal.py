"""Lip seal: the lips of a portrait shot with an open mouth (a smile showing teeth) brought together.

A closure of the portrait's own rest gap, as a monotonic per-column remap of the neutral photo
along the face's vertical axis: the lips and a little skin beyond them stretch towards the seam
while the teeth, fixed to the skull, stay where they are until covered. The linear warp cannot
do this: a field that pulls both lips across the gap folds the map, and its backward sampling
lands on the teeth in the fold. Trade-off: a fixed profile (the stretch spans a fixed band above
and below the lips), lips that stretch rather than roll; drawn only in the mouth's box.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..mesh_index import LIP_INNER_LOWER, LIP_INNER_UPPER, LIP_OUTER_LOWER, LIP_OUTER_UPPER

N_COLUMNS = 128
# The skin that stretches beyond the outer lip lines: this fraction of the way to the subnasale
# above, to the chin below.
SKIN_ABOVE, SKIN_BELOW = 0.7, 0.6
# How far a lip's outer line moves, as a fraction of its inner edge's motion.
LIP_BODY = 1.0
# Sealed lips press a little past their photographed inner edges (face widths), so the seam shows
# lip, not the edge pixels where lip meets tooth (landmarks sit within a pixel of that edge).
OVERSHOOT = 0.006
# Where the lips meet, the fold between them is a thin shadow: its darkening at full closure
# and its half width in output pixels.
SEAM_SHADE, SEAM_PX = 0.28, 1.1
SEAM_FROM = 0.85  # closure from which the shadow fades in (the lips nearly touch)
# A portrait whose widest inner-lip gap is narrower than this (face widths) has a closed mouth
# (lips that part by a landmark's error): nothing to seal. The mouth layer's test for a photo
# that shows its teeth uses the same figure.
MIN_GAP = 0.03
# Where the lips meet, as a fraction of the rest gap below the upper lip.
MEET = 0.25


def _curve(c: np.ndarray, idx, xs: np.ndarray, axis: int = 1) -> np.ndarray:
    """A lip line's y (or z, axis 2) at canonical x ``xs``."""
    x, y = c[list(idx), 0], c[list(idx), axis]
    o = np.argsort(x)
    return np.interp(xs, x[o], y[o])


@dataclass(frozen=True)
class SealProfile:
    """Per column (canonical x ``xs``), all canonical y: the stretch band's top ``a`` and bottom
    ``b``, the outer lip lines ``ou``, ``ol``, the inner lips ``yu``, ``yl``, where they meet
    ``m`` and the overshoot ``over``.

    The lips close as bodies: each inner edge moves onto ``m``, its outer line LIP_BODY of that,
    and the skin between the outer line and the band's limit (towards the nose, the chin) takes
    the stretch. Lips that only stretched (outer lines kept) looked like two swollen lips, and
    the mesh network, which knows how thick lips are, read a gap between them."""

    xs: np.ndarray
    a: np.ndarray
    ou: np.ndarray
    yu: np.ndarray
    m: np.ndarray
    yl: np.ndarray
    ol: np.ndarray
    b: np.ndarray
    over: np.ndarray

    @classmethod
    def build(cls, neutral: np.ndarray, min_gap: float = MIN_GAP) -> SealProfile | None:
        """From canonical neutral landmarks (478, 3); None where the widest inner-lip gap is under
        ``min_gap`` (a portrait whose lips already meet)."""
        c = np.asarray(neutral, np.float64)
        lower = (LIP_INNER_UPPER[0], *LIP_INNER_LOWER, LIP_INNER_UPPER[-1])
        x0, x1 = c[LIP_INNER_UPPER[0], 0], c[LIP_INNER_UPPER[-1], 0]
        xs = np.linspace(min(x0, x1), max(x0, x1), N_COLUMNS)
        yu, yl = _curve(c, LIP_INNER_UPPER, xs), _curve(c, lower, xs)
        gap = np.maximum(yl - yu, 0.0)
        if gap.max() < max(min_gap, 1e-6):
            return None
        yl = yu + gap
        ramp = np.clip(gap / 0.02, 0.0, 1.0)
        over = OVERSHOOT * ramp * ramp * (3 - 2 * ramp)
        ou = np.minimum(_curve(c, LIP_OUTER_UPPER, xs), yu - over - 0.003)
        ol = np.maximum(_curve(c, (LIP_OUTER_UPPER[0], *LIP_OUTER_LOWER, LIP_OUTER_UPPER[-1]), xs), yl + over + 0.003)
        mid = N_COLUMNS // 2
        nose = max(float(ou[mid] - c[2, 1]), 0.03)  # outer upper lip to the subnasale
        chin = max(float(c[152, 1] - ol[mid]), 0.05)  # outer lower lip to the chin
        a = ou - SKIN_ABOVE * nose
        b = ol + SKIN_BELOW * chin
        f32 = (lambda v: np.asarray(v, np.float32))
        return cls(xs, *(f32(v) for v in (a, ou, yu, yu + MEET * gap, yl, ol, b, over)))

    def _columns(self, x: np.ndarray) -> list[np.ndarray]:
        return [np.interp(x, self.xs, v) for v in (self.a, self.ou, self.yu, self.m, self.yl, self.ol, self.b, self.over)]

    def landmark_delta(self, neutral: np.ndarray) -> np.ndarray:
        """(N, 3) canonical motion of every point at full closure (the forward map): inner lips
        onto the seam, the lips' bodies after them, the skin beyond stretched."""
        c = np.asarray(neutral, np.float64)
        x, y = c[:, 0], c[:, 1]
        inside = (x >= self.xs[0]) & (x <= self.xs[-1])
        a, ou, yu, m, yl, ol, b, ov = self._columns(x)
        us, ls = yu - ov, yl + ov
        ou_t, ol_t = ou + LIP_BODY * (m - yu), ol - LIP_BODY * (yl - m)
        new = y.copy()
        for lo_s, hi_s, lo_t, hi_t in ((a, ou, a, ou_t), (ou, us, ou_t, m), (ls, ol, m, ol_t), (ol, b, ol_t, b)):
            sel = inside & (y > lo_s) & (y <= hi_s)
            new[sel] = (lo_t + (y - lo_s) * (hi_t - lo_t) / np.maximum(hi_s - lo_s, 1e-9))[sel]
        sel = inside & (y > us) & (y <= ls)
        new[sel] = m[sel]
        d = np.zeros_like(c)
        d[:, 1] = new - y
        # Where the lips meet they meet in depth too: a pitched head projects the inner lips
        # apart otherwise, and the mouth layer would paint a sliver between them.
        lower = (LIP_INNER_UPPER[0], *LIP_INNER_LOWER, LIP_INNER_UPPER[-1])
        z_meet = (_curve(c, LIP_INNER_UPPER, x, axis=2) + _curve(c, lower, x, axis=2)) / 2
        d[sel, 2] = (z_meet - c[:, 2])[sel]
        return d


class LipSeal:
    """Per-frame pixel side of the seal: re-samples the mouth's box of the warped frame with the
    warp's source map composed with the seal's backward map (neutral output pixels)."""

    def __init__(self, profile: SealProfile, to_canon: np.ndarray, face_px: float) -> None:
        self.p = profile
        self.to_canon = np.asarray(to_canon, np.float32)  # (2, 3) neutral output px -> canonical
        # canonical +y as an output-pixel vector: the column of the inverse linear part
        self.y_dir = np.linalg.inv(self.to_canon[:, :2].astype(np.float64))[:, 1].astype(np.float32)
        self.face_px = float(face_px)
        # the seam's shadow fades out towards the corners, where the photo's own corners show
        self._seam_ramp = np.clip((profile.yl - profile.yu) / 0.02, 0.0, 1.0).astype(np.float32)
        self._per_col = float((N_COLUMNS - 1) / max(profile.xs[-1] - profile.xs[0], 1e-9))
        # How far the remapped band reaches beyond the inner lips (face widths), for the box.
        self.reach_up = float(np.max(profile.yu - profile.a)) + 0.03
        self.reach_down = float(np.max(profile.b - profile.yl)) + 0.03

    def _segments(self, s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per column at closure ``s``: the target knots (6, N) and the backward map's offset and
        slope (7, N) on each interval they bound (source y = off + slope * target y)."""
        p = self.p
        ut, lt = p.yu + s * (p.m - p.yu), p.yl + s * (p.m - p.yl)  # where the inner edges are drawn
        us, ls = p.yu - s * p.over, p.yl + s * p.over  # the photo rows drawn there
        ou_t, ol_t = p.ou + s * LIP_BODY * (p.m - p.yu), p.ol - s * LIP_BODY * (p.yl - p.m)
        one, zero = np.ones_like(p.a), np.zeros_like(p.a)

        def lin(lo_t, hi_t, lo_s, hi_s):
            k = (hi_s - lo_s) / np.maximum(hi_t - lo_t, 1e-9)
            return lo_s - k * lo_t, k

        # above the band, (a, ou_t] -> (a, ou], (ou_t, ut] -> (ou, us], the teeth between the
        # inner edges where they are (covered as the lips close over them), (lt, ol_t] -> (ls, ol],
        # (ol_t, b] -> (ol, b], below the band
        parts = [(zero, one), lin(p.a, ou_t, p.a, p.ou), lin(ou_t, ut, p.ou, us), (zero, one),
                 lin(lt, ol_t, ls, p.ol), lin(ol_t, p.b, p.ol, p.b), (zero, one)]
        knots = np.stack([p.a, ou_t, ut, lt, ol_t, p.b]).astype(np.float32)
        off = np.stack([o for o, _ in parts]).astype(np.float32)
        slope = np.stack([k for _, k in parts]).astype(np.float32)
        return knots, off, slope

    def backward(self, src: np.ndarray, s: float) -> tuple[np.ndarray, np.ndarray | None]:
        """src (..., 2) neutral output px, as seen through closure ``s`` -> photo px; and the seam
        shade factor (...) for those pixels (None below SEAM_FROM).

        Each pixel takes its nearest column (N_COLUMNS across the mouth: a fraction of a pixel
        apart) and its interval between that column's knots; the end columns are the identity
        (no gap at the corners), so pixels beside the mouth come out unmoved."""
        p = self.p
        t = self.to_canon
        cx = src[..., 0] * t[0, 0] + src[..., 1] * t[0, 1] + t[0, 2]
        cy = src[..., 0] * t[1, 0] + src[..., 1] * t[1, 1] + t[1, 2]
        col = np.clip(np.rint((cx - p.xs[0]) * self._per_col), 0, N_COLUMNS - 1).astype(np.intp)
        knots, off, slope = self._segments(s)
        seg = np.zeros(cy.shape, np.uint8)  # the interval: how many knots lie above the pixel
        for k in knots:  # 1-D takes: a (6, ...) fancy index and a sum over it cost 8x more
            seg += cy > k.take(col)
        idx = seg.astype(np.intp) * N_COLUMNS + col
        new = off.ravel().take(idx) + slope.ravel().take(idx) * cy
        out = src + (new - cy)[..., None] * self.y_dir
        if s <= SEAM_FROM:
            return out, None
        strength = SEAM_SHADE * min((s - SEAM_FROM) / (1.0 - SEAM_FROM), 1.0)
        d = (cy - p.m.take(col)) * (self.face_px / SEAM_PX)
        return out, 1.0 - (strength * self._seam_ramp).take(col) * np.exp(-(d * d))

    def redraw(self, out: np.ndarray, base: np.ndarray, source_map: np.ndarray, roi: tuple[int, int, int, int],
               box: tuple[int, int, int, int], s: float) -> None:
        """Re-sample ``out`` in ``box`` (output px, inside ``roi``, whose map is ``source_map``)."""
        x0, y0, x1, y1 = box
        rx, ry = roi[:2]
        sub = source_map[y0 - ry:y1 - ry, x0 - rx:x1 - rx]
        src, shade = self.backward(sub, s)
        region = out[y0:y1, x0:x1]
        cv2.remap(base, src, None, cv2.INTER_LINEAR, dst=region, borderMode=cv2.BORDER_REPLICATE)
        if shade is not None:
            region[:] = (region * shade[..., None] + 0.5).astype(np.uint8)
