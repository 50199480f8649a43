"""Articulation metrics: a motion track against force-aligned phones and the phone-table truth.

Definitions (issue 11; the same for every generator, the truth included):
- closed: jawOpen < 0.15, or jawOpen - mouthClose < 0.15, or mouthClose >= 0.5, or
  mouthPressLeft/Right >= 0.5.
- opening: jawOpen - mouthClose clipped to 0..1 (what the eye sees of the mouth).
- r within speech: Pearson r of opening against the truth's, over the frames from the start of the
  first to the end of the last non-silence phone (pauses inside included).
- bilabial recall: share of M/B/P phones with a closed frame within +-40 ms of the phone's midpoint.
- bilabial precision: share of closed speech time (frames inside non-silence phones) that lies
  within a labial (M B P F V W, each widened by 40 ms either side: the same tolerance as recall).
- open-vowel closed: share of the time inside AA AE AH AO AW AY, 20 ms trimmed at each edge, read closed.
- open-vowel jaw: median jawOpen at the midpoints of those vowels.
- non-labial closed: share of speech time more than 60 ms from any M B P F V W that is read closed.
- lag: the shift of the opening (-300..+300 ms, 10 ms steps) that maximises r within speech;
  positive = the generator is late.
Pooling: counts and correlation sums are added over utterances (per speaker, then over all), so a
long clip weighs by its length. Trade-off: thresholds on blendshape values assume a generator
speaks ARKit like a face tracker does; they are fixed here so no generator can tune them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from marionette.core.motion_space import CHANNEL_INDEX
from marionette.core.types import Phoneme

from .phones import BILABIALS, LABIALS, OPEN_VOWELS, SILENCES

FPS = 100.0  # scoring rate
CLOSED_JAW = 0.15
CLOSED_GAP = 0.15
CLOSED_CLOSE = 0.5
CLOSED_PRESS = 0.5
TOLERANCE = 0.040  # s, either side of a bilabial midpoint / around a labial
VOWEL_TRIM = 0.020  # s at each edge of an open vowel
NONLABIAL_DISTANCE = 0.060  # s from any labial
MAX_LAG = 0.300  # s
_J, _C = CHANNEL_INDEX["jawOpen"], CHANNEL_INDEX["mouthClose"]
_PL, _PR = CHANNEL_INDEX["mouthPressLeft"], CHANNEL_INDEX["mouthPressRight"]


def closed(values: np.ndarray) -> np.ndarray:
    """bool (T,): the lips read closed in a (T, 58) track."""
    v = np.asarray(values)
    jaw, close = v[:, _J], v[:, _C]
    return ((jaw < CLOSED_JAW) | (jaw - close < CLOSED_GAP) | (close >= CLOSED_CLOSE)
            | (v[:, _PL] >= CLOSED_PRESS) | (v[:, _PR] >= CLOSED_PRESS))


def opening(values: np.ndarray) -> np.ndarray:
    v = np.asarray(values, np.float64)
    return np.clip(v[:, _J] - v[:, _C], 0.0, 1.0)


def _spoken(phones: Sequence[Phoneme]) -> list[Phoneme]:
    return [p for p in phones if p.symbol not in SILENCES]


def _inside(times: np.ndarray, spans: Sequence[tuple[float, float]]) -> np.ndarray:
    m = np.zeros(times.size, bool)
    for a, b in spans:
        m |= (times >= a) & (times < b)
    return m


def speech_span(times: np.ndarray, phones: Sequence[Phoneme]) -> np.ndarray:
    """bool (T,): from the first non-silence phone's start to the last one's end."""
    sp = _spoken(phones)
    if not sp:
        return np.zeros(times.size, bool)
    return (times >= sp[0].start) & (times < sp[-1].end)


def speech_time(times: np.ndarray, phones: Sequence[Phoneme]) -> np.ndarray:
    """bool (T,): inside a non-silence phone."""
    return _inside(times, [(p.start, p.end) for p in _spoken(phones)])


def bilabial_hits(times: np.ndarray, shut: np.ndarray, phones: Sequence[Phoneme]) -> tuple[int, int]:
    """(M/B/P phones closed within +-TOLERANCE of their midpoint, M/B/P phones)."""
    hits = n = 0
    for p in phones:
        if p.symbol in BILABIALS:
            mid = 0.5 * (p.start + p.end)
            n += 1
            hits += bool(shut[(times >= mid - TOLERANCE) & (times <= mid + TOLERANCE)].any())
    return hits, n


def labial_zone(times: np.ndarray, phones: Sequence[Phoneme], widen: float) -> np.ndarray:
    return _inside(times, [(p.start - widen, p.end + widen) for p in phones if p.symbol in LABIALS])


def closure_precision_counts(times: np.ndarray, shut: np.ndarray, phones: Sequence[Phoneme]) -> tuple[int, int]:
    """(closed speech frames within a labial +-TOLERANCE, closed speech frames)."""
    closed_speech = shut & speech_time(times, phones)
    return int((closed_speech & labial_zone(times, phones, TOLERANCE)).sum()), int(closed_speech.sum())


def open_vowel_counts(times: np.ndarray, shut: np.ndarray, phones: Sequence[Phoneme]) -> tuple[int, int]:
    """(closed frames, frames) inside open vowels trimmed by VOWEL_TRIM at each edge."""
    m = _inside(times, [(p.start + VOWEL_TRIM, p.end - VOWEL_TRIM) for p in phones if p.symbol in OPEN_VOWELS])
    return int((shut & m).sum()), int(m.sum())


def open_vowel_jaw(times: np.ndarray, values: np.ndarray, phones: Sequence[Phoneme]) -> list[float]:
    """jawOpen at each open vowel's midpoint (interpolated between frames)."""
    mids = [0.5 * (p.start + p.end) for p in phones if p.symbol in OPEN_VOWELS]
    return [float(x) for x in np.interp(mids, times, np.asarray(values)[:, _J])] if mids else []


