"""Turn whatever a user hands us (a path, bytes, an array of any depth and channel count) into
uint8 RGB (H, W, 3), the one pixel format analysis and rendering use.

OpenCV decodes (no extra dependency); Pillow is only a fallback for formats OpenCV lacks (GIF).
Transparency is composited over white, the usual backdrop of a cut-out portrait.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError

_JPEG_MAGIC = b"\xff\xd8"


class ImageReadError(InputError):
    """A file that is missing, empty, not an image, or truncated."""


def load_image(source: str | os.PathLike | bytes | np.ndarray) -> np.ndarray:
    """Any image file, encoded bytes or array -> uint8 RGB (H, W, 3), C-contiguous.

    Arrays are taken as RGB(A) or grayscale: (H, W), (H, W, 1), (H, W, 3), (H, W, 4); uint8,
    uint16 (scaled down), bool, or float in 0..1 (0..255 floats are recognised). Files keep their EXIF orientation.
    """
    if isinstance(source, np.ndarray):
        return _to_rgb8(source, what="array")
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _decode(bytes(source), "image bytes")
    path = Path(source)
    if not path.exists():
        raise ImageReadError(f"image file {str(path)!r} does not exist: check the path")
    if path.is_dir():
        raise ImageReadError(f"{str(path)!r} is a directory, expected an image file (PNG, JPEG, ...)")
    data = path.read_bytes()
    return _decode(data, repr(str(path)))


def _decode(data: bytes, what: str) -> np.ndarray:
    if not data:
        raise ImageReadError(f"{what} is empty (0 bytes), expected an image (PNG, JPEG, WebP, TIFF, BMP)")
    buf = np.frombuffer(data, np.uint8)
    if data[:2] == _JPEG_MAGIC:
        # JPEG carries no alpha; this flag set honours the EXIF orientation of phone photos.
        img = cv2.imdecode(buf, cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH)
    else:
        img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if img is not None:
        if img.ndim == 3 and img.shape[2] == 3:
            img = img[:, :, ::-1]
        elif img.ndim == 3 and img.shape[2] == 4:
            img = img[:, :, [2, 1, 0, 3]]
        if _looks_truncated(data):
            raise ImageReadError(
                f"{what} is a truncated JPEG (no end-of-image marker; {len(data)} bytes): "
                "the file was cut short, copy or export it again"
            )
        return _to_rgb8(img, what=what)
    img = _decode_with_pillow(data)
    if img is None:
        head = data[:8].hex(" ")
        raise ImageReadError(
            f"{what} could not be decoded as an image ({len(data)} bytes, starts with {head}); "
            "expected PNG, JPEG, WebP, TIFF or BMP: the file may be corrupt or not a picture"
        )
    return _to_rgb8(img, what=what)


def _looks_truncated(data: bytes) -> bool:
    # libjpeg fills a cut-off JPEG with grey and only warns; a half-grey portrait would then
    # be analysed as if it were real, so a missing end-of-image marker is an error.
    return data[:2] == _JPEG_MAGIC and b"\xff\xd9" not in data[-4096:]


def _decode_with_pillow(data: bytes) -> np.ndarray | None:
    try:
        from io import BytesIO

        from PIL import Image, ImageOps
    except ImportError:
        return None
    try:
        with Image.open(BytesIO(data)) as im:
            im = ImageOps.exif_transpose(im)
            if im.mode not in ("RGB", "RGBA", "L", "I;16", "I"):
                im = im.convert("RGBA" if "A" in im.getbands() or "transparency" in im.info else "RGB")
            return np.asarray(im)
    except (OSError, ValueError, SyntaxError):  # what Pillow raises for undecodable data
        return None


def _to_rgb8(img: np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(img)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise ImageReadError(
            f"{what} has shape {arr.shape}, expected (H, W) grayscale, (H, W, 3) RGB or (H, W, 4) RGBA"
        )
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ImageReadError(f"{what} has shape {arr.shape}: an image needs at least one pixel")
    arr = _to_float01(arr, what) if arr.dtype != np.uint8 else arr
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.shape[2] == 4:
        rgb = arr[:, :, :3].astype(np.float32)
        alpha = arr[:, :, 3:4].astype(np.float32)
        if arr.dtype == np.uint8:
            alpha /= 255.0
            white = 255.0
        else:
            white = 1.0
        arr = rgb * alpha + white * (1.0 - alpha)
        if white == 255.0:
            arr = np.clip(arr + 0.5, 0, 255).astype(np.uint8)
    if arr.dtype != np.uint8:
        arr = np.clip(arr * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(arr)


def _to_float01(arr: np.ndarray, what: str) -> np.ndarray:
    if arr.dtype == np.bool_:
        return arr.astype(np.float32)
    if arr.dtype == np.uint16:
        return arr.astype(np.float32) / 65535.0
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)):
            raise ImageReadError(f"{what} holds NaN or infinite values; expected finite floats in 0..1")
        out = arr.astype(np.float32)
        # A float image in 0..255 is a common slip (cv2 arithmetic); 0..1 is the documented range.
        if out.size and float(out.max()) > 1.5:
            out = out / 255.0
        return out
    if np.issubdtype(arr.dtype, np.integer):
        hi = float(arr.max()) if arr.size else 0.0
        # 32-bit integer images from Pillow ("I" mode) are 16-bit data in disguise.
        scale = 65535.0 if hi > 255 else 255.0
        return arr.astype(np.float32) / scale
    raise ImageReadError(f"{what} has dtype {arr.dtype}, expected uint8, uint16, bool or float in 0..1")
