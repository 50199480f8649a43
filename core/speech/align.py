"""Forced alignment of recorded speech to its transcript with pocketsphinx 5 (its en-us model ships in the wheel).

Two passes, as pocketsphinx wants: a word-level FSG decode of the transcript, then a sub-word
alignment. It only holds together with bestpath off and very wide beams (FACTS.md); the price is
about 0.1 s of CPU per second of audio. Digits are spelled out and words missing from the 135k
dictionary get a pronunciation from espeak-ng, so odd words cost accuracy, never the alignment.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading

import numpy as np

from ..types import AudioChunk, Phoneme
from .errors import AlignmentError, EngineUnavailableError
from .phonesets import SIL, phoneset

INSTALL_HINT = "pip install pocketsphinx==5.1.1"
RATE = 16000
FRAME_RATE = 100.0  # pocketsphinx frames per second

_lock = threading.Lock()
_decoder = None


def available() -> str | None:
    try:
        import pocketsphinx  # noqa: F401
    except ImportError:
        return f"forced alignment needs pocketsphinx; {INSTALL_HINT}"
    return None


def _get_decoder():
    global _decoder
    if _decoder is None:
        try:
            from pocketsphinx import Decoder
        except ImportError:
            raise EngineUnavailableError(f"forced alignment needs pocketsphinx; {INSTALL_HINT}") from None
        _decoder = Decoder(samprate=RATE, bestpath=False, beam=1e-100, wbeam=1e-100, pbeam=1e-100,
                           loglevel="FATAL")
    return _decoder


# ---------------------------------------------------------------- transcript normalisation
_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen " \
        "sixteen seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def spell_number(n: int) -> str:
    """Cardinal English words for 0 <= n < 10**12 ("one hundred twenty three")."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        return _ONES[n // 100] + " hundred" + ("" if n % 100 == 0 else " " + spell_number(n % 100))
    for size, word in ((10**9, "billion"), (10**6, "million"), (1000, "thousand")):
        if n >= size:
            rest = n % size
            return spell_number(n // size) + " " + word + ("" if rest == 0 else " " + spell_number(rest))
    raise ValueError(n)


def _spell_token(tok: str) -> str:
    if re.fullmatch(r"\d+\.\d+", tok):
        whole, frac = tok.split(".")
        return _spell_token(whole) + " point " + " ".join(_ONES[int(d)] for d in frac)
    n = int(tok)
    if len(tok) > 12:
        return " ".join(_ONES[int(d)] for d in tok)
    if 1100 <= n <= 1999 or 2010 <= n <= 2099:  # read as a year: "nineteen eighty four"
        hi, lo = divmod(n, 100)
        return spell_number(hi) + (" hundred" if lo == 0 else (" oh " + _ONES[lo] if lo < 10 else " " + spell_number(lo)))
    return spell_number(n)


def normalise_transcript(text: str) -> list[str]:
    """Lower-case words the dictionary can know: digits spelled out, punctuation dropped."""
    text = text.lower().replace("%", " percent ").replace("&", " and ")
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)  # 1,000 -> 1000
    text = re.sub(r"\d+(?:\.\d+)?", lambda m: " " + _spell_token(m.group()) + " ", text)
    return re.findall(r"[a-z]+(?:'[a-z]+)*", text)


def _espeak_pronunciation(word: str) -> str | None:
    """ARPAbet for a word the dictionary lacks, from espeak-ng's letter-to-sound rules."""
    if not shutil.which("espeak-ng"):
        return None
    out = subprocess.run(["espeak-ng", "-q", "--ipa", "-v", "en-us", word], capture_output=True, text=True)
    phones, _unknown = phoneset("ipa").convert([(out.stdout.strip(), 0.0, 1.0)])
    symbols = [p.symbol for p in phones if p.symbol != SIL]
    return " ".join(symbols) or None


def _prepare_words(decoder, words: list[str]) -> list[str]:
    kept = []
    for w in words:
        if decoder.lookup_word(w) is None:
            pron = _espeak_pronunciation(w)
            if pron is None:
                continue  # no way to pronounce it: leave it to the surrounding words and silence
            decoder.add_word(w, pron, True)
        kept.append(w)
    return kept


# ---------------------------------------------------------------- alignment
def _to_pcm16(audio: AudioChunk) -> bytes:
    x = np.asarray(audio.samples, np.float32)
    if x.ndim != 1:
        raise AlignmentError(f"forced alignment: audio shape {x.shape}, expected mono (N,)")
    if audio.sample_rate != RATE:
        from math import gcd

        from scipy.signal import resample_poly

        g = gcd(int(audio.sample_rate), RATE)
        x = resample_poly(x, RATE // g, int(audio.sample_rate) // g).astype(np.float32)
    x = np.nan_to_num(x)
    return (np.clip(x, -1.0, 1.0) * 32767).astype(np.int16).tobytes()


def force_align(audio: AudioChunk, transcript: str) -> list[Phoneme]:
    """ARPAbet phones with times (s, from the start of ``audio``) for speech that says ``transcript``.

    Raises AlignmentError when the transcript has no words or the audio does not fit it."""
    words = normalise_transcript(transcript)
    if not words:
        raise AlignmentError(f"forced alignment: transcript {transcript!r} has no words to align; "
                             "pass the text that is spoken in the audio")
    if audio.duration < 0.05:
        raise AlignmentError(f"forced alignment: audio is {audio.duration * 1000:.0f} ms long, too short for speech")
    pcm = _to_pcm16(audio)
    with _lock:
        d = _get_decoder()
        words = _prepare_words(d, words)
        if not words:
            raise AlignmentError(f"forced alignment: no word of {transcript!r} could be pronounced")
        try:
            d.set_align_text(" ".join(words))
            d.start_utt()
            d.process_raw(pcm, full_utt=True)
            d.end_utt()
            if d.hyp() is None:
                raise AlignmentError("forced alignment: the audio does not fit the transcript (no path through "
                                     f"{len(words)} words in {audio.duration:.1f} s); check that the text matches the speech")
            d.set_alignment()
            d.start_utt()
            d.process_raw(pcm, full_utt=True)
            d.end_utt()
            alignment = d.get_alignment()
        except RuntimeError as e:
            raise AlignmentError(f"forced alignment failed: {e}; check that the text matches the speech") from None
        units = []
        for word in alignment:
            for ph in word:
                start = ph.start / FRAME_RATE
                units.append((ph.name, start, start + ph.duration / FRAME_RATE))
    phones, _unknown = phoneset("cmu").convert(units)
    if phones and phones[-1].end < audio.duration - 1e-3:
        phones.append(Phoneme(SIL, phones[-1].end, round(audio.duration, 4)))
    return phones
