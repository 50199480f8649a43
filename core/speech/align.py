"""Forced alignment of recorded speech to its transcript with pocketsphinx 5 (its en-us model ships in the wheel).

Two passes, as pocketsphinx wants: a word-level FSG decode of the transcript, then a sub-word
alignment. Pruning is off (beam 0): the FSG is tiny, so it costs little, and narrower beams lost
the only path on accented speech (British, Caribbean voices). Words get espeak-ng's British and
American readings as alternative pronunciations; fast speech retries at 200 frames/s. Because an
unpruned search fits any text, a free phone loop scores the same audio and the share of speech
the words explain far worse than it decides: clear mismatches raise, loose fits come back flagged.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass

import numpy as np

from ..types import AudioChunk, Phoneme
from .errors import AlignmentError, EngineUnavailableError
from .phonesets import SIL, phoneset

INSTALL_HINT = "pip install pocketsphinx==5.1.1"
RATE = 16000
FRAME_RATES = (100.0, 200.0)  # frames/s; pocketsphinx phones last >= 3 frames, too long for very fast speech
ACCENT_VOICES = ("en-gb", "en-us")  # espeak-ng readings added as alternative pronunciations
# A frame is "bad" when the transcript's phones score this much (log-prob units of the model,
# per frame) below the free phone loop; misfit is the share of bad speech (see _misfit).
# Measured on 40 real clips (asterisk, one US speaker) and 9 sentences x 9 voices (espeak-ng
# en-us/en-gb/en-gb-scotland/en-029/en-gb-x-gbcwmd/en-us+f3, flite, festival, piper): correct
# transcripts misfit 0-0.44 (median 0.015, the West Midlands and Caribbean voices highest); wrong
# or half transcripts median 0.53. At 0.45 no correct one raised, 154 of 202 wrong ones raised,
# 40 came back low-confidence and 8 (mostly one-word real clips) passed as confident.
BAD_FRAME_GOP = -50
LOW_CONFIDENCE_MISFIT = 0.25
MISMATCH_MISFIT = 0.45
PLAUSIBLE_PHONE_S = (0.02, 0.6)  # mean phone length of a word, s; outside it the word was forced in
EDGE_FRAMES = 3  # frames at each end of a silence not counted as left-out speech
_LOOP = "phone_loop"

_lock = threading.Lock()
_decoders: dict[float, object] = {}
_variants_added: dict[int, set[str]] = {}  # per decoder: words that already hold their espeak-ng variants
_CMN_INIT = None


@dataclass(frozen=True)
class Quality:
    """How well the audio fits the transcript. misfit: share of speech frames the words explain
    far worse than free phone recognition does (0 = perfect); confident: misfit below
    LOW_CONFIDENCE_MISFIT; method: "fsg" or "fsg@200fps" (the fast-speech retry)."""

    confident: bool
    misfit: float
    method: str


class AlignedPhones(list):
    """A list of Phoneme (what force_align always returned) that also carries its ``quality``."""

    def __init__(self, phones, quality: Quality):
        super().__init__(phones)
        self.quality = quality


def available() -> str | None:
    try:
        import pocketsphinx  # noqa: F401
    except ImportError:
        return f"forced alignment needs pocketsphinx; {INSTALL_HINT}"
    return None


def _get_decoder(frame_rate: float = FRAME_RATES[0]):
    """One decoder per frame rate, built on first use, with a free phone loop search beside the FSG."""
    global _CMN_INIT
    if frame_rate not in _decoders:
        try:
            from pocketsphinx import Decoder, get_model_path
        except ImportError:
            raise EngineUnavailableError(f"forced alignment needs pocketsphinx; {INSTALL_HINT}") from None
        d = Decoder(samprate=RATE, frate=int(frame_rate), bestpath=False, beam=0.0, wbeam=0.0, pbeam=0.0,
                    loglevel="FATAL")
        d.add_allphone_file(_LOOP, os.path.join(get_model_path(), "en-us-phone.lm.bin"))
        if _CMN_INIT is None:
            _CMN_INIT = d.get_cmn()
        _decoders[frame_rate] = d
        _variants_added[id(d)] = set()
    return _decoders[frame_rate]


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


# ---------------------------------------------------------------- pronunciations
def _espeak_ipa(words: list[str], voice: str) -> list[str] | None:
    """espeak-ng's IPA for each word: one call for all, one per word where a word came out as
    several tokens (espeak reads some as letters or abbreviations). None without espeak-ng."""
    if not shutil.which("espeak-ng") or not words:
        return None

    def speak(text: str) -> list[str]:
        return subprocess.run(["espeak-ng", "-q", "--ipa", "-v", voice, text], check=False,
                              capture_output=True, text=True).stdout.split()

    # Full stops keep espeak from running words together; it still prints one space-separated line.
    out = speak(". ".join(words))
    return out if len(out) == len(words) else ["".join(speak(w)) for w in words]


def _to_arpabet(ipa: str) -> str | None:
    phones, _unknown = phoneset("ipa").convert([(ipa, 0.0, 1.0)])
    return " ".join(p.symbol for p in phones if p.symbol != SIL) or None


def _espeak_pronunciation(word: str) -> str | None:
    """ARPAbet for a word the dictionary lacks, from espeak-ng's letter-to-sound rules."""
    ipa = _espeak_ipa([word], "en-us")
    return _to_arpabet(ipa[0]) if ipa else None


