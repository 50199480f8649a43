"""Lip-sync metrics: a predicted motion track against ground truth and the phones that were spoken.

Definitions (the same for every generator, so numbers compare):
- lips closed: lip gap = jawOpen - mouthClose (ARKit's mouthClose brings the lips together against
  an open jaw; teacher.visemes.lip_gap) below CLOSED_GAP = 0.04, i.e. within 4 % of the jaw's travel.
- bilabial recall: share of M/B/P phones during which, or within +-40 ms of which, the lips close.
- bilabial precision: share of closure events inside speech (runs of closed frames that neither touch
  the silence before/after the utterance nor overlap a pause of >= 100 ms) that come within +-40 ms of
  an M/B/P phone. Closing the mouth at rest or in pauses is free.
- rounded-vowel recall: share of UW/UH/OW/AO/OY/W phones (+-40 ms) where max(mouthFunnel, mouthPucker)
  reaches ROUNDED = 0.25.
- jawOpen r: Pearson correlation over all frames; MAE: mean |pred - gt| over the mouth channels.
- offset: the lag (ms) of the best cross-correlation of jawOpen within +-300 ms; positive = the
  prediction is late.
Trade-off: thresholds on blendshape values assume generators speak the ARKit space like the teacher
does; they are fixed here and documented so that a generator cannot tune the yardstick.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from marionette.core.motion_space import ALL_CHANNELS, CHANNEL_INDEX
from marionette.core.types import Phoneme

CLOSED_GAP = 0.04
ROUNDED = 0.25
TOLERANCE = 0.040  # s, either side
MIN_PAUSE = 0.100  # s: silences at least this long are pauses, where closing the mouth is not an error
MAX_LAG = 0.300  # s, for the audio-visual offset
BILABIALS = ("M", "B", "P")
ROUNDED_PHONES = ("UW", "UH", "OW", "AO", "OY", "W")
SILENCES = ("SIL", "SP", "SPN", "NSN", "")
MOUTH_CHANNELS: tuple[str, ...] = tuple(c for c in ALL_CHANNELS if c.startswith(("jaw", "mouth")))
_MOUTH_IDX = np.array([CHANNEL_INDEX[c] for c in MOUTH_CHANNELS])
_JAW = CHANNEL_INDEX["jawOpen"]
_CLOSE = CHANNEL_INDEX["mouthClose"]
_FUNNEL = CHANNEL_INDEX["mouthFunnel"]
_PUCKER = CHANNEL_INDEX["mouthPucker"]


@dataclass
class Utterance:
    """One evaluated utterance at a common frame rate: pred and gt float32 (T, 58)."""

    name: str
    fps: float
    pred: np.ndarray
    gt: np.ndarray
    phones: Sequence[Phoneme]


@dataclass
class LipsyncScores:
    jaw_open_r: float
    bilabial_recall: float | None  # None: nothing to count (no M/B/P, no closures, no rounded phones)
    bilabial_precision: float | None
    rounded_recall: float | None
    offset_ms: float
    mouth_mae: float
    n_utterances: int
    n_frames: int
    n_bilabials: int
    n_rounded: int
    n_closures: int

    def to_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def lip_gap(values: np.ndarray) -> np.ndarray:
    return values[:, _JAW] - values[:, _CLOSE]


def closed(values: np.ndarray) -> np.ndarray:
    return lip_gap(values) < CLOSED_GAP


def rounded(values: np.ndarray) -> np.ndarray:
    return np.maximum(values[:, _FUNNEL], values[:, _PUCKER]) >= ROUNDED


def _frames(t0: float, t1: float, fps: float, n: int) -> slice:
    a = max(0, int(np.floor((t0 - TOLERANCE) * fps)))
    b = min(n, int(np.ceil((t1 + TOLERANCE) * fps)) + 1)
    return slice(a, max(a, b))


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True."""
    m = np.concatenate([[False], mask, [False]]).astype(np.int8)
    d = np.diff(m)
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


def _event_hits(u: Utterance, symbols: tuple[str, ...], state: np.ndarray) -> tuple[int, int]:
    n = hits = 0
    for p in u.phones:
        if p.symbol in symbols:
            n += 1
            hits += bool(state[_frames(p.start, p.end, u.fps, state.size)].any())
    return hits, n