def nonlabial_counts(times: np.ndarray, shut: np.ndarray, phones: Sequence[Phoneme]) -> tuple[int, int]:
    """(closed frames, frames) of speech time more than NONLABIAL_DISTANCE from any labial."""
    m = speech_time(times, phones) & ~labial_zone(times, phones, NONLABIAL_DISTANCE)
    return int((shut & m).sum()), int(m.sum())


def _shift(x: np.ndarray, k: int) -> np.ndarray:
    """y[t] = x[t + k], edges held."""
    idx = np.clip(np.arange(x.size) + k, 0, x.size - 1)
    return x[idx]


LAGS = np.arange(-round(MAX_LAG * FPS), round(MAX_LAG * FPS) + 1)


def lag_sums(pred_open: np.ndarray, truth_open: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(len(LAGS), 6) sums n, x, y, xx, yy, xy over ``mask`` of x = pred shifted by each lag, y = truth."""
    y = truth_open[mask]
    out = np.zeros((LAGS.size, 6))
    for i, k in enumerate(LAGS):
        x = _shift(pred_open, int(k))[mask]
        out[i] = (x.size, x.sum(), y.sum(), (x * x).sum(), (y * y).sum(), (x * y).sum())
    return out


def r_from_sums(s: np.ndarray) -> np.ndarray:
    n, x, y, xx, yy, xy = (s[..., i] for i in range(6))
    cov = xy - x * y / np.maximum(n, 1)
    vx = xx - x * x / np.maximum(n, 1)
    vy = yy - y * y / np.maximum(n, 1)
    den = np.sqrt(np.maximum(vx, 0) * np.maximum(vy, 0))
    return np.where(den > 1e-12, cov / np.maximum(den, 1e-12), np.nan)


@dataclass
class Tally:
    """Everything the scores are made of, addable over utterances."""

    n_utterances: int = 0
    seconds: float = 0.0
    bilabial_hits: int = 0
    n_bilabials: int = 0
    closed_in_labial: int = 0
    closed_speech: int = 0
    open_vowel_closed: int = 0
    open_vowel_frames: int = 0
    open_vowel_jaw: list[float] = field(default_factory=list)
    nonlabial_closed: int = 0
    nonlabial_frames: int = 0
    sums: np.ndarray = field(default_factory=lambda: np.zeros((LAGS.size, 6)))

    def add(self, other: "Tally") -> "Tally":
        for k in ("n_utterances", "seconds", "bilabial_hits", "n_bilabials", "closed_in_labial", "closed_speech",
                  "open_vowel_closed", "open_vowel_frames", "nonlabial_closed", "nonlabial_frames"):
            setattr(self, k, getattr(self, k) + getattr(other, k))
        self.open_vowel_jaw = self.open_vowel_jaw + other.open_vowel_jaw
        self.sums = self.sums + other.sums
        return self

    def scores(self) -> dict:
        r = r_from_sums(self.sums)
        zero = int(np.flatnonzero(LAGS == 0)[0])
        best = int(np.nanargmax(r)) if np.isfinite(r).any() else zero

        def frac(a: int, b: int) -> float | None:
            return round(a / b, 4) if b else None

        return {
            "r_within_speech": None if not np.isfinite(r[zero]) else round(float(r[zero]), 4),
            "bilabial_recall": frac(self.bilabial_hits, self.n_bilabials),
            "bilabial_precision": frac(self.closed_in_labial, self.closed_speech),
            "open_vowel_closed": frac(self.open_vowel_closed, self.open_vowel_frames),
            "open_vowel_jaw_median": round(float(np.median(self.open_vowel_jaw)), 4) if self.open_vowel_jaw else None,
            "nonlabial_closed": frac(self.nonlabial_closed, self.nonlabial_frames),
            "lag_ms": int(round(LAGS[best] * 1000 / FPS)),
            "r_at_lag": None if not np.isfinite(r[best]) else round(float(r[best]), 4),
            "n_utterances": self.n_utterances,
            "minutes": round(self.seconds / 60, 2),
            "n_bilabials": self.n_bilabials,
            "n_open_vowels": len(self.open_vowel_jaw),
        }


def tally(pred: np.ndarray, truth: np.ndarray, phones: Sequence[Phoneme], fps: float = FPS) -> Tally:
    """One utterance: pred and truth float32 (T, 58) on the same grid (frame i at i / fps s)."""
    pred, truth = np.asarray(pred), np.asarray(truth)
    if pred.shape != truth.shape:
        raise ValueError(f"prediction {pred.shape} and truth {truth.shape} differ in shape")
    times = np.arange(pred.shape[0]) / fps
    shut = closed(pred)
    t = Tally(n_utterances=1, seconds=pred.shape[0] / fps)
    t.bilabial_hits, t.n_bilabials = bilabial_hits(times, shut, phones)
    t.closed_in_labial, t.closed_speech = closure_precision_counts(times, shut, phones)
    t.open_vowel_closed, t.open_vowel_frames = open_vowel_counts(times, shut, phones)
    t.open_vowel_jaw = open_vowel_jaw(times, pred, phones)
    t.nonlabial_closed, t.nonlabial_frames = nonlabial_counts(times, shut, phones)
    t.sums = lag_sums(opening(pred), opening(truth), speech_span(times, phones))
    return t
