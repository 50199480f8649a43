"""Sound blocks stamped with the clock time their first sample must be heard, and read back from a
given time on: the queue behind every sink that plays or writes sound in step with the picture
(the speaker, the virtual microphone).

A reader asks for n samples starting at clock time ``at``. A block due later than ``tolerance``
leaves silence before it; a block overdue by more than ``tolerance`` (the engine or the device
stalled) loses its overdue part. Trade-off: a skip inside speech is audible, but only after a stall
that already broke the sound, and it restores lip sync. Bounded: never more than ``max_behind`` s
of stamps queued behind the newest block.
"""

from __future__ import annotations

import threading
from collections import deque

import numpy as np


class StampedAudio:
    """Thread-safe: push from the engine's sink thread, take from a device or writer thread."""

    def __init__(self, rate: int, *, tolerance: float = 0.015, max_behind: float = 2.0) -> None:
        self.rate = int(rate)
        self.tolerance = tolerance
        self.max_behind = max_behind
        self._blocks: deque[list] = deque()  # [time the block's first sample must be heard, samples]
        self._lock = threading.Lock()
        self.corrections = 0  # times overdue sound was skipped (waiting for an early block is normal)
        self.last_error = 0.0  # s the first block looked at was off (+ early), at the last take

    def push(self, t: float, samples: np.ndarray) -> None:
        with self._lock:
            self._blocks.append([float(t), np.asarray(samples, np.float32)])
            while len(self._blocks) > 1 and self._blocks[0][0] < t - self.max_behind:
                self._blocks.popleft()  # the reader stalled for seconds: never grow without bound

    def clear(self) -> None:
        with self._lock:
            self._blocks.clear()

    def take(self, at: float, n: int) -> tuple[np.ndarray, int, bool]:
        """(n samples from clock time ``at`` on, how many came from the queue, whether it ran dry)."""
        out = np.zeros(n, np.float32)
        filled = copied = 0
        rate = self.rate
        first = True
        with self._lock:
            while filled < n and self._blocks:
                head = self._blocks[0]
                err = head[0] - (at + filled / rate)
                if first:
                    self.last_error, first = err, False
                if err > self.tolerance:  # early: silence until it is due
                    gap = int(round(err * rate))
                    if gap >= n - filled:
                        break
                    filled += gap
                    continue
                if err < -self.tolerance:  # late: drop what should already have been heard
                    self.corrections += 1
                    skip = min(head[1].size, int(round(-err * rate)))
                    head[1] = head[1][skip:]
                    head[0] += skip / rate
                    if head[1].size == 0:
                        self._blocks.popleft()
                    continue
                k = min(n - filled, head[1].size)
                out[filled:filled + k] = head[1][:k]
                filled += k
                copied += k
                head[1] = head[1][k:]
                head[0] += k / rate
                if head[1].size == 0:
                    self._blocks.popleft()
            dry = filled < n and not self._blocks
        return out, copied, dry
