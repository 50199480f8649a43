"""Prosody -> brows and nods: pitch rises lift the brows, loudness peaks (stressed syllables) nod.

Per frame, windowed means over the 100 Hz features compare the local loudness and pitch with the
speaker's own recent level, so a quiet or low voice moves the brows as much as a loud or high
one. Windows reach at most ``LOOKAHEAD`` s ahead (what the streaming teacher waits for).
Without audio features, phone timings stand in: long vowels are read as stressed.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..types import AudioFeatures, Phoneme

LOOKAHEAD = 0.08  # s of audio after a frame that its prosody reads
LOCAL = 0.15  # s before the frame in the local window
BASELINE = 2.5  # s of history for the speaker's level
SMOOTH = 0.25  # s of averaging of the raw signals
HISTORY = BASELINE + SMOOTH + 0.05  # s of features before a frame that it reads
SPEECH_DB = -50.0  # frames louder than this count as speech
VOWELS = {"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"}


def _window_mean(values: np.ndarray, weights: np.ndarray, hi: np.ndarray, length: int) -> np.ndarray:
    """Weighted mean of values[hi - length:hi] for each hi (indices before 0 count as absent).

    Every window is summed on its own rather than as a difference of running sums, so the result
    depends only on the frames inside it: a streaming buffer that has dropped old frames gives
    exactly the numbers the whole recording gives."""
    pad = np.zeros(length)
    v = np.concatenate([pad, values * weights])
    w = np.concatenate([pad, weights])
    idx = np.clip(hi, 0, values.size)  # window [hi - length, hi) starts at padded index hi
    num = np.lib.stride_tricks.sliding_window_view(v, length)[idx].sum(axis=1)
    den = np.lib.stride_tricks.sliding_window_view(w, length)[idx].sum(axis=1)
    return np.where(den > 0, num / np.maximum(den, 1e-12), np.nan)


def _raw(times: np.ndarray, features: AudioFeatures) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unsmoothed (emphasis, rise, activity) at ``times``; windows end at t + LOOKAHEAD."""
    rate = float(features.frame_rate)
    loud = np.asarray(features.loudness, np.float64)
    f0 = np.asarray(features.f0, np.float64)
    speech = (loud > SPEECH_DB).astype(np.float64)
    voiced = ((f0 > 0) & (speech > 0)).astype(np.float64)
    semis = 12 * np.log2(np.maximum(f0, 1.0) / 100.0)
    ahead = int(round(LOOKAHEAD * rate))
    # One past the last frame a time may read: the frame at or before t, plus the lookahead.
    hi = np.floor((times - features.t) * rate + 1e-6).astype(np.int64) + 1 + ahead
    n_local, n_base, n_act = (int(round(x * rate)) + ahead for x in (LOCAL, BASELINE, 0.5))
    local_db = _window_mean(loud, speech, hi, n_local)
    base_db = _window_mean(loud, speech, hi, n_base)
    local_st = _window_mean(semis, voiced, hi, n_local)
    base_st = _window_mean(semis, voiced, hi, n_base)
    act = _window_mean(speech, np.ones(loud.size), hi, n_act)
    emphasis = np.clip((np.nan_to_num(local_db - base_db, nan=0.0) - 1.0) / 7.0, 0.0, 1.0)
    rise = np.clip((np.nan_to_num(local_st - base_st, nan=0.0) - 0.5) / 4.0, 0.0, 1.0)
    return emphasis, rise, np.nan_to_num(act, nan=0.0)


def from_features(times: np.ndarray, features: AudioFeatures) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(emphasis, rise, activity), each (T,) in 0..1, at ``times`` (s on the features' timeline).

    The raw signals switch abruptly as syllables enter and leave the local window, so each is
    averaged over the SMOOTH seconds before the frame (on a 100 Hz grid): gestures ramp in and out
    over about a quarter of a second, and still read nothing after t + LOOKAHEAD."""
    times = np.asarray(times, np.float64)
    if len(features) == 0 or times.size == 0:
        z = np.zeros(times.size)
        return z, z, z
    step = 1.0 / float(features.frame_rate)
    k = int(round(SMOOTH / step))
    # The grid is anchored to the features' own frames, so it is the same however frames are requested.
    g0 = int(np.floor((times.min() - features.t) / step)) - k
    g1 = int(np.floor((times.max() - features.t) / step)) + 1
    grid = features.t + np.arange(g0, g1 + 1) * step
    raw = np.stack(_raw(grid, features))  # (3, G)
    j = np.floor((times - features.t) / step + 1e-6).astype(np.int64) - g0  # grid index at or before t
    # Each window summed on its own (not as a difference of running sums), so the result does not
    # depend on where the grid starts: streaming equals offline exactly.
    windows = np.lib.stride_tricks.sliding_window_view(raw, k, axis=1)  # (3, G-k+1, k)
    out = windows[:, j + 1 - k].sum(axis=2) / k
    return out[0], out[1], out[2]


def from_phonemes(times: np.ndarray, phonemes: Sequence[Phoneme]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The same three signals from phone timings alone (no pitch: rise stays 0)."""
    times = np.asarray(times, np.float64)
    emphasis = np.zeros(times.size)
    activity = np.zeros(times.size)
    for p in phonemes:
        if p.symbol == "SIL":
            continue
        # Activity: share of the last 0.5 s (plus lookahead) covered by speech.
        a0, a1 = times - 0.5, times + LOOKAHEAD
        activity += np.clip(np.minimum(a1, p.end) - np.maximum(a0, p.start), 0, None) / (0.5 + LOOKAHEAD)
        if p.symbol in VOWELS and p.end - p.start > 0.11:
            # A long vowel is a stressed one: a bump centred on it.
            c = 0.5 * (p.start + p.end)
            strength = min(1.0, (p.end - p.start - 0.11) / 0.1 + 0.4)
            emphasis = np.maximum(emphasis, strength * np.exp(-0.5 * ((times - c) / 0.08) ** 2))
    return np.clip(emphasis, 0, 1), np.zeros(times.size), np.clip(activity, 0, 1)
