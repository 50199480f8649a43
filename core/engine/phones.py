"""Phone timings of speech we synthesize, carried from the source to a phone-driven generator.

A source that knows its words (TTS) reports each utterance's phones with the clock time its first
sample was released; the engine places that on the mixed audio stream and cuts the generator's
segment at the utterance's start and end, so the phones' zero is the segment's zero exactly as in
an offline run. Trade-off: a cut restarts the feature window (half a window of zero padding) even
when a microphone is mixed in, which lips cannot show, instead of shifting phones mid-segment.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from ..types import Phoneme, TimedPhonemes  # noqa: F401  (TimedPhonemes: re-exported)


@dataclass(frozen=True)
class PhoneSpan:
    """An utterance placed on the mixed stream: start/end in stream seconds (AudioMixer.take's t)."""

    start: float
    end: float
    phonemes: tuple[Phoneme, ...]


class PhoneSchedule:
    """Utterance spans waiting on the stream, and the one the generator's segment now follows.

    The engine asks next_boundary() before feeding audio and cuts the segment there; cross(at)
    says which phones (if any) the segment starting at ``at`` gets. Used on the engine's worker
    thread only."""

    def __init__(self) -> None:
        self._pending: deque[PhoneSpan] = deque()
        self.active: PhoneSpan | None = None

    def add(self, start: float, timed: TimedPhonemes) -> None:
        span = PhoneSpan(start, start + timed.duration, tuple(timed.phonemes))
        # One source releases utterances in order; keep the queue ordered anyway (two sources).
        items = sorted([*self._pending, span], key=lambda s: s.start)
        self._pending = deque(items)

    def next_boundary(self) -> float | None:
        """Stream time of the next cut: the active utterance's end or the next one's start."""
        points = []
        if self.active is not None:
            points.append(self.active.end)
        if self._pending:
            points.append(self._pending[0].start)
        return min(points) if points else None

    def cross(self, at: float) -> tuple[Phoneme, ...]:
        """Move past the boundary at ``at``; the phones for the segment that starts there (empty
        when it is audio without them). A new utterance ends the previous one even if it overlaps."""
        eps = 1e-6
        if self._pending and self._pending[0].start <= at + eps:
            self.active = self._pending.popleft()
            return self.active.phonemes
        if self.active is not None and self.active.end <= at + eps:
            self.active = None
        return ()

    def remaining(self, at: float) -> tuple[Phoneme, ...]:
        """The active utterance's phones from stream time ``at`` on, re-timed to start there (for a
        segment cut inside an utterance)."""
        if self.active is None:
            return ()
        off = at - self.active.start
        return tuple(Phoneme(p.symbol, max(0.0, p.start - off), p.end - off)
                     for p in self.active.phonemes if p.end - off > 0)

    def drop_active(self) -> None:
        self.active = None

    def clear(self) -> None:
        """Interrupt: nothing pending, nothing active."""
        self._pending.clear()
        self.active = None

    @property
    def pending(self) -> int:
        return len(self._pending)
