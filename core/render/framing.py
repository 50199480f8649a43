"""Output framing: where the portrait's face sits in a 512x512, 1280x720 or 1920x1080 picture.

Framed as a camera would be: the picture is filled by the photo, cropped to the output's aspect
around the face. Two shots: head and shoulders (the face spans about a third of the picture
height, eyes at 40 % from the top) and close-up. Where the photo is too small for the shot (a
tight selfie, a landscape photo in a square frame), the crop zooms in, as far as a face about
two thirds of the frame high, rather than pad; only past that does the picture reach beyond the
photo, and that part is marked (``coverage``) for the background layer to fill (core/render/
background.py), never with a mirrored or blurred copy of the photo.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import InputError

SIZES: dict[str, tuple[int, int]] = {"512x512": (512, 512), "1280x720": (1280, 720), "1920x1080": (1920, 1080)}


@dataclass(frozen=True)
class Shot:
    """face_widths: picture height in face widths (cheek to cheek); eyes: eye line from the top,
    as a share of the picture height."""

    face_widths: float
    eyes: float


SHOTS: dict[str, Shot] = {"head-and-shoulders": Shot(3.2, 0.40), "close-up": Shot(2.1, 0.42)}
DEFAULT_SHOT = "head-and-shoulders"
# The tightest crop the framing zooms to when the photo is smaller than the shot (picture
# height in face widths); beyond it the background fills what the photo lacks.
MIN_FACE_WIDTHS = 1.6
FACE_WIDTHS_PER_HEIGHT = SHOTS[DEFAULT_SHOT].face_widths
EYES_FROM_TOP = SHOTS[DEFAULT_SHOT].eyes


def parse_shot(text: str) -> str:
    """A shot name, checked: 'head-and-shoulders' or 'close-up'."""
    name = str(text).strip().lower().replace("_", "-")
    if name not in SHOTS:
        raise InputError(f"framing {text!r}: expected one of {', '.join(SHOTS)}")
    return name


def parse_size(text: str) -> tuple[int, int]:
    """'512x512' -> (512, 512); any WxH from 64 to 3840 is accepted, the three presets are tested."""
    try:
        w, h = (int(v) for v in str(text).lower().split("x"))
    except ValueError:
        raise InputError(f"output size {text!r}: expected WIDTHxHEIGHT such as {', '.join(SIZES)}") from None
    if not (64 <= w <= 3840 and 64 <= h <= 3840):
        raise InputError(f"output size {w}x{h}: each side must be 64..3840 pixels (try {', '.join(SIZES)})")
    return w, h


def crop_matrix(eye_centre: np.ndarray, face_width_px: float, image_size: tuple[int, int],
                size: tuple[int, int], shot: str = DEFAULT_SHOT) -> np.ndarray:
    """float64 (2, 3): source image pixels -> output pixels, for one of SHOTS."""
    spec = SHOTS[shot]
    out_w, out_h = size
    src_w, src_h = image_size
    crop_h = spec.face_widths * face_width_px
    crop_w = crop_h * out_w / out_h
    # A photo smaller than the shot: zoom in (keeping the aspect) until the crop fits, but
    # no tighter than MIN_FACE_WIDTHS; the background fills whatever still lies outside.
    fit = min(1.0, src_w / crop_w, src_h / crop_h)
    fit = max(fit, min(1.0, MIN_FACE_WIDTHS / spec.face_widths))
    crop_h, crop_w = crop_h * fit, crop_w * fit
    x0 = eye_centre[0] - crop_w / 2
    y0 = eye_centre[1] - spec.eyes * crop_h
    # Shift back inside the photo along each axis where the crop fits.
    x0 = min(max(x0, 0.0), src_w - crop_w) if crop_w <= src_w else min(max(x0, src_w - crop_w), 0.0)
    y0 = min(max(y0, 0.0), src_h - crop_h) if crop_h <= src_h else min(max(y0, src_h - crop_h), 0.0)
    s = out_h / crop_h
    return np.array([[s, 0.0, -x0 * s], [0.0, s, -y0 * s]])


def resample(image: np.ndarray, matrix: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The photo placed into the output frame (edge pixels repeated where the frame reaches
    beyond it: ``coverage`` marks that part for the background layer)."""
    return _place(image, matrix, size)


def coverage(image_shape: tuple[int, ...], matrix: np.ndarray, size: tuple[int, int]) -> np.ndarray | None:
    """float32 (H, W) 1 where the output shows the photo, 0 beyond it; None when the photo
    fills the whole frame (the usual case)."""
    inside = _place(np.full(image_shape[:2], 255, np.uint8), matrix, size, border=cv2.BORDER_CONSTANT)
    if inside.min() >= 128:  # at most half a pixel at the edge (a crop that fits exactly, rounded)
        return None
    return cv2.erode(inside, np.ones((3, 3), np.uint8)).astype(np.float32) * (1 / 255)


def _place(image: np.ndarray, matrix: np.ndarray, size: tuple[int, int], border: int = cv2.BORDER_REPLICATE) -> np.ndarray:
    s = matrix[0, 0]
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    if interp == cv2.INTER_AREA:
        # warpAffine has no area filter: shrink first with resize, then place.
        small = cv2.resize(image, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        m = matrix.copy()
        m[:, :2] = np.eye(2)
        m[:, 2] += 0.5 - 0.5 * s  # resize samples pixel centres: (x + 0.5) / s - 0.5
        return cv2.warpAffine(small, m, size, flags=cv2.INTER_LINEAR, borderMode=border)
    return cv2.warpAffine(image, matrix, size, flags=interp, borderMode=border)
