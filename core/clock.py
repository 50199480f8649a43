"""One injected clock for everything that paces or timestamps.

Stage code never reads the wall clock itself: the app passes a MonotonicClock, tests pass a
FakeClock so that a minute of conversation runs in milliseconds and deterministically.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on a monotonic timeline; only differences are meaningful."""
        ...

    async def sleep_until(self, t: float) -> None:
        """Return once now() >= t."""
        ...


class MonotonicClock:
    """The real clock: time.monotonic() and asyncio sleeps."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep_until(self, t: float) -> None:
        delay = t - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)


class FakeClock:
    """A clock that only moves when told to; sleep_until jumps straight to the deadline."""

    def __init__(self, start: float = 0.0) -> None:
        self._t = float(start)

    def now(self) -> float:
        return self._t

    def advance(self, dt: float) -> None:
        if dt < 0:
            raise ValueError(f"a clock cannot go backwards (dt={dt})")
        self._t += dt

    async def sleep_until(self, t: float) -> None:
        if t > self._t:
            self._t = t
        await asyncio.sleep(0)  # still yield, so other tasks interleave as they would
