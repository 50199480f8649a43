"""Output framing: where the portrait's face sits in a 512x512, 1280x720 or 1920x1080 picture.

Head and shoulders: the face spans about a third of the picture height, eyes at 40 % from the top,
centred. The crop is resampled once per portrait; a crop that leaves the photo is shifted back in
where it can and padded by edge replication where it cannot.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..errors import InputError

SIZES: dict[str, tuple[int, int]] = {"512x512": (512, 512), "1280x720": (1280, 720), "1920x1080": (1920, 1080)}
FACE_WIDTHS_PER_HEIGHT = 3.2  # picture height in face widths: head and shoulders
EYES_FROM_TOP = 0.40


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
                size: tuple[int, int]) -> np.ndarray:
    """float64 (2, 3): source image pixels -> output pixels."""
    out_w, out_h = size
    src_w, src_h = image_size
    crop_h = FACE_WIDTHS_PER_HEIGHT * face_width_px
    crop_w = crop_h * out_w / out_h
    x0 = eye_centre[0] - crop_w / 2
    y0 = eye_centre[1] - EYES_FROM_TOP * crop_h
    # Shift back inside the photo along each axis where the crop fits.
    if crop_w <= src_w:
        x0 = min(max(x0, 0.0), src_w - crop_w)
    if crop_h <= src_h:
        y0 = min(max(y0, 0.0), src_h - crop_h)
    s = out_h / crop_h
    return np.array([[s, 0.0, -x0 * s], [0.0, s, -y0 * s]])


def resample(image: np.ndarray, matrix: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The photo placed into the output frame. Where the frame reaches beyond the photo (a 16:9
    frame of a square photo), the gap is a blurred mirror of the photo, not smeared edge pixels."""
    out = _place(image, matrix, size)
    inside = _place(np.full(image.shape[:2], 255, np.uint8), matrix, size, border=cv2.BORDER_CONSTANT)
    if inside.min() == 255:
        return out
    mirror = _place(image, matrix, size, border=cv2.BORDER_REFLECT_101)
    k = max(size) // 24 * 2 + 1
    fill = cv2.GaussianBlur(cv2.resize(mirror, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA), (k // 4 * 2 + 1,) * 2, 0)
    fill = cv2.resize(fill, size, interpolation=cv2.INTER_LINEAR)
    fill = (fill.astype(np.float32) * 0.85).astype(np.uint8)  # a little darker: the eye stays on the photo
    edge = max(3, size[1] // 90) * 2 + 1
    alpha = cv2.GaussianBlur(cv2.erode(inside, np.ones((edge, edge), np.uint8)), (edge, edge), 0)
    a = (alpha.astype(np.float32) / 255)[..., None]
    return (out * a + fill * (1 - a) + 0.5).astype(np.uint8)


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