def _pauses(phones: Sequence[Phoneme]) -> list[tuple[float, float]]:
    """Runs of consecutive silence phones lasting at least MIN_PAUSE (aligners split silences)."""
    runs: list[list[float]] = []
    for p in phones:
        if p.symbol not in SILENCES:
            continue
        if runs and p.start - runs[-1][1] < 0.011:
            runs[-1][1] = max(runs[-1][1], p.end)
        else:
            runs.append([p.start, p.end])
    return [(a, b) for a, b in runs if b - a >= MIN_PAUSE]


def _closure_precision(u: Utterance, shut: np.ndarray) -> tuple[int, int]:
    spoken = [p for p in u.phones if p.symbol not in SILENCES]
    if not spoken:
        return 0, 0
    speech_start, speech_end = min(p.start for p in spoken), max(p.end for p in spoken)
    pauses = _pauses(u.phones)
    bil = [(p.start - TOLERANCE, p.end + TOLERANCE) for p in spoken if p.symbol in BILABIALS]
    good = events = 0
    for a, b in _runs(shut):
        ta, tb = a / u.fps, b / u.fps
        if ta < speech_start or tb > speech_end:
            continue  # the mouth at rest before or after the utterance (or running into it)
        if any(ta < pe and tb > ps for ps, pe in pauses):
            continue  # overlaps a pause
        events += 1
        good += any(ta <= be and tb >= bs for bs, be in bil)
    return good, events


def _xcorr(a: np.ndarray, b: np.ndarray, max_lag: int) -> np.ndarray:
    """Cross-covariance c[k] = mean_t a[t + k] b[t] over the overlapping frames, k in -max_lag..max_lag
    (zero-mean). The mean, not the sum: a sum favours the lags with more overlap, which moved the peak
    of a plateau-shaped jaw track by a frame."""
    a = a - a.mean()
    b = b - b.mean()
    n = a.size
    out = np.zeros(2 * max_lag + 1)
    for i, k in enumerate(range(-max_lag, max_lag + 1)):
        if k >= 0:
            out[i] = np.dot(a[k:], b[: n - k]) / (n - k) if k < n else 0.0
        else:
            out[i] = np.dot(a[: n + k], b[-k:]) / (n + k) if -k < n else 0.0
    return out


def score(utterances: Sequence[Utterance]) -> LipsyncScores:
    if not utterances:
        raise ValueError("no utterances to score")
    fps = utterances[0].fps
    if any(u.fps != fps for u in utterances):
        raise ValueError("all utterances must share one frame rate")
    pred_jaw, gt_jaw, errs = [], [], []
    b_hit = b_n = r_hit = r_n = c_good = c_n = 0
    max_lag = int(round(MAX_LAG * fps))
    xc = np.zeros(2 * max_lag + 1)
    for u in utterances:
        n = min(len(u.pred), len(u.gt))
        pred, gt = np.asarray(u.pred[:n], np.float64), np.asarray(u.gt[:n], np.float64)
        u = Utterance(u.name, u.fps, pred, gt, u.phones)
        pred_jaw.append(pred[:, _JAW])
        gt_jaw.append(gt[:, _JAW])
        errs.append(np.abs(pred[:, _MOUTH_IDX] - gt[:, _MOUTH_IDX]))
        shut = closed(pred)
        h, k = _event_hits(u, BILABIALS, shut)
        b_hit, b_n = b_hit + h, b_n + k
        h, k = _event_hits(u, ROUNDED_PHONES, rounded(pred))
        r_hit, r_n = r_hit + h, r_n + k
        g, e = _closure_precision(u, shut)
        c_good, c_n = c_good + g, c_n + e
        xc += _xcorr(pred[:, _JAW], gt[:, _JAW], max_lag)
    pj, gj = np.concatenate(pred_jaw), np.concatenate(gt_jaw)
    r = float(np.corrcoef(pj, gj)[0, 1]) if pj.std() > 1e-9 and gj.std() > 1e-9 else 0.0
    lag = (int(np.argmax(xc)) - max_lag) / fps if np.any(xc != 0) else 0.0
    return LipsyncScores(
        jaw_open_r=r,
        bilabial_recall=b_hit / b_n if b_n else None,
        bilabial_precision=c_good / c_n if c_n else None,
        rounded_recall=r_hit / r_n if r_n else None,
        offset_ms=1000.0 * lag,
        mouth_mae=float(np.concatenate(errs).mean()),
        n_utterances=len(utterances),
        n_frames=int(pj.size),
        n_bilabials=b_n,
        n_rounded=r_n,
        n_closures=c_n,
    )
