"""Background modes: a person mask computed once per portrait splits the framed photo into a moving
person layer and a still background, so straight lines behind the head never bend with the warp.

The mask comes from MediaPipe's selfie segmenter (models/face/selfie_segmentation.tflite, shipped
in the same mediapipe 0.10.21 wheel as the face models, Apache-2.0; see models/face/MODEL_CARD.md),
run once on the framed picture, sharpened and forced to cover the face mesh. Per frame the mask is
remapped by the warp's own map and the warped person is laid over a still plate:
``keep`` (the photo's background with the person inpainted away, so a turned head uncovers
background, not a smear), ``blur`` (as video-call apps do), ``color``, ``image``, ``green`` (a chroma
key for OBS) and ``transparent`` (the plate is black and the renderer hands out the alpha).
Trade-off: the inpainted plate behind the head is smooth guesswork, visible only where a head
turn uncovers it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError

MODES = ("keep", "blur", "color", "image", "green", "transparent")
GREEN = (0, 177, 64)  # the chroma-key green of broadcast keyers
DEFAULT_COLOR = (238, 238, 236)


@dataclass(frozen=True)
class BackgroundSpec:
    """mode: one of MODES; color: RGB for ``color``; image: a picture file for ``image``.
    Written on the command line and in the protocol as ``keep``, ``blur``, ``green``,
    ``transparent``, ``color:#RRGGBB`` (or ``color:R,G,B``) and ``image:PATH``."""

    mode: str = "keep"
    color: tuple[int, int, int] = DEFAULT_COLOR
    image: str | None = None

    @classmethod
    def parse(cls, text: str) -> "BackgroundSpec":
        raw = str(text).strip()
        mode, _, arg = raw.partition(":")
        mode = mode.lower()
        if mode not in MODES:
            raise InputError(f"background {text!r}: expected one of keep, blur, green, transparent, "
                             "color:#RRGGBB, image:PATH")
        if mode == "color":
            return cls(mode, _parse_color(arg) if arg else DEFAULT_COLOR)
        if mode == "image":
            if not arg:
                raise InputError(f"background {text!r}: expected image:PATH (a picture file)")
            if not Path(arg).is_file():
                raise InputError(f"background image {arg!r}: no such file")
            return cls(mode, image=arg)
        if arg:
            raise InputError(f"background {text!r}: {mode} takes no argument, expected just {mode!r}")
        return cls(mode)

    def __str__(self) -> str:
        if self.mode == "color":
            return "color:#%02x%02x%02x" % self.color
        if self.mode == "image":
            return f"image:{self.image}"
        return self.mode


def _parse_color(arg: str) -> tuple[int, int, int]:
    a = arg.strip().lstrip("#")
    try:
        if "," in a:
            rgb = tuple(int(v) for v in a.split(","))
        elif len(a) == 6:
            rgb = tuple(int(a[i:i + 2], 16) for i in (0, 2, 4))
        else:
            raise ValueError
        if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
            raise ValueError
    except ValueError:
        raise InputError(f"background colour {arg!r}: expected #RRGGBB or R,G,B with values 0..255") from None
    return rgb  # type: ignore[return-value]


