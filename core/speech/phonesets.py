"""Engine phone symbols -> ARPAbet Phonemes, driven by the tables in phonesets.json.

Every engine speaks its own alphabet (espeak-ng and piper IPA, flite/festival lower-case
ARPAbet, pocketsphinx CMU ARPAbet); one converter per phone set keeps the rest of the code on
ARPAbet. IPA arrives as a character stream (piper times each code point), so it is matched
longest-first across unit boundaries; the cost is that a diphthong split over two timed units
gets the union of their spans, which is what we want.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from typing import Sequence

from ..types import Phoneme

SIL = "SIL"


@dataclass(frozen=True)
class PhoneSet:
    """One engine alphabet: symbol -> ARPAbet phones, plus marks to ignore and pause symbols."""

    name: str
    table: dict[str, tuple[str, ...]]
    ignore: frozenset[str]
    silence: frozenset[str]
    char_stream: bool  # IPA: match longest-first over characters; others: whole symbols

    @property
    def max_len(self) -> int:
        return max(len(k) for k in self.table)

    def convert(self, units: Sequence[tuple[str, float, float]]) -> tuple[list[Phoneme], list[str]]:
        """(symbol, start, end) units in time order -> (ARPAbet phonemes, unknown symbols).

        Unknown symbols extend the phone before them rather than inventing one; the caller
        decides whether an unknown is worth an error (tests check that none occur)."""
        if self.char_stream:
            pieces, unknown = self._match_chars(units)
        else:
            pieces, unknown = self._match_symbols(units)
        return _tidy(pieces), unknown

    def _match_symbols(self, units):
        pieces: list[list] = []
        unknown: list[str] = []
        for sym, start, end in units:
            key = sym.strip()
            low = key.lower() if self.name != "cmu" else key.upper()
            if key in self.silence or low in self.silence or key.lower() in self.silence:
                pieces.append([SIL, start, end])
            elif low in self.table:
                _split(pieces, self.table[low], start, end)
            elif key in self.ignore or not key:
                _extend(pieces, start, end)
            else:
                unknown.append(key)
                _extend(pieces, start, end)
        return pieces, unknown

    def _match_chars(self, units):
        # Flatten to characters with time spans; a unit's span is shared among its characters.
        chars: list[list] = []  # [char, start, end]
        for sym, start, end in units:
            if sym == "":
                continue
            step = (end - start) / len(sym)
            for k, ch in enumerate(sym):
                chars.append([ch, start + k * step, start + (k + 1) * step])
        pieces: list[list] = []
        unknown: list[str] = []
        pending: float | None = None  # start time carried by a stress mark to the next phone
        i = 0
        while i < len(chars):
            ch, start, end = chars[i]
            if ch in self.ignore:
                # Stress marks precede their vowel; their time belongs to it.
                pending = start if pending is None else pending
                i += 1
                continue
            if ch.isspace():
                _extend(pieces, start, end)  # word gaps belong to the phone before
                i += 1
                continue
            if ch in self.silence:
                pieces.append([SIL, start if pending is None else pending, end])
                pending = None
                i += 1
                continue
            match = None
            for n in range(min(self.max_len, len(chars) - i), 0, -1):
                # Skip ignorable marks inside a candidate (e.g. syllabic n with a combining mark).
                seq = "".join(c[0] for c in chars[i:i + n] if c[0] not in self.ignore)
                if seq in self.table and chars[i + n - 1][0] not in self.ignore:
                    match = (seq, n)
                    break
            if match is None:
                unknown.append(ch)
                _extend(pieces, start, end)
                i += 1
                continue
            seq, n = match
            s = start if pending is None else pending
            _split(pieces, self.table[seq], s, chars[i + n - 1][2])
            pending = None
            i += n
        if pending is not None:
            _extend(pieces, pending, chars[-1][2])
        return pieces, unknown


def _split(pieces: list, phones: Sequence[str], start: float, end: float) -> None:
    step = (end - start) / len(phones)
    for k, p in enumerate(phones):
        pieces.append([p, start + k * step, start + (k + 1) * step])


def _extend(pieces: list, start: float, end: float) -> None:
    if pieces:
        pieces[-1][2] = max(pieces[-1][2], end)
    else:
        pieces.append([SIL, start, end])


def _tidy(pieces: list) -> list[Phoneme]:
    """Merge neighbouring silences, close gaps and drop empty phones."""
    out: list[list] = []
    for sym, start, end in pieces:
        if out and start > out[-1][2] + 1e-6:
            gap_sym = SIL
            if out[-1][0] == SIL:
                out[-1][2] = start
            else:
                out.append([gap_sym, out[-1][2], start])
        if out and start < out[-1][2]:
            start = out[-1][2]
        if end - start <= 1e-6:
            continue
        if out and sym == SIL and out[-1][0] == SIL:
            out[-1][2] = end
            continue
        out.append([sym, start, end])
    return [Phoneme(s, round(a, 4), round(b, 4)) for s, a, b in out]


@lru_cache(maxsize=None)
def _doc() -> dict:
    return json.loads(files(__package__).joinpath("phonesets.json").read_text(encoding="utf-8"))


ARPABET: tuple[str, ...] = tuple(_doc()["arpabet"])


@lru_cache(maxsize=None)
def phoneset(name: str) -> PhoneSet:
    """'ipa' (espeak-ng, piper), 'festvox' (flite, festival) or 'cmu' (pocketsphinx)."""
    doc = _doc()
    if name not in doc or name in ("arpabet", "_comment"):
        raise KeyError(f"unknown phone set {name!r}; expected ipa, festvox or cmu")
    d = doc[name]
    table = {k: tuple(v) for k, v in d["map"].items()}
    bad = sorted({p for v in table.values() for p in v} - set(ARPABET))
    if bad:
        raise ValueError(f"phonesets.json {name}: non-ARPAbet targets {bad}")
    return PhoneSet(name, table, frozenset(d["ignore"]), frozenset(d["silence"]), char_stream=(name == "ipa"))
