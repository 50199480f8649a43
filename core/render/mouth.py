"""Mouth interior layer: the cavity, the teeth and the tongue that a warp cannot invent.

Drawn inside the target inner-lip polygon only, in a small region of interest. Upper teeth are
fixed to the skull (they move with the head pose only), lower teeth and tongue ride on the jaw.
A portrait that shows its teeth gives its own pixels (upper half of its mouth opening to the upper
teeth, lower half to the lower); a closed-mouth portrait gets synthesised teeth, shaded from the
portrait's lip and skin colours. Trade-off: sprites are flat 2D cut-outs, convincing at speech
openings, flatter than life at a full yawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..mesh_index import EYE_CORNERS, EYE_LOWER, EYE_UPPER, LIP_INNER_LOWER, LIP_INNER_UPPER, LIP_OUTER_LOWER, LIP_OUTER_UPPER
from .bases import ExpressionBases, FaceGeometry
from .face_frame import FaceFrame

# Inner-lip polygon in drawing order: upper lip corner to corner, then the lower lip back.
POLYGON = LIP_INNER_UPPER + tuple(reversed(LIP_INNER_LOWER))
MOUTH_CHANNELS = (
    "jawOpen", "jawLeft", "jawRight", "jawForward", "mouthClose", "mouthFunnel", "mouthPucker",
    "mouthLeft", "mouthRight", "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight", "mouthRollLower",
    "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthPressLeft", "mouthPressRight",
    "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft", "mouthUpperUpRight",
)
JAW_CHANNELS = ("jawOpen", "jawLeft", "jawRight", "jawForward")
SUBPIXEL = 4  # fillPoly shift: polygons are drawn at 1/16 px precision
LOWER_TEETH_TRAVEL = 0.8


def _outline_matrix(k: int = 4) -> np.ndarray:
    """(k n, n) matrix: POLYGON-ordered points -> the smooth closed outline (one matmul a frame).

    A closed uniform cubic B-spline: it approximates the landmarks rather than passing through
    them (a Catmull-Rom curve through them kept their kinks: at a wide jaw the landmarks
    themselves lie on a hexagon). It rounds every kink, the mouth corners included, so a wide
    opening reads as an oval; a narrow one loses a pixel at each corner,
    where the lips meet anyway."""
    n = len(POLYGON)
    m = np.zeros((k * n, n), np.float32)
    for span in range(n):
        for j in range(k):
            t = j / k
            w = np.array([(1 - t) ** 3, 3 * t**3 - 6 * t**2 + 4, -3 * t**3 + 3 * t**2 + 3 * t + 1, t**3]) / 6
            for off, wi in zip((-1, 0, 1, 2), w):
                m[span * k + j, (span + off) % n] += wi
    return m


_OUTLINE = _outline_matrix()


def _smooth_outline(poly: np.ndarray) -> np.ndarray:
    """POLYGON-ordered points (20, 2) -> the smooth closed outline of the opening."""
    return _OUTLINE @ np.asarray(poly, np.float32)


def _poly_mask(shape: tuple[int, int], poly: np.ndarray) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(poly * (1 << SUBPIXEL)).astype(np.int32)], 255, cv2.LINE_AA, SUBPIXEL)
    return mask


@dataclass
class MouthLayer:
    """Sprites (premultiplied float32 RGBA, in the neutral output's pixel grid offset by ``origin``)."""

    origin: np.ndarray  # (2,) output pixel of sprite pixel (0, 0)
    upper: np.ndarray  # (h, w, 4)
    lower: np.ndarray  # (h, w, 4) lower teeth and tongue
    cavity: np.ndarray  # (3,) float32 colour
    channel_idx: np.ndarray  # indices into the bases' channels that open or move the mouth
    jaw_delta: np.ndarray  # (C, 3) canonical motion of the lower incisors per unit weight
    to_canon: np.ndarray  # (2, 3) neutral output px -> canonical xy
    z: float  # canonical depth of the teeth
    real_teeth: bool
    face_px: float

    @classmethod
    def build(cls, base: np.ndarray, pts: np.ndarray, neutral: np.ndarray, frame: FaceFrame,
              bases: ExpressionBases, geo: FaceGeometry) -> "MouthLayer":
        f = frame.scale
        h_img, w_img = base.shape[:2]
        poly = pts[list(POLYGON), :2]
        outer = pts[list(LIP_OUTER_UPPER) + list(reversed(LIP_OUTER_LOWER)), :2]
        pad = 0.25 * f
        x0, y0 = np.floor(outer.min(0) - pad).astype(int)
        x1, y1 = np.ceil(outer.max(0) + pad).astype(int)
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w_img), min(y1, h_img)
        origin = np.array([x0, y0], np.float32)
        crop = base[y0:y1, x0:x1].astype(np.float32)
        shape = crop.shape[:2]
        local = poly - origin
        inner = _poly_mask(shape, _smooth_outline(local)).astype(np.float32) / 255
        lips = _poly_mask(shape, outer - origin).astype(np.float32) / 255 * (1 - inner)
        lip_rgb = (crop * lips[..., None]).sum((0, 1)) / max(lips.sum(), 1.0)
        cavity = (lip_rgb * np.array([0.26, 0.11, 0.1])).astype(np.float32)
        gap = float(pts[14, 1] - pts[13, 1])
        real = gap > 0.03 * f and inner.sum() > 0.002 * f * f

        ys, xs = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
        xu = local[: len(LIP_INNER_UPPER)]
        xl = local[len(LIP_INNER_UPPER) - 1:]  # starts at the corner 308, back to 78
        ou, ol = np.argsort(xu[:, 0]), np.argsort(xl[:, 0])
        top = np.interp(xs[0], xu[ou, 0], xu[ou, 1])  # inner upper lip y per column
        bot = np.interp(xs[0], xl[ol, 0], xl[ol, 1])
        left, right = local[:, 0].min(), local[:, 0].max()
        half = max((right - left) / 2, 1.0)
        cx = (left + right) / 2
        u = np.clip((xs - cx) / half, -1.2, 1.2)  # -1..1 corner to corner
        tongue = _tongue(lip_rgb, xs, ys, bot, f)
        if real:
            # Teeth fill most of a smiling mouth: the top 70 % of the opening is upper teeth.
            # Each sprite is extended behind its lip by repeating its edge row, so that a lip
            # that lifts reveals more tooth instead of a hole.
            split = top + 0.7 * (bot - top)
            cols = np.arange(shape[1])
            up_rgb = crop.copy()
            lo_rgb = crop.copy()
            # The upper teeth's edge row, per column: the brightest, least red row a little below
            # the inner-lip landmark. The landmark sits on the lip's own margin a pixel or few
            # above the teeth, so a fixed row under it drew lip colour up the revealed teeth
            # (a pink smear when the upper lip lifts). A tooth's vertical structure, the gaps
            # between teeth included, carries on under the lip.
            n_rows = max(2, int(0.05 * f))
            win = np.clip(np.round(top).astype(int)[None, :] + np.arange(n_rows)[:, None], 0, shape[0] - 1)
            px = crop[win, cols]  # (n_rows, w, 3)
            score = px.mean(-1) - 1.5 * (px[..., 0] - px[..., 2])
            row_top = win[np.argmax(score, 0), cols].astype(np.float32)
            k_box = max(3, int(0.04 * f) | 1)  # one edge line, not a tooth-by-tooth comb
            row_top = cv2.blur(row_top[None, :], (k_box, 1), borderType=cv2.BORDER_REPLICATE)[0]
            row_top = np.clip(np.round(row_top).astype(int), 0, shape[0] - 1)
            edge_bot = np.clip(np.round(bot - 2).astype(int), 0, shape[0] - 1)
            above = ys < row_top[None, :]
            below = ys > bot[None, :] - 2
            up_rgb[above] = np.broadcast_to(crop[row_top, cols][None], crop.shape)[above]
            lo_rgb[below] = np.broadcast_to(crop[edge_bot, cols][None], crop.shape)[below]
            # Beyond the photo's own teeth lie their crowns, then gum: a lifted lip shows more
            # tooth first (a flat lip-coloured gum band right at the lip's old line read as lip
            # smeared over the teeth), then gum that darkens into the lip's shadow.
            gum = np.clip(lip_rgb * np.array([0.92, 0.62, 0.64]), 0, 255).astype(np.float32)
            rise = np.clip((row_top[None, :] - ys) / (0.06 * f), 0, 1)
            fade_up = np.clip(rise * 2.5 - 1.0, 0, 1)[..., None]  # tooth to ~40 % of the rise
            fade_lo = np.clip((ys - (bot[None, :] - 2)) / (0.025 * f), 0, 1)[..., None]
            up_rgb = up_rgb * (1 - fade_up) + gum * fade_up * (1 - 0.3 * rise)[..., None]
            lo_rgb = lo_rgb * (1 - fade_lo) + gum * 0.85 * fade_lo
            span = (np.abs(u) <= 0.95) & (ys > top[None, :] - 0.04 * f) & (ys < bot[None, :] + 0.04 * f)
            a_up = np.maximum(inner, span * (ys <= top[None, :] + 1)) * (ys <= split[None, :])
            a_lo = np.maximum(inner, span * (ys >= bot[None, :] - 1)) * (ys > split[None, :])
            a_up = cv2.GaussianBlur(a_up.astype(np.float32), (3, 3), 0)
            a_lo = cv2.GaussianBlur(a_lo.astype(np.float32), (3, 3), 0)
            upper = np.dstack([up_rgb * a_up[..., None], a_up])
            lower = _over(np.dstack([lo_rgb * a_lo[..., None], a_lo]), tongue)
        else:
            skin = crop[(lips < 0.01) & (inner < 0.01)].reshape(-1, 3)
            skin_rgb = np.median(skin, 0) if len(skin) else np.array([200, 150, 120], np.float32)
            upper, lower = _synth_teeth(_white_reference(base, pts, skin_rgb), lip_rgb, xs, ys, u, top, bot, f)
            lower = _over(lower, tongue)
        idx = np.array([i for i, c in enumerate(bases.channels) if c in MOUTH_CHANNELS])
        jaw = np.zeros((len(bases.channels), 3), np.float32)
        for c in JAW_CHANNELS:
            if c in bases.channels:
                jaw[bases.index(c)] = bases.deltas[bases.index(c)][[14, 87, 317]].mean(0)
        if "jawOpen" in bases.channels:
            # The lower lip rolls down and off the incisors as the jaw drops: the teeth travel
            # LOWER_TEETH_TRAVEL of the lip's drop, so a wide mouth shows the lower teeth's
            # edges above the lip (riding exactly with the lip they stayed hidden behind it,
            # and a yawn was a dark hole over a lip).
            jaw[bases.index("jawOpen")] *= LOWER_TEETH_TRAVEL
        # neutral output px -> canonical xy (inverse of frame.to_image, dropping z)
        ca, sa = np.cos(frame.angle), np.sin(frame.angle)
        rinv = np.array([[ca, sa], [-sa, ca]]) / f
        to_canon = np.hstack([rinv, (-rinv @ frame.origin[:2])[:, None]])
        z = float(neutral[list(POLYGON), 2].mean())
        return cls(origin, upper.astype(np.float32), lower.astype(np.float32), cavity, idx, jaw,
                   to_canon.astype(np.float32), z, real, float(f))

    def draw(self, out: np.ndarray, pts: dict, weights: np.ndarray, a2: np.ndarray, b2: np.ndarray) -> bool:
        """Paint the interior into ``out`` for this frame; False when the mouth shows nothing new."""
        if not np.any(weights[self.channel_idx] > 1e-3):
            return False
        poly = _smooth_outline(np.array([pts[i][:2] for i in POLYGON], np.float32))
        h, w = out.shape[:2]
        lo, hi = poly.min(0), poly.max(0)
        x0, y0 = np.floor(lo).astype(int) - 2
        x1, y1 = np.ceil(hi).astype(int) + 3
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if x1 - x0 < 2 or y1 - y0 < 2:
            return False
        mask = _poly_mask((y1 - y0, x1 - x0), poly - (x0, y0))
        if int(mask.max()) == 0:
            return False
        # A lip's inner edge is a soft roll into shadow, not a cut: feather the outline by a pixel.
        alpha = cv2.GaussianBlur(mask, (3, 3), 0).astype(np.float32) * (1 / 255)
        # A closed mouth whose lips part by less than a couple of pixels shows its lip seam,
        # not a sliver of teeth: fade the interior in with the opening. Sealed lips of a
        # portrait shot with parted lips (bases.lip_closure) meet to within a pixel (depth under
        # pitch, the jaw's own depth): nothing to paint.
        gap = max(pts[i][1] - pts[j][1] for i, j in ((14, 13), (87, 82), (317, 312)))
        fade = float(np.clip((gap - 1.0) / 2.5, 0.0, 1.0))
        if fade == 0.0:
            return False
        if fade < 1.0:
            alpha *= fade
        # Skull transform of the sprites: neutral output px -> canonical -> posed output px.
        m_up = a2[:, :2] @ self.to_canon[:, :2]
        t_up = a2[:, :2] @ self.to_canon[:, 2] + a2[:, 2] * self.z + b2
        jaw = weights @ self.jaw_delta
        t_lo = t_up + a2 @ jaw
        size = (x1 - x0, y1 - y0)
        roi_shift = np.array([x0, y0], np.float32)

        def place(sprite: np.ndarray, t: np.ndarray) -> np.ndarray:
            m = np.hstack([m_up, (t + m_up @ self.origin - roi_shift)[:, None]])
            return cv2.warpAffine(sprite, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)

        # The cavity has depth: darkest in the middle (the throat), lighter and redder towards
        # the corners, where the insides of the cheeks face the light.
        ctr = (lo + hi) / 2 - roi_shift
        half = np.maximum((hi - lo) / 2, 1.0)
        gx = np.minimum(((np.arange(size[0], dtype=np.float32) + 0.5 - ctr[0]) / half[0]) ** 2, 1.0)
        gy = np.minimum(((np.arange(size[1], dtype=np.float32) + 0.5 - ctr[1]) / half[1]) ** 2, 1.0)
        depth = np.add.outer(0.55 + 0.28 * gy, 0.84 * gx)  # the throat is dark, not black
        acc = depth[..., None] * self.cavity
        # Light reaches the tongue and the lower teeth through the opening: in a narrow one they
        # sit in the upper lip's shadow, in a wide one they catch the light (the upper teeth, in
        # front, are lit either way). A photo's own teeth keep the photo's light.
        lit = 1.0
        if not self.real_teeth:
            opening = float(hi[1] - lo[1])
            lit = min(1.0, 0.2 + 0.8 * opening / (0.2 * self.face_px))
        for sprite, t, light in ((self.lower, t_lo, lit), (self.upper, t_up, 1.0)):
            s = place(sprite, t)
            acc *= 1 - s[..., 3:]
            acc += s[..., :3] * light if light < 1.0 else s[..., :3]
        # The lips shade the inside: darker towards the lip edges (ambient occlusion).
        k = max(3, int(self.face_px * 0.035) | 1)
        shade = cv2.GaussianBlur(alpha, (k, k), 0)
        acc *= (0.6 + 0.4 * np.clip(shade * 1.6 - 0.3, 0, 1))[..., None]
        region = out[y0:y1, x0:x1]
        a = alpha[..., None]
        region[:] = (region.astype(np.float32) * (1 - a) + acc * a + 0.5).astype(np.uint8)
        return True


