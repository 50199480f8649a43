"""Token buckets: each connection gets its own, so one client's flood is refused at its own door.

Refill is computed from the injected clock on each take (no timers), so an idle bucket costs nothing.
"""

from __future__ import annotations

from ...core.clock import Clock


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up."""

    def __init__(self, rate: float, burst: float, clock: Clock) -> None:
        self.rate, self.burst, self._clock = float(rate), float(burst), clock
        self._tokens = float(burst)
        self._t = clock.now()
        self.refused = 0

    def take(self, n: float = 1.0) -> bool:
        now = self._clock.now()
        self._tokens = min(self.burst, self._tokens + (now - self._t) * self.rate)
        self._t = now
        if self._tokens >= n:
            self._tokens -= n
            return True
        self.refused += 1
        return False