def _pronunciations(decoder, word: str) -> list[str]:
    prons, k = [], 1
    while (p := decoder.lookup_word(word if k == 1 else f"{word}({k})")) is not None:
        prons.append(p)
        k += 1
    return prons


def _prepare_words(decoder, words: list[str]) -> list[str]:
    """Words the decoder can pronounce; unknown ones get espeak-ng's en-us pronunciation, and every
    word gets espeak-ng's British and American readings as alternatives (accents, TTS voices)."""
    kept = []
    for w in words:
        if decoder.lookup_word(w) is None:
            pron = _espeak_pronunciation(w)
            if pron is None:
                continue  # no way to pronounce it: leave it to the surrounding words and silence
            decoder.add_word(w, pron, True)
        kept.append(w)
    done = _variants_added.setdefault(id(decoder), set())
    new = sorted({w for w in kept if w not in done})
    for voice in ACCENT_VOICES:
        ipa = _espeak_ipa(new, voice) if new else None
        for w, sounds in zip(new, ipa or ()):
            pron = _to_arpabet(sounds)
            prons = _pronunciations(decoder, w)
            if pron and pron not in prons:
                decoder.add_word(f"{w}({len(prons) + 1})", pron, True)
    done.update(new)
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


def _decode(d, pcm: bytes) -> None:
    d.set_cmn(_CMN_INIT)  # each file starts from the same normalisation: results never depend on the last file
    d.start_utt()
    d.process_raw(pcm, full_utt=True)
    d.end_utt()


def _loop_scores(d, pcm: bytes) -> np.ndarray:
    """Per-frame acoustic score of the best free phone sequence: what the audio fits at best."""
    d.activate_search(_LOOP)
    _decode(d, pcm)
    logmath = d.get_logmath()
    scores = np.zeros(d.n_frames() + 1)
    for s in d.seg():
        n = s.end_frame - s.start_frame + 1
        scores[s.start_frame:s.end_frame + 1] = logmath.log(s.ascore) / max(n, 1) if s.ascore > 0 else -1e4
    return scores


def _align_once(d, pcm: bytes, words: list[str]):
    """Word-level FSG pass then phone alignment: phones per word (silences are words too);
    None when no path fits the words in the audio."""
    d.set_align_text(" ".join(words))
    _decode(d, pcm)
    if d.hyp() is None:
        return None
    d.set_alignment()
    _decode(d, pcm)
    return [list(word) for word in d.get_alignment()]


def _speech_frames(pcm: bytes, frame_rate: float, n: int) -> np.ndarray:
    """Frames loud enough to be speech: within 30 dB of the loud end and 10 dB above the floor."""
    x = np.frombuffer(pcm, np.int16).astype(np.float32) / 32768.0
    hop, win = int(RATE / frame_rate), int(0.025 * RATE)
    starts = np.arange(n) * hop
    energy = np.array([np.mean(x[s:s + win] ** 2) if s < len(x) else 0.0 for s in starts])
    db = 10 * np.log10(energy + 1e-10)
    loud, floor = np.percentile(db, 99), np.percentile(db, 10)
    return db > max(loud - 30.0, floor + 10.0)