def _over(front: np.ndarray, back: np.ndarray) -> np.ndarray:
    """Premultiplied RGBA 'over'."""
    return front + back * (1 - front[..., 3:])


def _tongue(lip_rgb: np.ndarray, xs: np.ndarray, ys: np.ndarray, bot: np.ndarray, f: float) -> np.ndarray:
    """The tongue lying on the floor of the mouth behind the lower teeth; it rides on the jaw.

    A dome lit from the front: its tip, just behind the lower incisors, catches the light and
    its back falls into the throat's shadow, so its top edge fades into the cavity instead of
    drawing a second lip line (a bright, evenly lip-coloured tongue read as a lower lip, to
    people and to landmark models alike). A faint midline groove and a soft highlight give it
    volume."""
    rgb = np.clip(lip_rgb * np.array([0.95, 0.6, 0.6]), 0, 255).astype(np.float32)
    top = bot[None, :] - 0.09 * f  # the dorsum's highest point, in the neutral mouth
    cx = float(np.mean(xs[0]))
    ry = 0.13 * f
    cy = top + ry
    d = ((xs - cx) / (0.17 * f)) ** 2 + ((ys - cy) / ry) ** 2
    a = np.clip((1.0 - d) * 5, 0, 1)
    depth = np.clip((ys - top) / (0.06 * f), 0, 1)  # 0 at the back (top), 1 towards the tip
    shade = 0.4 + 0.6 * depth * depth * (3 - 2 * depth)
    groove = 1.0 - 0.15 * np.exp(-(((xs - cx) / (0.012 * f)) ** 2))
    shine = 0.18 * np.exp(-(((xs - cx) / (0.06 * f)) ** 2 + ((ys - (top + 0.055 * f)) / (0.02 * f)) ** 2))
    col = rgb[None, None, :] * (shade * groove)[..., None] + 255.0 * shine[..., None]
    return np.dstack([np.clip(col, 0, 255) * a[..., None], a]).astype(np.float32)