class PersonSegmenter:
    """The selfie segmenter on one thread; load() once, mask() per portrait."""

    def __init__(self, model) -> None:
        self._model = model

    @classmethod
    def load(cls) -> "PersonSegmenter":
        from ..face.tflite import TfliteModel

        return cls(TfliteModel.load("selfie_segmentation.tflite"))

    def mask(self, image: np.ndarray) -> np.ndarray:
        """float32 (H, W) in 0..1, person = 1, for a uint8 RGB picture (any size): the 256x256
        network output resized back, its soft edge steepened to about two pixels of the output."""
        w, h = self._model.input_size
        x = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) * (1 / 255)
        out = self._model.run(x[None])[0].reshape(h, w)
        m = cv2.resize(out, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
        return np.clip((m - 0.5) * 4.0 + 0.5, 0.0, 1.0).astype(np.float32)


def person_alpha(seg: np.ndarray, face_hull: np.ndarray, coverage: np.ndarray | None) -> np.ndarray:
    """uint8 (H, W) person alpha: the segmentation, the face mesh's hull (dilated) always in,
    nothing beyond the photo's edge (``coverage``), a pixel of feather."""
    m = seg.copy()
    hull = np.zeros(m.shape, np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(np.round(face_hull).astype(np.int32)), 255)
    m = np.maximum(m, hull.astype(np.float32) * (1 / 255))
    if coverage is not None:
        m *= coverage
    m = cv2.GaussianBlur(m, (3, 3), 0)
    return np.clip(m * 255 + 0.5, 0, 255).astype(np.uint8)


def clean_plate(base: np.ndarray, alpha: np.ndarray, coverage: np.ndarray | None) -> np.ndarray:
    """The photo's background with the person (and anything beyond the photo) inpainted away,
    at a quarter resolution and blurred there (a guess should not pretend detail), then laid
    under the photo's own background pixels."""
    h, w = alpha.shape
    hole = alpha > 8
    if coverage is not None:
        hole |= coverage < 0.99
    hole = cv2.dilate(hole.astype(np.uint8) * 255, np.ones((9, 9), np.uint8))
    f = 4
    small = cv2.resize(base, (max(w // f, 8), max(h // f, 8)), interpolation=cv2.INTER_AREA)
    small_hole = cv2.resize(hole, (small.shape[1], small.shape[0]), interpolation=cv2.INTER_NEAREST)
    small_hole = cv2.dilate(small_hole, np.ones((3, 3), np.uint8))
    filled = cv2.inpaint(small, small_hole, 5, cv2.INPAINT_TELEA)
    filled = cv2.GaussianBlur(filled, (0, 0), 2.0)
    big = cv2.resize(filled, (w, h), interpolation=cv2.INTER_LINEAR)
    k = cv2.GaussianBlur(hole, (0, 0), 2.0).astype(np.float32)[..., None] * (1 / 255)
    return (base * (1 - k) + big * k + 0.5).astype(np.uint8)


def plate(spec: BackgroundSpec, base: np.ndarray, alpha: np.ndarray, coverage: np.ndarray | None) -> np.ndarray:
    """uint8 (H, W, 3) still background for a mode."""
    h, w = base.shape[:2]
    if spec.mode == "keep":
        return clean_plate(base, alpha, coverage)
    if spec.mode == "blur":
        clean = clean_plate(base, alpha, coverage)
        k = max(h, w) // 40 * 2 + 1
        small = cv2.resize(clean, (w // 4, h // 4), interpolation=cv2.INTER_AREA)
        return cv2.resize(cv2.GaussianBlur(small, (k // 4 * 2 + 1,) * 2, 0), (w, h), interpolation=cv2.INTER_LINEAR)
    if spec.mode in ("color", "green", "transparent"):
        rgb = {"color": spec.color, "green": GREEN, "transparent": (0, 0, 0)}[spec.mode]
        return np.broadcast_to(np.array(rgb, np.uint8), (h, w, 3)).copy()
    from ..face import load_image

    img = load_image(spec.image)
    s = max(w / img.shape[1], h / img.shape[0])  # cover the frame, centred, no bars
    rs = cv2.resize(img, (max(w, round(img.shape[1] * s)), max(h, round(img.shape[0] * s))),
                    interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    y0, x0 = (rs.shape[0] - h) // 2, (rs.shape[1] - w) // 2
    return np.ascontiguousarray(rs[y0:y0 + h, x0:x0 + w])


@dataclass
class Background:
    """What the renderer composites per frame: the still plate, the person alpha at rest (uint8),
    the picture at rest (person over plate) and the float weights the blend needs."""

    spec: BackgroundSpec
    plate: np.ndarray
    alpha: np.ndarray
    still: np.ndarray

    @classmethod
    def build(cls, spec: BackgroundSpec, base: np.ndarray, alpha: np.ndarray,
              coverage: np.ndarray | None) -> "Background":
        bg = plate(spec, base, alpha, coverage)
        if spec.mode == "keep":
            # At rest the photo is shown as shot wherever it exists (the plate is a guess):
            # only what lies beyond the photo comes from the plate.
            a = (np.ones(alpha.shape, np.float32) if coverage is None else coverage)[..., None]
        else:
            a = alpha.astype(np.float32)[..., None] * (1 / 255)
        still = (base * a + bg * (1 - a) + 0.5).astype(np.uint8)
        out = cls(spec, bg, alpha, still)
        out.still_base = base
        return out

    @property
    def layer(self) -> np.ndarray:
        """uint8 (H, W, 4): the picture with the person alpha as a fourth channel, so the warp
        carries the mask in the same remap as the pixels (a separate remap of the mask cost
        1.6 ms a frame at 512x512, the fourth channel almost nothing)."""
        if not hasattr(self, "_layer"):
            self._layer = np.ascontiguousarray(np.dstack([self.still_base, self.alpha]))
        return self._layer

    def composite(self, out: np.ndarray, person: np.ndarray, roi: tuple[int, int, int, int],
                  bands: list[tuple[int, int, int, int]] | None = None) -> None:
        """out[roi] = the warped person (RGBA, ``layer`` warped) over the plate, in 8-bit fixed
        point (cv2.multiply with a 1/255 scale: 0.65 ms at 512x512 where blendLinear's float
        weights took 1.5 ms). bands: the warp's row bands (roi coordinates), outside which the
        map is the identity and ``out`` already holds the picture at rest: only they are blended."""
        x0, y0, x1, y1 = roi
        a_roi = np.ascontiguousarray(person[y0:y1, x0:x1, 3])
        for ya, yb, xa, xb in bands if bands is not None else [(0, y1 - y0, 0, x1 - x0)]:
            p = person[y0 + ya:y0 + yb, x0 + xa:x0 + xb]
            a = a_roi[ya:yb, xa:xb]
            a3 = cv2.merge([a, a, a])
            rgb = cv2.cvtColor(p, cv2.COLOR_RGBA2RGB)
            out[y0 + ya:y0 + yb, x0 + xa:x0 + xb] = cv2.add(
                cv2.multiply(rgb, a3, scale=1 / 255),
                cv2.multiply(self.plate[y0 + ya:y0 + yb, x0 + xa:x0 + xb], 255 - a3, scale=1 / 255))
        self.last_alpha_roi = a_roi
