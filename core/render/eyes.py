"""Eye layer: irises that move inside the eye opening, and lids that close over the eye.

A warp would squash the iris and lashes into a smear when the lid comes down (FACTS.md), so the
warp leaves the eye opening alone for blinks, squints and gaze, and this layer paints, in a small
region per eye: the eyeball (sclera with the iris inpainted away, then the iris sprite at its new
place), clipped by the target lids; lid skin over what the lids now cover; a lash line on the new
lid edge. Trade-off: the lid is a flat skin colour with a shaded edge, not a textured lid.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .bases import EYE_CORNERS, EYE_LOWER, EYE_UPPER, IRIS, ExpressionBases
from .face_frame import FaceFrame
from .mouth import _poly_mask

SIDES = ("Left", "Right")


def _opening(side: str) -> tuple[int, ...]:
    outer, inner = EYE_CORNERS[side]
    return (outer,) + EYE_UPPER[side] + (inner,) + tuple(reversed(EYE_LOWER[side]))


def _upper_line(side: str) -> tuple[int, ...]:
    outer, inner = EYE_CORNERS[side]
    return (outer,) + EYE_UPPER[side] + (inner,)


@dataclass
class _Eye:
    side: str
    channel_idx: np.ndarray  # channels that make this eye's layer necessary
    gaze_idx: np.ndarray  # channels that move the iris
    iris_sprite: np.ndarray  # premultiplied float32 RGBA, centre at (r, r)
    iris_r: int
    upper_skin: np.ndarray  # (3,) float32
    lower_skin: np.ndarray
    lash: np.ndarray
    lash_px: int


@dataclass
class EyeLayer:
    eyes: list[_Eye]
    sclera: np.ndarray  # the base picture with both irises inpainted away
    face_px: float

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
            hole = ((disc > 0) & (inside > 0)).astype(np.uint8) * 255
            sclera[y0:y1, x0:x1] = cv2.inpaint(patch, hole, 3, cv2.INPAINT_TELEA)
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
            # Colours: lid skin just above the upper lid and below the lower lid, lashes on the lid.
            up = pts[list(EYE_UPPER[side]), :2]
            lo = pts[list(EYE_LOWER[side]), :2]
            upper_skin = _sample(base, [up[1:-1] + (0, -k * f) for k in (0.045, 0.06, 0.075)], "bright")
            lower_skin = _sample(base, [lo[1:-1] + (0, k * f) for k in (0.03, 0.045)], "bright")
            lash = _sample(base, [up + (0, k * f) for k in (0.0, 0.005, 0.01)], "dark")
            names = [f"eyeBlink{side}", f"eyeSquint{side}", f"cheekSquint{side}"]
            gaze = [f"eyeLook{d}{side}" for d in ("In", "Out", "Up", "Down")]
            idx = np.array([bases.index(c) for c in names + gaze if c in bases.channels])
            gidx = np.array([bases.index(c) for c in gaze if c in bases.channels])
            eyes.append(_Eye(side, idx, gidx, spr, ri, upper_skin, lower_skin, lash, max(1, int(round(0.012 * f)))))
        return cls(eyes, sclera, float(f))

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
            # Lids: skin over what the warped opening showed and the target opening hides. The
            # warped upper lid is raised by a lash width so the photo's own lashes are covered.
            n_up = len(EYE_UPPER[eye.side]) + 2
            closing = float(np.mean(target[1:n_up - 1, 1] - warped[1:n_up - 1, 1]))
            if closing > 0.3 or np.any(target[n_up:, 1] < warped[n_up:, 1] - 0.3):
                lifted = warped.copy()
                lifted[1:n_up - 1, 1] -= min(closing, 1.5 * eye.lash_px)
                m_w = _poly_mask(shape, lifted - origin).astype(np.float32) * (1 / 255)
                # grow the covered area by a pixel so the photo's own lid margins do not ring it
                m_w = cv2.dilate(m_w, np.ones((3, 3), np.uint8))
                skin = cv2.GaussianBlur(np.clip(m_w - m_t, 0, 1), (3, 3), 0)
                xs = np.arange(shape[1], dtype=np.float32) + x0
                tu = target[:n_up]
                tl = np.vstack([target[:1], target[n_up:][::-1], target[n_up - 1:n_up]])
                o_u, o_l = np.argsort(tu[:, 0]), np.argsort(tl[:, 0])
                mid = (np.interp(xs, tu[o_u, 0], tu[o_u, 1]) + np.interp(xs, tl[o_l, 0], tl[o_l, 1])) / 2 - y0
                ys = np.arange(shape[0], dtype=np.float32)[:, None]
                is_up = (ys < mid[None, :])[..., None]
                colour = np.where(is_up, eye.upper_skin, eye.lower_skin)
                # a soft shadow just above the new lid edge
                edge = np.clip(1 - np.abs(ys - (mid[None, :] - 0.5)) / max(2.0, 0.02 * self.face_px), 0, 1)
                colour = colour * (1 - 0.12 * edge[..., None])
                cur = cur * (1 - skin[..., None]) + colour * skin[..., None]
                region[:] = (cur + 0.5).astype(np.uint8)
                if closing > 0.5:
                    line = np.round((target[:n_up] - origin) * 16).astype(np.int32)
                    col = tuple(float(c) for c in eye.lash)
                    lashes = region.copy()
                    cv2.polylines(lashes, [line], False, col, eye.lash_px, cv2.LINE_AA, 4)
                    cv2.addWeighted(lashes, 0.75, region, 0.25, 0.0, dst=region)
            else:
                region[:] = (cur + 0.5).astype(np.uint8)
            drawn += 1
        return drawn


def _sample(image: np.ndarray, point_sets: list[np.ndarray], how: str) -> np.ndarray:
    pts = np.vstack(point_sets)
    h, w = image.shape[:2]
    xi = np.clip(np.round(pts[:, 0]).astype(int), 0, w - 1)
    yi = np.clip(np.round(pts[:, 1]).astype(int), 0, h - 1)
    px = image[yi, xi].astype(np.float32)
    if how == "bright":  # lid skin: skip crease shadows and lashes
        lum = px.mean(1)
        keep = (lum >= np.percentile(lum, 30)) & (lum <= np.percentile(lum, 80))
        return px[keep].mean(0) * 0.96
    if how == "dark":
        lum = px.mean(1)
        px = px[lum <= np.percentile(lum, 30)]
        return px.mean(0) * 0.85
    return np.median(px, 0)
