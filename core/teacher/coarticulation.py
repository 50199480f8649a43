"""Coarticulation by dominance blending (Cohen & Massaro 1993).

Each phone's viseme claims the mouth with a dominance that is flat over the phone's visual span
and falls off as exp(-(d / tau)^c) outside it; the mouth at time t is the dominance-weighted mean
of the targets. The visual span starts ``lead_on`` before the sound and ends ``lead_off`` before
it; both are 0 since the recalibration against `eval articulation` (tools/articulation): a lead of
25 ms plus wide spreads put the mouth 10-45 ms ahead of the audio. Lip closure has a time scale of
its own (``closure_tau``): the lips meet at a bilabial's span and part within a few tens of ms of
its release, so a closure neither reaches into the neighbouring vowels nor gets averaged away.
Trade-off: a closed-form blend (cheap, per-frame, streamable) rather than an articulatory model;
vowels claim the jaw strongly (alpha 4) so short open vowels still open, and consonants spread
little (tau 30 ms), so non-labial consonants keep the lips apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..motion_space import CHANNEL_INDEX
from ..types import N_CHANNELS, Phoneme
from .visemes import VisemeTable

DIPHTHONG_SPLIT = 0.6  # the first class of a diphthong (its nucleus) takes this share of the phone


@dataclass(frozen=True)
class Segments:
    """Visual segments after diphthong splitting. start/end: s (acoustic). cls: viseme class index."""

    start: np.ndarray
    end: np.ndarray
    cls: np.ndarray


def segments(phonemes: Sequence[Phoneme], table: VisemeTable) -> Segments:
    s, e, c = [], [], []
    for p in phonemes:
        classes = table.classes_of(p.symbol)
        if len(classes) == 1:
            s.append(p.start), e.append(p.end), c.append(classes[0])
        else:
            mid = p.start + DIPHTHONG_SPLIT * (p.end - p.start)
            s += [p.start, mid]
            e += [mid, p.end]
            c += list(classes[:2])
    return Segments(np.asarray(s, np.float64), np.asarray(e, np.float64), np.asarray(c, np.int64))


def blend(times: np.ndarray, segs: Segments, table: VisemeTable, *, lead_on: float = 0.0,
          lead_off: float = 0.0, exponent: float = 2.0, reach: float = 0.4,
          closure_tau: float | None = None, min_closure: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Mouth channels at ``times`` (s): float32 (T, 58) (non-mouth columns 0), and closure (T,):
    how near in time a lip-closing phone is (1 inside its visual span, falling off outside it over
    ``closure_tau`` s, or as its dominance does when None), whatever its neighbours; the teacher
    uses it to make the lips meet. The lips part within a few tens of ms of a release, faster than
    the jaw moves, hence a time scale of their own. A closure lasts at least ``min_closure`` s
    (widened about the phone's centre): aligners and TTS engines time some stops at 30-40 ms, which
    a 30 fps frame grid can step over entirely.

    Only segments within ``reach`` seconds of a time take part, so the cost per frame is bounded
    and a frame depends on a bounded stretch of phones (what streaming needs)."""
    times = np.asarray(times, np.float64)
    out = np.zeros((times.size, N_CHANNELS), np.float32)
    closure = np.zeros(times.size, np.float32)
    if segs.cls.size == 0 or times.size == 0:
        return out, closure
    v0 = segs.start - lead_on
    v1 = np.maximum(segs.end - lead_off, v0 + 1e-3)
    cols = list(table.channels)
    closing = table.targets[:, CHANNEL_INDEX["mouthClose"]] > 0
    # Process in blocks of frames against the segments they can see.
    order = np.argsort(v0, kind="stable")
    v0s, v1s = v0[order], v1[order]
    max_len = float(np.max(v1s - v0s))
    for a in range(0, times.size, 256):
        t = times[a:a + 256]
        lo = np.searchsorted(v0s, t[0] - reach - max_len, side="left")
        hi = np.searchsorted(v0s, t[-1] + reach, side="right")
        idx = order[lo:hi]
        if idx.size == 0:
            continue
        tt = t[:, None]
        before = np.maximum(v0[idx][None, :] - tt, 0.0)
        after = np.maximum(tt - v1[idx][None, :], 0.0)
        k = segs.cls[idx]
        d = (before / table.tau_before[k][None, :]) ** exponent + (after / table.tau_after[k][None, :]) ** exponent
        dom = table.alpha[k][None, :] * np.exp(-d)
        dom = np.where((before > reach) | (after > reach), 0.0, dom)
        total = dom.sum(axis=1, keepdims=True)
        w = dom / np.maximum(total, 1e-12)
        out[a:a + 256][:, cols] = (w @ table.targets[k][:, cols]).astype(np.float32)
        if closure_tau is not None:
            if min_closure > 0:
                half = np.maximum(0.5 * (min_closure - (v1[idx] - v0[idx])), 0.0)[None, :]
                before, after = np.maximum(before - half, 0.0), np.maximum(after - half, 0.0)
            d = (before / closure_tau) ** exponent + (after / closure_tau) ** exponent
        shape = np.where(closing[k][None, :], np.exp(-d), 0.0)
        closure[a:a + 256] = shape.max(axis=1)
    return out, closure

