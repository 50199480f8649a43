"""Turn whatever a user hands us (a path, bytes, an array of any depth and channel count) into
uint8 RGB (H, W, 3), the one pixel format analysis and rendering use.

OpenCV decodes (no extra dependency); Pillow is only a fallback for formats OpenCV lacks (GIF).
Transparency is composited over white, the usual backdrop of a cut-out portrait. Sizes are
checked before anything is read or decoded: a device (/dev/zero) or a file over MAX_IMAGE_BYTES
is refused unread, and a picture that declares more than MAX_PIXELS (a "PNG bomb": a few KB that
inflate to gigabytes) is refused from its header.
"""

from __future__ import annotations

import os
import stat
import struct
from io import BytesIO
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError

_JPEG_MAGIC = b"\xff\xd8"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_IMAGE_BYTES = 100 * 2**20  # a 50-megapixel photo is 10-30 MB as JPEG or PNG
MAX_PIXELS = 64_000_000  # about 9200 x 6900; decoded RGB is 192 MB (portraits are resized anyway)


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
    try:
        st = path.stat()
    except OSError as e:
        raise ImageReadError(f"cannot read image file {str(path)!r}: {e.strerror or e}") from None
    if not stat.S_ISREG(st.st_mode):
        raise ImageReadError(f"{str(path)!r} is not a regular file (a device or pipe), expected an image file")
    if st.st_size > MAX_IMAGE_BYTES:
        raise ImageReadError(f"image file {str(path)!r} is {st.st_size / 2**20:.0f} MB, expected at most "
                             f"{MAX_IMAGE_BYTES // 2**20} MB: export a smaller copy (a portrait needs about 1000 px)")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ImageReadError(f"cannot read image file {str(path)!r}: {e.strerror or e}") from None
    return _decode(data, repr(str(path)))


def _declared_size(data: bytes, what: str) -> tuple[int, int] | None:
    """(width, height) from the file's header without decoding pixels; None when unknown."""
    if data[:8] == _PNG_MAGIC and len(data) >= 24 and data[12:16] == b"IHDR":
        return struct.unpack(">II", data[16:24])
    try:
        from PIL import Image
    except ImportError:
        return None
    try:
        with Image.open(BytesIO(data)) as im:
            return im.size
    except Image.DecompressionBombError as e:
        raise ImageReadError(f"{what} declares too many pixels to decode safely ({e}); "
                             f"expected at most {MAX_PIXELS:,}") from None
    except Exception:  # noqa: BLE001 - not a format Pillow knows: OpenCV decides below
        return None


def _decode(data: bytes, what: str) -> np.ndarray:
    if not data:
        raise ImageReadError(f"{what} is empty (0 bytes), expected an image (PNG, JPEG, WebP, TIFF, BMP)")
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageReadError(f"{what} is {len(data) / 2**20:.0f} MB, expected at most {MAX_IMAGE_BYTES // 2**20} MB")
    size = _declared_size(data, what)
    if size is not None and size[0] * size[1] > MAX_PIXELS:
        raise ImageReadError(f"{what} declares {size[0]} x {size[1]} pixels ({len(data)} bytes), expected at most "
                             f"{MAX_PIXELS:,} pixels: export a smaller copy (a portrait needs about 1000 px)")
    buf = np.frombuffer(data, np.uint8)
    try:
        if data[:2] == _JPEG_MAGIC:
            # JPEG carries no alpha; this flag set honours the EXIF orientation of phone photos.
            img = cv2.imdecode(buf, cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH)
        else:
            img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    except cv2.error as e:  # OpenCV refuses some headers itself (over its own pixel limit)
        msg = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        raise ImageReadError(f"{what} could not be decoded ({len(data)} bytes): {msg}") from None
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
