"""The articulation truth: per-phone jaw opening and lip aperture from phonetics measurements,
turned into a per-frame track on ARKit's 0..1 scale from force-aligned phones.

This module is the yardstick's own model of the mouth and deliberately shares nothing with the
viseme teacher (core/teacher): the numbers come from the articulography and lip-photography
literature below, not from any tuning of ours, so a generator that agrees with the teacher gains
nothing here unless the teacher itself articulates. Trade-off: one value per phone (a target) with
straight lines between targets is a coarse model of articulation (no speaker, stress or rate
effects), but it is transparent and every number can be checked against its source.

Sources (values in the table are rounded readings in millimetres, typical adult, connected
speech at a normal rate; individual speakers and studies differ by about +-2-3 mm):
- Jaw opening (lower incisor below occlusion). Vowels: Lindblom & Sundberg (1971), "Acoustical
  consequences of lip, tongue, jaw, and larynx movement", JASA 50:1166-1179 (jaw opening grows
  with vowel height: high vowels ~3-5 mm, mid ~7-9 mm, low ~11-14 mm); Tasko & McClean (2004),
  "Variations in articulatory movement with changes in speech task", JSLHR 47:85-100 (jaw ranges
  of about 10-13 mm in connected speech, X-ray microbeam / EMA). Consonants: Keating, Lindblom,
  Lubker & Kreiman (1994), "Variability in jaw height for segments in English and Swedish VCVs",
  J. Phonetics 22:407-422, and Mooshammer, Hoole & Geumann (2007), "Jaw and order", Language and
  Speech 50:145-176 (EMA): the jaw is highest for /s z/ (about 1-2 mm from occlusion), then
  /t d ʃ tʃ/ and labiodentals, lower for /n l/ and bilabials, lowest among consonants for velars
  and /r/; /h/ has no jaw target of its own (it takes its neighbours' vowel).
- Lip aperture (vertical distance between the lips at the midline). Fromkin (1964), "Lip positions
  in American English vowels", Language and Speech 7:215-225 (photographic: largest for /ɑ æ/,
  smallest for /u/ and the rounded vowels, the lips about 2-5 mm further apart than the incisors
  in unrounded vowels); bilabial stops and /m/ are zero by definition (lips in contact), the
  labiodentals leave 1-3 mm (lower lip against the upper incisors), /w/ a small rounded opening.

Conversion to ARKit (a project choice, stated so it can be argued with): jawOpen = jaw mm /
JAW_FULL_MM and the lip gap (ARKit's jawOpen - mouthClose) = lips mm / LIP_FULL_MM, with 20 mm of
jaw and 25 mm of lips taken as 1.0: about the largest opening of loud, emphatic speech (Schulman
(1989), "Articulatory dynamics of loud and normal speech", JASA 85:295-312), so ordinary open
vowels land at jawOpen 0.55-0.65, as face trackers report for open vowels in speech.
The truth's mouthClose = max(jawOpen - gap, 0), which makes the lips meet (gap 0) at M, B and P.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from marionette.core.motion_space import CHANNEL_INDEX
from marionette.core.types import N_CHANNELS, NEUTRAL_VECTOR, Phoneme

JAW_FULL_MM = 20.0
LIP_FULL_MM = 25.0
SILENCES = frozenset({"SIL", "SP", "SPN", "NSN", ""})
BILABIALS = frozenset({"M", "B", "P"})
LABIALS = frozenset({"M", "B", "P", "F", "V", "W"})
OPEN_VOWELS = frozenset({"AA", "AE", "AH", "AO", "AW", "AY"})

# phone -> (jaw mm, lip aperture mm). A diphthong has two targets (onset, offglide); None: no target
# of its own (/h/: the line between its neighbours passes through it).
MM: dict[str, tuple[tuple[float, float], ...] | None] = {
    # monophthongs: jaw by height (Lindblom & Sundberg 1971), lips by Fromkin (1964)
    "AA": ((13, 16),), "AE": ((12, 14),), "AO": ((11, 12),), "AH": ((9, 12),), "EH": ((9, 12),),
    "ER": ((6, 8),), "IH": ((6, 10),), "IY": ((4, 9),), "UH": ((6, 7),), "UW": ((4, 5),),
    # diphthongs: onset, offglide
    "AW": ((12, 15), (5, 6)), "AY": ((12, 15), (5, 9)), "EY": ((8, 11), (5, 9)), "OW": ((8, 9), (5, 6)),
    "OY": ((10, 10), (5, 9)),
    # consonants: jaw after Keating et al. (1994) and Mooshammer et al. (2007)
    "M": ((4, 0),), "B": ((3, 0),), "P": ((3, 0),),
    "F": ((3, 2),), "V": ((3, 2),), "W": ((4, 4),),
    "TH": ((4, 8),), "DH": ((4, 8),),
    "T": ((3, 7),), "D": ((3, 7),), "N": ((4, 7),), "S": ((2, 6),), "Z": ((2, 6),),
    "SH": ((3, 7),), "ZH": ((3, 7),), "CH": ((3, 7),), "JH": ((3, 7),),
    "L": ((5, 9),), "R": ((5, 6),), "Y": ((4, 7),),
    "K": ((5, 9),), "G": ((5, 9),), "NG": ((5, 9),),
    "HH": None,
}
REST_MM = (2.0, 0.0)  # at rest: jaw at the freeway space, lips together
DIPHTHONG_AT = (0.3, 0.85)  # where in a diphthong its onset and offglide targets sit
SHORT_PAUSE = 0.1  # s: a silence shorter than this is a gap in the alignment, not a rest

_J, _C = CHANNEL_INDEX["jawOpen"], CHANNEL_INDEX["mouthClose"]


@dataclass(frozen=True)
class Target:
    """One phone's target on ARKit's scale: jawOpen and lip gap (jawOpen - mouthClose)."""

    jaw: float
    gap: float


def targets(symbol: str) -> tuple[Target, ...] | None:
    """The phone's targets (two for a diphthong), None for /h/; KeyError names an unknown phone."""
    if symbol in SILENCES:
        return (Target(REST_MM[0] / JAW_FULL_MM, REST_MM[1] / LIP_FULL_MM),)
    if symbol not in MM:
        raise KeyError(f"phone {symbol!r} is not in the articulation table; expected ARPAbet "
                       f"({', '.join(sorted(MM))} or SIL)")
    mm = MM[symbol]
    if mm is None:
        return None
    return tuple(Target(min(j / JAW_FULL_MM, 1.0), min(g / LIP_FULL_MM, 1.0)) for j, g in mm)