def _white_reference(base: np.ndarray, pts: np.ndarray, skin_rgb: np.ndarray) -> np.ndarray:
    """Teeth colour in this photo's light: the whites of the eyes (the brighter quarter of the
    eye openings), a little lighter; when the eyes give nothing usable (tinted glasses, shadow),
    ivory tinted by the photo's colour cast as seen on the skin."""

    samples = []
    for side in ("Left", "Right"):
        o, i = EYE_CORNERS[side]
        poly = pts[[o, *EYE_UPPER[side], i, *reversed(EYE_LOWER[side])], :2]
        x0, y0 = np.floor(poly.min(0)).astype(int)
        x1, y1 = np.ceil(poly.max(0)).astype(int) + 1
        x0, y0 = max(x0, 0), max(y0, 0)
        patch = base[y0:y1, x0:x1]
        if patch.size == 0:
            continue
        mask = _poly_mask(patch.shape[:2], poly - (x0, y0)) > 128
        samples.append(patch[mask].reshape(-1, 3))
    px = np.vstack(samples).astype(np.float32) if samples else np.zeros((0, 3), np.float32)
    ivory = np.array([238, 228, 204], np.float32)
    # Colour cast: this skin's channel ratios against typical skin's (1.25 : 0.95 : 0.8).
    ratio = np.asarray(skin_rgb, np.float32) / max(float(np.mean(skin_rgb)), 1.0)
    cast = np.clip(ratio / np.array([1.25, 0.95, 0.8], np.float32), 0.7, 1.3)
    ivory = np.clip(ivory * cast, 0, 250)
    if len(px) < 10:
        return ivory
    lum = px.mean(1)
    white = px[lum >= np.percentile(lum, 75)].mean(0)
    sat = (white.max() - white.min()) / max(white.max(), 1.0)
    if white.mean() < 90 or sat > 0.3:  # shadowed eyes, tinted glasses: no usable reference
        return ivory * float(np.clip(white.mean() / 200.0, 0.85, 1.0))
    # Sclera sits in the shadow of the brow and lids; teeth catch more light, and are warm.
    return np.clip(white * 1.12 * np.array([1.0, 0.98, 0.92]), 0, 250).astype(np.float32)


