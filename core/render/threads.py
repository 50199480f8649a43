"""One compute thread for BLAS and OpenCV: the renderer's budget is one core, and on a busy
two-core machine a multi-threaded matmul stalls (measured: the warp's 1.7 ms matmul became 6.5 ms)."""

from __future__ import annotations

import contextlib
from typing import Iterator


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    import cv2
    from threadpoolctl import threadpool_limits

    before = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        cv2.setNumThreads(before)
