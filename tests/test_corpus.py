"""The corpus builder: real engines and real recordings in, deterministic held-out-clean shards out."""

import json
import random
import shutil

import numpy as np
import pytest

from marionette.tools.corpus import augment, real
from marionette.tools.corpus.build import HELDOUT_VOICES, BuildConfig, build
from marionette.tools.corpus.shards import load_corpus
from marionette.tools.corpus.text import sentence, sentences
from marionette.core.errors import InputError

needs_tts = pytest.mark.skipif(shutil.which("espeak-ng") is None or shutil.which("flite") is None,
                               reason="espeak-ng and flite are needed (scripts/setup.sh)")


def test_sentences_are_varied_deterministic_and_cover_key_phones():
    a, b = sentences(300, 5), sentences(300, 5)
    assert a == b and sentences(300, 6) != a
    assert len(set(a)) > 290
    text = " ".join(a).lower()
    for sound in ("m", "b", "p", "f", "v", "oo", "w", "th"):
        assert text.count(sound) > 30, sound
    assert sentence(random.Random(1)) == sentence(random.Random(1))


def _voice(rng_seed=0):
    """Broadband bursts (aperiodic, so a cross-correlation has one clear peak)."""
    from scipy.signal import lfilter

    t = np.arange(16000 * 2) / 16000
    env = (np.sin(2 * np.pi * 2 * t) > 0).astype(np.float32)
    x = lfilter([1.0], [1, -1.3, 0.6], np.random.default_rng(rng_seed).standard_normal(t.size))
    return (0.05 * x * env).astype(np.float32)


@pytest.mark.parametrize("recipe", [
    augment.Recipe(reverb_rt60=0.6, reverb_drr_db=0.0),
    augment.Recipe(noise="babble-like", snr_db=10.0),
    augment.Recipe(band="telephone"),
    augment.Recipe(codec="mp3", bitrate_kbps=16),
    augment.Recipe(codec="opus", bitrate_kbps=12),
])
def test_augmentation_keeps_length_and_timing(recipe):
    x = _voice()
    y = augment.apply(x, recipe, np.random.default_rng(0))
    assert y.shape == x.shape and y.dtype == np.float32 and np.all(np.isfinite(y))
    assert abs(augment._delay(x, y)) <= 8  # within 0.5 ms: the motion target is timed on the clean audio
    assert not np.allclose(x, y, atol=1e-3)
    assert np.array_equal(y, augment.apply(x, recipe, np.random.default_rng(0)))


def test_recipes_mix_effects_and_clean_audio():
    rng = np.random.default_rng(0)
    rs = [augment.draw_recipe(rng) for _ in range(400)]
    clean = sum(1 for r in rs if set(r.to_dict()) <= {"gain_db"})
    assert 0.1 < clean / 400 < 0.4
    assert any(r.codec == "opus" for r in rs) and any(r.codec == "mp3" for r in rs)
    assert any(r.band == "telephone" for r in rs) and any(r.reverb_rt60 for r in rs)


@pytest.mark.slow
@needs_tts
def test_build_is_deterministic_and_splits_hold(tmp_path):
    cfg = dict(hours=0.012, seed=3, workers=2, engines=("espeak", "flite"), progress=False, real_copies=2)
    m1 = build(BuildConfig(out=tmp_path / "a", **cfg))
    m2 = build(BuildConfig(out=tmp_path / "b", **cfg))
    assert m1["failed"] == [] and m1["shards"] == m2["shards"]
    for name in m1["shards"]["train"] + m1["shards"]["heldout"]:
        with np.load(tmp_path / "a" / name) as za, np.load(tmp_path / "b" / name) as zb:
            for key in za.files:
                assert np.array_equal(za[key], zb[key]), (name, key)
    assert 0.6 * 0.012 < m1["hours"] < 1.6 * 0.012
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["build_seconds"] > 0 and manifest["seed"] == 3
    train = list(load_corpus(tmp_path / "a", "train"))
    held = list(load_corpus(tmp_path / "a", "heldout"))
    assert train and held
    for u in train:
        assert u.meta["split"] == "train"
        if u.meta["source"] == "tts":
            voice = u.meta["voice"]
            assert voice not in HELDOUT_VOICES.get(u.meta["engine"], set())
            assert voice.partition("+")[2] not in HELDOUT_VOICES["espeak"]["variants"]
        else:
            assert not real.is_heldout_clip(u.meta["clip"])
        # Features at 100 Hz and motion at 25 fps cover the same audio.
        assert abs(len(u.features) / 100 - len(u.motion) / 25) <= 0.05
        assert u.motion.values.shape[1] == 58 and u.features.mel.shape[1] == 80
        assert u.phonemes and u.phonemes[-1].end <= u.duration + 0.05
    for u in held:
        if u.meta["source"] == "real":
            assert real.is_heldout_clip(u.meta["clip"])
    # The teacher's mouth moves with the phones: jaw opens during speech in every utterance.
    assert all(u.motion.channel("jawOpen").max() > 0.1 for u in train)
    with pytest.raises(InputError, match="already holds shards"):
        build(BuildConfig(out=tmp_path / "a", **cfg))
    _check_relabel(tmp_path, train + held)


