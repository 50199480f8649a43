"""Speech engines report phone timings that match their audio; forced alignment agrees with them."""

import numpy as np
import pytest

from marionette.core.speech import (
    ARPABET, ENGINES, AlignmentError, EngineUnavailableError, available_engines, force_align, list_voices,
    normalise_transcript, phoneset, synthesize,
)
from marionette.tools.speech_agreement import onset_differences
from marionette.core.types import AudioChunk

TEXT = "My mother made a big pot of bean soup for lunch."
AVAILABLE = available_engines()
# Median |onset difference| to forced alignment we accept per engine; measured 7-18 ms (see report).
ONSET_TOLERANCE = {"espeak": 0.025, "flite": 0.025, "festival": 0.025, "piper": 0.035}


def _engine_param(name):
    return pytest.param(name, marks=pytest.mark.skipif(AVAILABLE[name] is not None, reason=str(AVAILABLE[name])))


def test_phone_tables_map_to_arpabet_only():
    for name in ("ipa", "festvox", "cmu"):
        ps = phoneset(name)
        assert {p for v in ps.table.values() for p in v} <= set(ARPABET)
    phones, unknown = phoneset("ipa").convert([("h", 0.0, 0.1), ("ə", 0.1, 0.2), ("l", 0.2, 0.3), ("ˈoʊ", 0.3, 0.5)])
    assert unknown == [] and [p.symbol for p in phones] == ["HH", "AH", "L", "OW"]
    # piper times diphthong halves and stress marks separately: they merge into one phone.
    phones, _ = phoneset("ipa").convert([("m", 0, 0.1), ("ˈ", 0.1, 0.15), ("a", 0.15, 0.2), ("ɪ", 0.2, 0.3)])
    assert [(p.symbol, p.start, p.end) for p in phones] == [("M", 0, 0.1), ("AY", 0.1, 0.3)]


def test_every_ipa_symbol_espeak_speaks_is_known():
    if AVAILABLE["espeak"]:
        pytest.skip(AVAILABLE["espeak"])
    import subprocess

    text = ("Our hour here, there, poor, door, car, fire, bottle, button, singing, boy, cow, bird, better, "
            "pleasure, church, judge, thought, the year 1984, quick brown fox, yes, zoo, vision, hat.")
    ipa = subprocess.run(["espeak-ng", "-q", "--ipa", "-v", "en-us", text], capture_output=True, text=True).stdout
    _, unknown = phoneset("ipa").convert([(ipa.replace("\n", " "), 0.0, 1.0)])
    assert unknown == []


@pytest.mark.parametrize("engine", [_engine_param(e) for e in ENGINES])
def test_engine_timings_match_audio_and_alignment(engine):
    audio, phones = synthesize(TEXT, engine=engine)
    assert audio.samples.dtype == np.float32 and audio.sample_rate >= 8000 and audio.duration > 1.5
    syms = [p.symbol for p in phones]
    assert set(syms) <= set(ARPABET)
    assert syms.count("M") >= 2 and "B" in syms and "P" in syms  # my mother made, big, pot
    # Contiguous, ordered and covering the audio.
    assert all(a.end == pytest.approx(b.start, abs=1e-3) for a, b in zip(phones, phones[1:]))
    assert all(p.end > p.start for p in phones)
    assert phones[-1].end == pytest.approx(audio.duration, abs=0.06)
    # Energy: the engine's speech phones are louder than its silences.
    x = audio.samples
    def rms(p):
        seg = x[int(p.start * audio.sample_rate):int(p.end * audio.sample_rate)]
        return float(np.sqrt(np.mean(seg ** 2))) if len(seg) else 0.0
    vowels = [rms(p) for p in phones if p.symbol in ("AH", "ER", "EY", "IH", "AA", "IY", "UW", "AO")]
    sil = [rms(p) for p in phones if p.symbol == "SIL" and p.end - p.start > 0.05]
    if sil:
        assert np.median(vowels) > 5 * max(np.median(sil), 1e-4)
    # The aligner, from the audio alone plus the words, finds the same onsets.
    diffs = onset_differences(phones, force_align(audio, TEXT))
    assert len(diffs) >= 0.85 * len([p for p in phones if p.symbol != "SIL"])
    assert np.median(np.abs(diffs)) < ONSET_TOLERANCE[engine]


@pytest.mark.parametrize("engine", [_engine_param(e) for e in ENGINES])
def test_speed_and_voices(engine):
    voices = list_voices(engine)
    assert voices
    slow, _ = synthesize("Seven silly sailors.", engine=engine, speed=0.7)
    fast, _ = synthesize("Seven silly sailors.", engine=engine, speed=1.4)
    assert slow.duration > 1.3 * fast.duration