def _synth_teeth(white, lip_rgb, xs, ys, u, top, bot, f):
    """Gums, upper and lower teeth for a portrait whose mouth is closed (premultiplied RGBA).

    Proportions in face widths: upper incisors show about 0.045 below a relaxed upper lip,
    lower teeth hide behind the lower lip until it drops; gums fill above the teeth, so a lip
    that lifts shows gum, not a hole."""
    tooth_rgb = np.asarray(white, np.float32)
    gum_rgb = np.clip(lip_rgb * np.array([1.05, 0.8, 0.8]), 0, 255).astype(np.float32)
    au = np.abs(u)
    # Tooth boundaries across the arch (incisors, laterals, canines, premolars), as fractions
    # of the half mouth width; the gaps between teeth are a little darker.
    edges = np.array([0.0, 0.2, 0.36, 0.52, 0.68, 0.84])
    gap = np.min(np.abs(au[..., None] - edges[None, None, :]), -1) * (f / 2)
    # Each tooth is convex: darker at its sides, with a dark line between teeth, and its biting
    # edge rounds off at its corners (a scalloped edge rather than one straight bar).
    gap_shade = (1.0 - 0.18 * np.exp(-(gap / 0.7) ** 2)) * (0.9 + 0.1 * np.clip(gap / (0.02 * f), 0, 1))
    notch = 0.008 * f * np.exp(-((gap / (0.01 * f)) ** 2))
    depth = 1.0 - 0.45 * au ** 2  # teeth recede into shadow towards the corners
    t = top[None, :]
    edge_up = t + (0.045 - 0.02 * au ** 1.5) * f - notch  # the biting edge
    root = t - 0.02 * f  # where the teeth meet the gum, hidden behind a relaxed lip
    a_teeth = np.clip((edge_up - ys) / 1.2, 0, 1) * np.clip((ys - root) / 1.5 + 1, 0, 1) * (au <= 1.0)
    a_gum = np.clip((ys - (t - 0.1 * f)) / 2.0, 0, 1) * (ys < root + 1) * (au <= 1.05)
    vert = 1.0 - 0.12 * np.clip((edge_up - ys) / (0.05 * f), 0, 1)  # lighter at the edge
    rgb_t = tooth_rgb * (depth * gap_shade * vert)[..., None]
    rgb_g = gum_rgb * (0.8 + 0.2 * depth)[..., None]
    rgb_up = rgb_t * a_teeth[..., None] + rgb_g * ((1 - a_teeth) * a_gum)[..., None]
    a_up = a_teeth + (1 - a_teeth) * a_gum
    upper = np.dstack([rgb_up, a_up])
    # Lower teeth: the biting edge just under the lower lip line, so they show when it drops.
    edge_lo = bot[None, :] - 0.012 * f + notch
    a_lo = np.clip((ys - edge_lo) / 1.2, 0, 1) * (ys <= bot[None, :] + 0.08 * f) * (au <= 0.9)
    rgb_lo = tooth_rgb * 0.8 * (depth * gap_shade)[..., None]
    lower = np.dstack([rgb_lo * a_lo[..., None], a_lo])
    return upper.astype(np.float32), lower.astype(np.float32)