def _misfit(words, loop: np.ndarray, speech: np.ndarray, frame_rate: float) -> float:
    """How badly the transcript explains the audio, 0..1: the larger of two shares.

    Frames: inside words, frames scoring far below the free phone loop; inside silences, loud frames
    (speech the transcript left out, which pocketsphinx's silence model absorbs cheaply, so only
    energy tells). Words: words scoring far below the loop on average, or whose phones last
    implausibly long or short on average (a wrong word stretched over other speech, extra words
    squeezed into the minimum 3 frames per phone)."""
    bad = total = 0
    bad_words = n_words = 0
    for word in words:
        if all(ph.name == "SIL" or ph.name.startswith("+") for ph in word):
            for ph in word:
                inner = speech[ph.start + EDGE_FRAMES:ph.start + ph.duration - EDGE_FRAMES]  # word edges blur
                bad += int(inner.sum())
                total += int(inner.sum())
            continue
        gops = [(ph.score - loop[ph.start:ph.start + ph.duration].sum(), ph.duration) for ph in word]
        bad += sum(n for g, n in gops if g / max(n, 1) < BAD_FRAME_GOP)
        total += sum(n for _, n in gops)
        frames = max(sum(n for _, n in gops), 1)
        mean_phone = frames / len(gops) / frame_rate
        bad_words += (sum(g for g, _ in gops) / frames < BAD_FRAME_GOP
                      or not PLAUSIBLE_PHONE_S[0] <= mean_phone <= PLAUSIBLE_PHONE_S[1])
        n_words += 1
    return max(bad / max(total, 1), bad_words / max(n_words, 1))


def force_align(audio: AudioChunk, transcript: str) -> AlignedPhones:
    """ARPAbet phones with times (s, from the start of ``audio``) for speech that says ``transcript``.

    The result is a list of Phoneme with ``.quality`` (Quality): ``confident`` False when the audio
    fits the words only loosely (strong accent, noise; timings still usable, less exact).
    Raises AlignmentError when the transcript has no words or clearly does not match the audio."""
    words = normalise_transcript(transcript)
    if not words:
        raise AlignmentError(f"forced alignment: transcript {transcript!r} has no words to align; "
                             "pass the text that is spoken in the audio")
    if audio.duration < 0.05:
        raise AlignmentError(f"forced alignment: audio is {audio.duration * 1000:.0f} ms long, too short for speech")
    pcm = _to_pcm16(audio)
    best = None  # (misfit, frame_rate, phones)
    with _lock:
        for frame_rate in FRAME_RATES:
            d = _get_decoder(frame_rate)
            words = _prepare_words(d, words)
            if not words:
                raise AlignmentError(f"forced alignment: no word of {transcript!r} could be pronounced")
            try:
                phones = _align_once(d, pcm, words)
                if phones is None:
                    continue  # more phones than 3-frame slots: retry at the finer frame rate
                speech = _speech_frames(pcm, frame_rate, d.n_frames() + 1)
                # Loop scores are <= 0 (relative to the best senone per frame), so scoring against
                # zero bounds the misfit from above: a clean fit (most recordings, flite, piper) skips the loop.
                misfit = _misfit(phones, np.zeros(len(speech)), speech, frame_rate)
                if misfit >= LOW_CONFIDENCE_MISFIT:
                    misfit = _misfit(phones, _loop_scores(d, pcm), speech, frame_rate)
            except RuntimeError as e:
                raise AlignmentError(f"forced alignment failed: {e}; check that the text matches the speech") from None
            if best is None or misfit < best[0]:
                best = (misfit, frame_rate, phones)
            if misfit < LOW_CONFIDENCE_MISFIT:
                break  # a good fit: the finer (slower) frame rate would not change it
    if best is None:
        raise AlignmentError(f"forced alignment: the audio does not fit the transcript ({len(words)} words cannot "
                             f"be said in {audio.duration:.1f} s); check that the text matches the speech")
    misfit, frame_rate, phones = best
    if misfit >= MISMATCH_MISFIT:
        raise AlignmentError(f"forced alignment: the audio does not match the transcript ({misfit:.0%} of the speech "
                             f"fits the words badly, at most {MISMATCH_MISFIT:.0%} expected); check that the text "
                             "is what is said in the audio")
    units = [(ph.name, ph.start / frame_rate, (ph.start + ph.duration) / frame_rate) for word in phones for ph in word]
    out, _unknown = phoneset("cmu").convert(units)
    if out and out[-1].end < audio.duration - 1e-3:
        out.append(Phoneme(SIL, out[-1].end, round(audio.duration, 4)))
    method = "fsg" if frame_rate == FRAME_RATES[0] else f"fsg@{frame_rate:.0f}fps"
    return AlignedPhones(out, Quality(confident=bool(misfit < LOW_CONFIDENCE_MISFIT), misfit=round(float(misfit), 3),
                                      method=method))