def test_espeak_voice_variants_and_pitch():
    if AVAILABLE["espeak"]:
        pytest.skip(AVAILABLE["espeak"])
    assert "en-us" in list_voices("espeak")
    a, p = synthesize("Hello there.", engine="espeak", voice="en-us+f3", pitch=4)
    assert a.duration > 0.3 and p
    with pytest.raises(EngineUnavailableError, match="list_voices"):
        synthesize("Hello.", engine="espeak", voice="no-such-voice")


def test_missing_engine_names_its_package(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no flite, no festival on this PATH
    reasons = available_engines()
    assert "apt-get install flite" in reasons["flite"]
    assert "festival" in reasons["festival"]
    with pytest.raises(EngineUnavailableError, match="apt-get install flite"):
        synthesize("Hello.", engine="flite")
    with pytest.raises(EngineUnavailableError, match="expected one of"):
        synthesize("Hello.", engine="sam")


def test_transcript_normalisation():
    assert normalise_transcript("In 1984 I paid 3.50 for 12,000 cats & 7% of 2003!") == (
        "in nineteen eighty four i paid three point five zero for twelve thousand cats and seven percent "
        "of two thousand three".split())


def test_force_align_handles_unknown_words_and_bad_input():
    if AVAILABLE["espeak"]:
        pytest.skip(AVAILABLE["espeak"])
    text = "The zorblax cost forty two dollars."
    audio, phones = synthesize(text, engine="espeak")
    aligned = force_align(audio, text)
    syms = [p.symbol for p in aligned]
    assert "Z" in syms and syms[-1] == "SIL" and aligned[-1].end == pytest.approx(audio.duration, abs=0.02)
    with pytest.raises(AlignmentError, match="no words"):
        force_align(audio, "  ...  ")
    with pytest.raises(AlignmentError, match="too short"):
        force_align(AudioChunk(np.zeros(100, np.float32), 16000), "hello")


ACCENT_TEXT = "Hello, my name is Marionette. I move my lips when people speak."


@pytest.mark.parametrize("voice", ["en-gb", "en-gb-scotland", "en-us+f3"])
def test_force_align_accented_voices(voice):
    # British and Scottish espeak-ng voices once found "no path through 12 words": the aligner must
    # now fit them, and its onsets must agree with the engine's own.
    if AVAILABLE["espeak"]:
        pytest.skip(AVAILABLE["espeak"])
    audio, phones = synthesize(ACCENT_TEXT, engine="espeak", voice=voice)
    aligned = force_align(audio, ACCENT_TEXT)
    assert aligned.quality.confident and aligned.quality.misfit < 0.25
    diffs = onset_differences(phones, aligned)
    assert len(diffs) >= 0.75 * len([p for p in phones if p.symbol != "SIL"])
    assert np.median(np.abs(diffs)) < ONSET_TOLERANCE["espeak"]


def test_force_align_rejects_a_transcript_that_does_not_match():
    if AVAILABLE["espeak"]:
        pytest.skip(AVAILABLE["espeak"])
    audio, _ = synthesize(ACCENT_TEXT, engine="espeak", voice="en-gb")
    with pytest.raises(AlignmentError, match="does not match the transcript"):
        force_align(audio, "The quick brown fox jumps over the lazy dog.")
    with pytest.raises(AlignmentError, match="does not match the transcript"):
        force_align(audio, "Hello.")  # most of the speech left out of the transcript
    with pytest.raises(AlignmentError, match="does not (match|fit) the transcript"):
        force_align(audio, ACCENT_TEXT + " And I blink my eyes when I listen to the people who talk to me.")
    # One misheard name is not a mismatch: the rest still aligns.
    aligned = force_align(audio, ACCENT_TEXT.replace("Marionette", "Anna"))
    assert aligned.quality.misfit < 0.45 and [p.symbol for p in aligned].count("M") >= 4


def test_force_align_is_repeatable_and_fits_fast_speech():
    if AVAILABLE["espeak"]:
        pytest.skip(AVAILABLE["espeak"])
    audio, _ = synthesize(ACCENT_TEXT, engine="espeak", voice="en-gb")
    first = force_align(audio, ACCENT_TEXT)
    other, _ = synthesize(TEXT, engine="espeak", voice="en-us+f3")
    force_align(other, TEXT)
    # Normalisation restarts per file, so what was aligned before does not change the result.
    assert list(force_align(audio, ACCENT_TEXT)) == list(first)
    # Very fast speech has phones shorter than 3 frames at 100 frames/s: the 200 frames/s retry fits it.
    fast, _ = synthesize(ACCENT_TEXT, engine="espeak", voice="en-gb", speed=2.5)
    aligned = force_align(fast, ACCENT_TEXT)
    assert aligned.quality.method == "fsg@200fps"
    assert aligned[-1].end == pytest.approx(fast.duration, abs=0.02)
    assert [p.symbol for p in aligned if p.symbol != "SIL"][:4] == ["HH", "AH", "L", "OW"]
