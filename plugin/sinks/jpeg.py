"""One JPEG per frame, shared by every viewer, encoded only while somebody watches.

Viewers wait on a condition for a newer frame and always get the newest: a slow viewer skips
frames instead of queueing them. Trade-off: one encode per frame at one quality for everyone.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

from marionette.core.types import VideoFrame


def encode_jpeg(image: np.ndarray, quality: int = 80) -> bytes:
    """uint8 RGB (H, W, 3) -> JPEG bytes."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


class JpegBroadcaster:
    """publish(frame) from the sink thread; wait_newer(seq) from any number of viewer threads."""

    def __init__(self, quality: int = 80) -> None:
        self.quality = quality
        self._cond = threading.Condition()
        self._jpeg: bytes | None = None
        self._frame: VideoFrame | None = None
        self._seq = 0
        self.viewers = 0
        self.closed = False

    def publish(self, frame: VideoFrame) -> None:
        jpeg = encode_jpeg(frame.image, self.quality) if self.viewers > 0 else None
        with self._cond:
            self._frame, self._jpeg = frame, jpeg
            self._seq += 1
            self._cond.notify_all()

    def latest(self) -> tuple[int, bytes | None]:
        """(seq, JPEG) of the newest frame, encoding it now if nobody was watching."""
        with self._cond:
            seq, jpeg, frame = self._seq, self._jpeg, self._frame
        if jpeg is None and frame is not None:
            jpeg = encode_jpeg(frame.image, self.quality)
        return seq, jpeg

    def cached(self) -> tuple[int, bytes | None]:
        """(seq, JPEG) of the newest frame when it is encoded already; never encodes (cheap enough
        for an event loop; call latest() off the loop when this gives None)."""
        with self._cond:
            return self._seq, self._jpeg

    def wait_newer(self, seq: int, timeout: float = 2.0) -> tuple[int, bytes | None]:
        with self._cond:
            self._cond.wait_for(lambda: self._seq > seq or self.closed, timeout)
        return self.latest()

    def join(self) -> None:
        with self._cond:
            self.viewers += 1

    def leave(self) -> None:
        with self._cond:
            self.viewers -= 1

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()
