"""Eye layer: irises that move inside the eye opening, and lids that close over the eye.

A warp would squash the iris and lashes into a smear when the lid comes down, so the
warp leaves the eye opening alone for blinks, squints and gaze, and this layer paints, in a small
region per eye: the eyeball (sclera with the iris inpainted away, then the iris sprite at its new
place), clipped by the target lids; then the lids slide over it: the photo's own skin above the
lid, lashes included, is stretched down to the new lid line. Trade-off: a fully closed lid is
skin stretched about twice, a little smoother than real lid skin.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..mesh_index import EYE_CORNERS, EYE_LOWER, EYE_UPPER, IRIS
from .bases import ExpressionBases
from .face_frame import FaceFrame
from .mouth import _poly_mask

SIDES = ("Left", "Right")


def _opening(side: str) -> tuple[int, ...]:
    outer, inner = EYE_CORNERS[side]
    return (outer,) + EYE_UPPER[side] + (inner,) + tuple(reversed(EYE_LOWER[side]))


def _upper_line(side: str) -> tuple[int, ...]:
    outer, inner = EYE_CORNERS[side]
    return (outer,) + EYE_UPPER[side] + (inner,)


def _smooth(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return x * x * (3 - 2 * x)


def _fill_sclera(patch: np.ndarray, hole: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """The eyeball without its iris: each row of the hole interpolated between the white of the
    eye either side of it; rows with no white beside them (under the lid margin) take the
    nearest filled row's tone, a little shaded, as the lid shades the top of the eyeball.
    Inpainting from the whole border (cv2.INPAINT_TELEA) pulled lid skin into the middle: a moved
    iris left a skin-coloured patch, and interpolating between any pixels beside the hole ran
    the dark lid margin down over it; the iris model read either as a lower lid."""
    out = patch.astype(np.float32)
    lum = out.mean(2)
    rest = inside & ~hole
    if rest.sum() < 6:
        return cv2.inpaint(patch, hole.astype(np.uint8) * 255, 3, cv2.INPAINT_TELEA)
    white = rest & (lum >= np.percentile(lum[rest], 50))  # the white, not lashes or corners
    rows = np.flatnonzero(hole.any(1))
    tone: dict[int, np.ndarray] = {}
    for y in rows:
        cols = np.flatnonzero(hole[y])
        ok = np.flatnonzero(white[y])
        # A few pixels either side, by their median: one pixel alone may be a highlight.
        left, right = ok[ok < cols[0]][-4:], ok[ok > cols[-1]][:4]
        if not len(left) and not len(right):
            continue
        a = np.median(out[y, left], 0) if len(left) else np.median(out[y, right], 0)
        b = np.median(out[y, right], 0) if len(right) else a
        xa = left.mean() if len(left) else cols[0] - 1.0
        xb = right.mean() if len(right) else cols[-1] + 1.0
        t = np.clip((cols - xa) / max(xb - xa, 1.0), 0.0, 1.0)[:, None]
        out[y, cols] = a * (1 - t) + b * t
        tone[int(y)] = out[y, cols].mean(0)
    done = np.array(sorted(tone))
    for y in rows:
        if int(y) in tone:
            continue
        if len(done):
            near = int(done[np.argmin(np.abs(done - y))])
            out[y, hole[y]] = tone[near] * (0.85 if y < near else 0.95)
        else:
            out[y, hole[y]] = out[white].mean(0) * 0.9
    # Rows filled one by one would leave streaks: soften across them, inside the hole only.
    smooth = cv2.GaussianBlur(out, (3, 3), 0)
    out[hole] = smooth[hole]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


@dataclass
class _Eye:
    side: str
    channel_idx: np.ndarray  # channels that make this eye's layer necessary
    gaze_idx: np.ndarray  # channels that move the iris
    iris_sprite: np.ndarray  # premultiplied float32 RGBA, centre at (r, r)
    iris_r: int
    lid_skin: np.ndarray  # (3,) float32: the lid's skin tone, without crease shadow or lashes
    lash: np.ndarray  # (3,) float32: the lash line's colour (the darkest of the upper lid margin)
    blink_idx: int  # this eye's eyeBlink channel, or -1


@dataclass
class EyeLayer:
    eyes: list[_Eye]
    sclera: np.ndarray  # the base picture with both irises inpainted away
    face_px: float
    lid_band_up: float  # px of skin above the upper lid that slides down with it
    lid_band_lo: float
    lash_band: float  # px at the lid edge (lashes, lid margin) that move without stretching

    @classmethod
    def build(cls, base: np.ndarray, pts: np.ndarray, neutral: np.ndarray, frame: FaceFrame,
              bases: ExpressionBases) -> "EyeLayer":
        f = frame.scale
        h, w = base.shape[:2]
        sclera = base.copy()
        eyes = []
        for side in SIDES:
            opening = pts[list(_opening(side)), :2]
            iris_c = pts[IRIS[side][0], :2]
            r = float(np.linalg.norm(pts[list(IRIS[side][1:]), :2] - iris_c, axis=1).mean())
            r = max(r, 2.0)
            # Inpaint the iris out of the eyeball, within the opening's box.
            x0, y0 = np.floor(np.minimum(opening.min(0), iris_c - r) - 4).astype(int)
            x1, y1 = np.ceil(np.maximum(opening.max(0), iris_c + r) + 5).astype(int)
            x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
            patch = base[y0:y1, x0:x1]
            disc = np.zeros(patch.shape[:2], np.uint8)
            cv2.circle(disc, tuple(int(v) for v in np.round(iris_c - (x0, y0))), int(np.ceil(r * 1.15)), 255, -1)
            inside = _poly_mask(patch.shape[:2], opening - (x0, y0))
            hole = (disc > 0) & (inside > 0)
            sclera[y0:y1, x0:x1] = _fill_sclera(patch, hole, inside > 127)
            # The iris sprite: the visible part of the iris, its hidden part (under the lids)
            # filled from the visible part, with a soft round edge.
            ri = int(np.ceil(r * 1.1)) + 1
            cx, cy = iris_c
            m = np.array([[1, 0, ri - cx], [0, 1, ri - cy]], np.float32)
            sprite = cv2.warpAffine(base, m, (2 * ri + 1, 2 * ri + 1), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_REPLICATE)
            vis = cv2.warpAffine(_poly_mask((h, w), opening), m, (2 * ri + 1, 2 * ri + 1), flags=cv2.INTER_LINEAR)
            hidden = (vis < 128).astype(np.uint8) * 255
            if hidden.any() and (hidden == 0).any():
                sprite = cv2.inpaint(sprite, hidden, 3, cv2.INPAINT_TELEA)
            yy, xx = np.mgrid[0:2 * ri + 1, 0:2 * ri + 1]
            dist = np.sqrt((xx - ri) ** 2 + (yy - ri) ** 2)
            alpha = np.clip(r + 0.5 - dist, 0, 1).astype(np.float32)
            spr = np.dstack([sprite.astype(np.float32) * alpha[..., None], alpha])
            names = [f"eyeBlink{side}", f"eyeSquint{side}", f"cheekSquint{side}"]
            gaze = [f"eyeLook{d}{side}" for d in ("In", "Out", "Up", "Down")]
            idx = np.array([bases.index(c) for c in names + gaze if c in bases.channels])
            gidx = np.array([bases.index(c) for c in gaze if c in bases.channels])
            up = pts[list(EYE_UPPER[side]), :2]
            band = np.vstack([up + (0, -k * f) for k in (0.02, 0.03, 0.04, 0.05)])
            xi = np.clip(np.round(band[:, 0]).astype(int), 0, w - 1)
            yi = np.clip(np.round(band[:, 1]).astype(int), 0, h - 1)
            px = base[yi, xi].astype(np.float32)
            lum = px.mean(1)
            skin = px[lum >= np.percentile(lum, 60)].mean(0)  # skip crease shadow and lashes
            # The lash line: the darkest quarter of the upper lid margin (lashes, not skin).
            margin = np.vstack([up + (0, -k * f) for k in (0.0, 0.004, 0.008)])
            mx = np.clip(np.round(margin[:, 0] - 0.5).astype(int), 0, w - 1)
            my = np.clip(np.round(margin[:, 1] - 0.5).astype(int), 0, h - 1)
            mp = base[my, mx].astype(np.float32)
            ml = mp.mean(1)
            lash = mp[ml <= np.percentile(ml, 25)].mean(0)
            blink = bases.index(f"eyeBlink{side}") if f"eyeBlink{side}" in bases.channels else -1
            eyes.append(_Eye(side, idx, gidx, spr, ri, skin.astype(np.float32), lash.astype(np.float32), blink))
        return cls(eyes, sclera, float(f), 0.05 * f, 0.035 * f, 0.012 * f)

    def draw(self, out: np.ndarray, pts: dict, warp_pts: dict, weights: np.ndarray,
             source_map: np.ndarray, roi: tuple[int, int, int, int]) -> int:
        """Paint each eye whose lids or gaze moved. pts: target landmarks (output px) by index;
        warp_pts: where the warp put the eye-opening points. Returns how many eyes were drawn."""
        drawn = 0
        h, w = out.shape[:2]
        for eye in self.eyes:
            if not np.any(weights[eye.channel_idx] > 1e-3):
                continue
            target = np.array([pts[i][:2] for i in _opening(eye.side)], np.float32)
            warped = np.array([warp_pts[i][:2] for i in _opening(eye.side)], np.float32)
            iris_c = pts[IRIS[eye.side][0]][:2]
            lo = np.minimum(np.minimum(target.min(0), warped.min(0)), iris_c - eye.iris_r)
            hi = np.maximum(np.maximum(target.max(0), warped.max(0)), iris_c + eye.iris_r)
            x0, y0 = np.floor(lo).astype(int) - 3
            x1, y1 = np.ceil(hi).astype(int) + 4
            x0, y0 = max(x0, roi[0]), max(y0, roi[1])
            x1, y1 = min(x1, roi[2], w), min(y1, roi[3], h)
            if x1 - x0 < 3 or y1 - y0 < 3:
                continue
            shape = (y1 - y0, x1 - x0)
            origin = np.array([x0, y0], np.float32)
            region = out[y0:y1, x0:x1]
            cur = region.astype(np.float32)
            m_t = _poly_mask(shape, target - origin).astype(np.float32) * (1 / 255)
            if np.any(weights[eye.gaze_idx] > 1e-3):
                # Eyeball: the warped sclera (iris removed), then the iris at its new place.
                sub = np.ascontiguousarray(source_map[y0 - roi[1]:y1 - roi[1], x0 - roi[0]:x1 - roi[0]])
                ball = cv2.remap(self.sclera, sub, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
                t = iris_c - origin - eye.iris_r
                m = np.array([[1, 0, t[0]], [0, 1, t[1]]], np.float32)
                spr = cv2.warpAffine(eye.iris_sprite, m, (shape[1], shape[0]), flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_CONSTANT)
                ball = ball * (1 - spr[..., 3:]) + spr[..., :3]
                cur = cur * (1 - m_t[..., None]) + ball * m_t[..., None]
            # Lids: the skin above the lid (with its lashes at the bottom) slides down over the
            # eyeball: the band from a fixed line above the lid to the warped lid is stretched
            # to reach the target lid. The lower lid rises the same way. Lashes travel with
            # the lid, the iris is covered, not squashed, and the brow stays put.
            n_up = len(EYE_UPPER[eye.side]) + 2
            xs = np.arange(x0, x1, dtype=np.float32)
            tu, wu = target[:n_up], warped[:n_up]
            tl = np.vstack([target[:1], target[n_up:][::-1], target[n_up - 1:n_up]])
            wl = np.vstack([warped[:1], warped[n_up:][::-1], warped[n_up - 1:n_up]])

            def curve(pts: np.ndarray) -> np.ndarray:
                o = np.argsort(pts[:, 0])
                return np.interp(xs, pts[o, 0], pts[o, 1]).astype(np.float32) - y0

            t_up, w_up, t_lo, w_lo = curve(tu), curve(wu), curve(tl), curve(wl)
            span = (xs >= min(tu[:, 0].min(), wu[:, 0].min())) & (xs <= max(tu[:, 0].max(), wu[:, 0].max()))
            down = np.where(span, np.maximum(t_up - w_up, 0.0), 0.0)
            up = np.where(span, np.maximum(w_lo - t_lo, 0.0), 0.0)
            shut = float(weights[eye.blink_idx]) if eye.blink_idx >= 0 else 0.0
            if down.max() > 0.3 or up.max() > 0.3:
                cur = self._lids(cur, eye, shape, span, t_up, w_up, t_lo, w_lo, down, up, shut, xs - x0)
            region[:] = np.clip(cur + 0.5, 0, 255).astype(np.uint8)
            drawn += 1
        return drawn

    def _lids(self, cur: np.ndarray, eye: _Eye, shape: tuple[int, int], span: np.ndarray, t_up: np.ndarray,
              w_up: np.ndarray, t_lo: np.ndarray, w_lo: np.ndarray, down: np.ndarray, up: np.ndarray,
              shut: float, cols: np.ndarray) -> np.ndarray:
        """The lids as two layers over the eyeball, each a remap of the photo's own lid (the skin
        above the upper lid stretched down to the target line, its lash band moved intact; the
        lower lid the same upside down), each laid on with its pixel coverage at the target edge,
        so the edge is anti-aliased rather than a per-row step. Rows are in region pixels."""
        ys = np.arange(shape[0], dtype=np.float32)[:, None]
        lash = self.lash_band
        gap = t_lo - t_up
        # Columns where a lid does not move map onto themselves (k = 1), so no per-column gate
        # is needed: a gate drew a kink where it switched on near the corners.
        # Where the target lids come within a pixel and a half of each other the upper lid
        # overlaps the lower: a shut eye shows no slit of white between two interpolated lines.
        # The overlap tapers to nothing at the corners, where the lids meet anyway (a uniform
        # one drew a kink where the lid's span began).
        over = 1.5
        if span.any():
            xa, xb = cols[span].min(), cols[span].max()
            ends = np.clip(np.minimum(cols - xa, xb - cols) / max(0.25 * (xb - xa), 1.0), 0.0, 1.0) * span
            ends = ends * ends * (3 - 2 * ends)
            t_up = t_up + np.clip(over - gap, 0.0, over) * ends * _smooth(2.0 * shut - 1.0)
        b_up = w_up - self.lid_band_up
        b_lo = w_lo + self.lid_band_lo
        map_x = np.ascontiguousarray(np.broadcast_to(np.arange(shape[1], dtype=np.float32)[None, :], shape))
        out = cur
        if up.max() > 0.3:
            k = (b_lo - w_lo - lash) / np.maximum(b_lo - t_lo - lash, 1e-3)
            src = np.where(ys <= t_lo + lash, ys + (w_lo - t_lo), b_lo - (b_lo - ys) * k)
            src = np.where((ys >= t_lo - 1) & (ys <= b_lo) & span, src, ys).astype(np.float32)
            lower = cv2.remap(cur, map_x, src, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            a = np.clip(ys + 0.5 - t_lo, 0.0, 1.0) * span  # row ys is sampled at ys, as by the remap
            out = out + (lower - out) * a[..., None]
        if down.max() > 0.3:
            k = (w_up - lash - b_up) / np.maximum(t_up - lash - b_up, 1e-3)
            src = np.where(ys >= t_up - lash, ys - (t_up - w_up), b_up + (ys - b_up) * k)
            sel = (ys >= b_up) & (ys <= t_up + 1) & span
            src = np.where(sel, src, ys).astype(np.float32)
            lid = cv2.remap(cur, map_x, src, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            # The stretched crease reads as a second lid edge where the lid now covers the eye:
            # its local mean moves towards the lid's skin tone while its texture (the detail
            # above a 2 px blur) stays, so the lid is skin, not a flat patch. (A shade towards
            # the lash line was tried: it hid the lid margin from core/face/lid_track.py.)
            cover = ((ys >= w_up - 1) & (ys < t_up - lash) & sel).astype(np.float32)
            cover = cv2.GaussianBlur(cover, (3, 3), 0)[..., None] * 0.65
            mean = cv2.GaussianBlur(lid, (0, 0), 2.0)
            lid = lid + cover * (eye.lid_skin - mean)
            a = np.clip(t_up - ys + 0.5, 0.0, 1.0) * span
            out = out + (lid - out) * a[..., None]
        if shut > 0.5:
            # Where the lids meet, their lashes make one dark line from corner to corner (a lash
            # band stretched along a lid that nearly closes thins to a broken thread): a band of
            # the lash colour just above the upper lid's edge, covered per pixel (anti-aliased),
            # thickest in the middle and thinning towards the corners, as lashes do.
            xa, xb = cols[span].min(), cols[span].max()
            taper = np.clip(np.minimum(cols - xa, xb - cols) / max(0.3 * (xb - xa), 1.0), 0.35, 1.0) * span
            half = 0.5 * max(lash, 1.0) * taper
            centre = t_up - half
            ink = np.clip(half + 0.5 - np.abs(ys + 0.5 - centre), 0.0, 1.0) * (0.85 * _smooth((shut - 0.5) / 0.5))
            out = out + (eye.lash - out) * ink[..., None]
        return out