def _check_relabel(tmp_path, utts) -> None:
    """`corpus relabel` re-teaches exactly the mouth: the same teacher reproduces the build's labels;
    a changed teacher changes the mouth channels and nothing else."""
    import marionette.core.teacher as teacher_pkg
    from marionette.core.motion_space import CHANNEL_INDEX
    from marionette.tools.corpus.relabel import MOUTH_CHANNELS, relabel

    same = relabel(tmp_path / "a", tmp_path / "same", progress=False)
    assert same["utterances"] == len(utts) and same["mean_abs_mouth_change"] < 1e-6
    original = teacher_pkg.teach

    def wider(*args, **kwargs):  # a recalibrated teacher: every jaw 0.1 wider, brows raised too
        track = original(*args, **kwargs)
        track.values[:, CHANNEL_INDEX["jawOpen"]] += 0.1
        track.values[:, CHANNEL_INDEX["browInnerUp"]] += 0.3
        return track

    teacher_pkg.teach = wider
    try:
        changed = relabel(tmp_path / "a", tmp_path / "wider", progress=False)
    finally:
        teacher_pkg.teach = original
    assert changed["mean_abs_mouth_change"] > 0
    before = {u.uid: u for u in utts}
    mouth = [CHANNEL_INDEX[c] for c in MOUTH_CHANNELS]
    rest = [i for i in range(58) if i not in mouth]
    for u in list(load_corpus(tmp_path / "wider", "train")) + list(load_corpus(tmp_path / "wider", "heldout")):
        old = before[u.uid].motion.values
        np.testing.assert_allclose(u.motion.values[:, CHANNEL_INDEX["jawOpen"]], old[:, CHANNEL_INDEX["jawOpen"]] + 0.1, atol=1e-5)
        assert np.array_equal(u.motion.values[:, rest], old[:, rest])  # brows, pose, blinks kept
    with pytest.raises(InputError, match="must differ"):
        relabel(tmp_path / "a", tmp_path / "a", progress=False)


@pytest.mark.skipif(real.available() is not None, reason=str(real.available()))
def test_real_clips_have_transcripts_and_align():
    clips = real.clips("all")
    assert len(clips) > 500
    held = [c for c in clips if c.heldout]
    assert 0.1 < len(held) / len(clips) < 0.2
    phones, duration = real.aligned(held[0])
    assert phones and 0 < phones[-1].end <= duration + 0.02
    assert {p.symbol for p in phones} - {"SIL"}


def test_phones_must_cover_the_speech_and_get_silence_at_both_ends():
    from marionette.tools.corpus.build import PhoneCoverageError, checked_phones
    from marionette.core.types import AudioFeatures, Phoneme

    loud = np.full(300, -80.0, np.float32)
    loud[50:250] = -20.0  # audible 0.5-2.5 s
    z = np.zeros(300, np.float32)
    feats = AudioFeatures(np.zeros((300, 80), np.float32), loud, z, z, 100.0)
    good = [Phoneme("HH", 0.45, 1.5), Phoneme("AY", 1.5, 2.45)]
    out = checked_phones(good, feats, 3.0)
    assert out[0] == Phoneme("SIL", 0.0, 0.45) and out[-1] == Phoneme("SIL", 2.45, 3.0) and out[1:3] == good
    with pytest.raises(PhoneCoverageError, match="audible 0.50-2.49"):
        checked_phones([Phoneme("HH", 0.45, 1.5)], feats, 3.0)  # the second half is not timed


@needs_tts
def test_multi_sentence_text_is_timed_to_the_end():
    from marionette.core.audio import extract_features
    from marionette.tools.corpus.build import checked_phones, synthesize_sentences
    from marionette.core.types import AudioChunk

    x, phones = synthesize_sentences("Wow! This peaceful pumpkin is truly warm! Who moved it?", "flite", "slt")
    feats = extract_features(AudioChunk(x, 16000), vad=False)
    checked = checked_phones(phones, feats, x.size / 16000)  # raises if the phones stop early
    assert checked[-1].end == pytest.approx(x.size / 16000)
    assert [p.symbol for p in phones].count("UW") >= 2  # "truly", "who", "moved"


def _voiced_bursts(f0: float, seconds: float = 2.0) -> np.ndarray:
    """A harmonic tone at f0 in 150 ms bursts every 400 ms: pitch to read, loudness to align."""
    t = np.arange(int(seconds * 16000)) / 16000
    tone = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 8))
    gate = ((t % 0.4) < 0.15).astype(np.float64)
    return (0.3 * tone * gate / np.abs(tone).max()).astype(np.float32)


def _pitch(x: np.ndarray) -> float:
    """F0 of the loudest burst by autocorrelation (60-400 Hz)."""
    k = int(np.argmax(np.convolve(x**2, np.ones(800), "same")))
    seg = x[max(0, k - 800): k + 800].astype(np.float64)
    ac = np.correlate(seg, seg, "full")[seg.size - 1:]
    lo, hi = 16000 // 400, 16000 // 60
    return 16000 / (lo + int(np.argmax(ac[lo:hi])))


def test_speaker_perturbation_moves_pitch_and_keeps_the_timeline():
    x = _voiced_bursts(120.0)
    y = augment.perturb_speaker(x, augment.Recipe(formant=0.9, pitch=1.5))
    assert y.size == x.size
    assert 1.35 < _pitch(y) / _pitch(x) < 1.65  # F0 follows the pitch ratio, not the formant factor
    assert abs(augment._envelope_delay(x, y)) <= 160  # bursts stay where the phones say (10 ms)
    faster = augment.perturb_speaker(x, augment.Recipe(speed=1.1))
    assert faster.size == round(x.size / 1.1)
    ref = augment._time_scale_reference(x, faster.size)
    assert abs(augment._envelope_delay(ref, faster)) <= 160  # the phones rescaled by 1/speed still fit
    assert np.array_equal(augment.perturb_speaker(x, augment.Recipe()), x)  # nothing asked, nothing done