def keypoints(phones: Sequence[Phoneme]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(times, jaw, gap) of the truth's targets: a bilabial holds gap 0 from its start to its end
    (the lips meet for the whole closure), a pause of at least SHORT_PAUSE rests from 50 ms after
    its start to 50 ms before its end, a diphthong has two targets, every other phone one at its
    midpoint."""
    t, j, g = [], [], []
    for p in phones:
        dur = max(p.end - p.start, 1e-3)
        if p.symbol in SILENCES:
            if dur < SHORT_PAUSE:
                continue
            (rest,) = targets(p.symbol)
            for x in (p.start + 0.05, p.end - 0.05):
                t.append(x), j.append(rest.jaw), g.append(rest.gap)
            continue
        tg = targets(p.symbol)
        if tg is None:
            continue
        if p.symbol in BILABIALS:
            at = (p.start, p.end)
            tg = tg * 2
        elif len(tg) == 2:
            at = tuple(p.start + f * dur for f in DIPHTHONG_AT)
        else:
            at = (p.start + 0.5 * dur,)
        for x, tgt in zip(at, tg):
            t.append(x), j.append(tgt.jaw), g.append(tgt.gap)
    order = np.argsort(np.asarray(t), kind="stable")
    return np.asarray(t)[order], np.asarray(j)[order], np.asarray(g)[order]


def truth_track(phones: Sequence[Phoneme], times: np.ndarray) -> np.ndarray:
    """float32 (T, 58) truth at ``times``: neutral except jawOpen and mouthClose, straight lines
    between the targets (held flat before the first and after the last)."""
    times = np.asarray(times, np.float64)
    out = np.tile(NEUTRAL_VECTOR, (times.size, 1)).astype(np.float32)
    if out.shape[1] != N_CHANNELS:
        raise ValueError("motion vector size changed")
    kt, kj, kg = keypoints(phones)
    if kt.size == 0:
        return out
    jaw = np.interp(times, kt, kj)
    gap = np.interp(times, kt, kg)
    out[:, _J] = jaw
    out[:, _C] = np.maximum(jaw - gap, 0.0)
    return out
