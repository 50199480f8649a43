"""Baseline generators: the MotionGenerator protocol, streaming == offline, registry, `marionette motion`."""

import numpy as np
import pytest
import soundfile as sf

from marionette.core.audio import extract_features
from marionette.core.errors import InputError
from marionette.core.generators import available_generators, generate_track, get_generator
from marionette.core.generators.teacher import NeedsTranscriptError
from marionette.core.speech import available_engines, synthesize
from marionette.core.stages import MotionGenerator
from marionette.core.teacher import lip_gap
from marionette.core.track import load_track
from marionette.core.types import AudioFeatures, Emotion
from marionette.plugin.cli import main

TEXT = "Maybe we should ask Peter about the blue boat."


@pytest.fixture(scope="module")
def speech():
    if available_engines()["espeak"]:
        pytest.skip(available_engines()["espeak"])
    audio, phones = synthesize(TEXT, engine="espeak")
    return audio, phones, extract_features(audio)


def _chunks(f: AudioFeatures, size: int):
    for s in range(0, len(f), size):
        sl = slice(s, s + size)
        yield AudioFeatures(f.mel[sl], f.loudness[sl], f.f0[sl], f.vad[sl], 100.0, f.t + s / 100.0)


def test_registry():
    names = available_generators()
    assert "envelope" in names and "teacher" in names
    for name in ("envelope", "teacher"):
        g = get_generator(name, fps=25, seed=1)
        assert isinstance(g, MotionGenerator) and g.fps == 25 and g.lookahead <= 0.1
    with pytest.raises(InputError, match="expected one of envelope, teacher, diffusion"):
        get_generator("lipnet")
    if "diffusion" not in names:
        with pytest.raises(InputError, match="no trained model"):
            get_generator("diffusion")


@pytest.mark.parametrize("name", ["envelope", "teacher"])
@pytest.mark.parametrize("chunk", [1, 7, 100])
def test_streaming_equals_offline(speech, name, chunk):
    audio, phones, feats = speech
    g = get_generator(name, fps=30, seed=4)
    offline = generate_track(g, audio, phonemes=phones, features=feats)
    assert len(offline) == int(np.ceil(len(feats) / 100 * 30))
    g.reset()
    g.set_phonemes(phones)
    frames = []
    for part in _chunks(feats, chunk):
        got = g.push(part)
        # Frames come out as soon as the audio (plus the generator's lookahead) allows.
        seen = part.t + len(part) / 100.0 - 0.01
        assert all(f.t <= seen - g.lookahead + 1e-6 for f in got)
        frames += got
    frames += g.flush()
    assert [round(f.t * 30) for f in frames] == list(range(len(offline)))
    assert np.array_equal(np.stack([f.to_vector() for f in frames]), offline.values)


def test_envelope_follows_loudness_with_no_lookahead(speech):
    audio, phones, feats = speech
    g = get_generator("envelope", fps=100, seed=0)
    assert g.lookahead == 0.0
    tr = generate_track(g, audio, features=feats)
    jaw = tr.channel("jawOpen")[: len(feats)]
    r = np.corrcoef(jaw, np.clip(feats.loudness, -60, None))[0, 1]
    assert r > 0.7
    silent = AudioFeatures(np.zeros((200, 80), np.float32), np.full(200, -90.0, np.float32),
                           np.zeros(200, np.float32), np.zeros(200, np.float32))
    g.reset()
    quiet = g.push(silent) + g.flush()
    assert max(f["jawOpen"] for f in quiet) == 0.0
    assert max(f["eyeBlinkLeft"] for f in quiet) >= 0.0  # idle life goes on


def test_teacher_generator_needs_words_and_uses_them(speech):
    audio, phones, feats = speech
    g = get_generator("teacher", fps=100, seed=0)
    with pytest.raises(NeedsTranscriptError, match="--text"):
        generate_track(g, audio)
    tr = generate_track(g, audio, text=TEXT)  # forced alignment supplies the phones
    gap = lip_gap(tr.values)
    for p in phones:
        if p.symbol in ("M", "B", "P"):
            lo, hi = int(p.start * 100) - 5, int(p.end * 100) + 5  # alignment vs engine timing slack
            assert gap[max(lo, 0):hi].min() < 0.02, p
    g.reset()
    g.set_phonemes(phones)
    g.set_emotion(Emotion("happy"))
    happy = g.push(feats) + g.flush()
    assert np.mean([f["mouthSmileLeft"] for f in happy]) > 0.3


def test_motion_command(speech, tmp_path, capsys):
    audio, _, _ = speech
    wav = tmp_path / "speech.wav"
    sf.write(wav, audio.samples, audio.sample_rate)
    out_json, out_csv = tmp_path / "t.json", tmp_path / "t.csv"
    assert main(["motion", str(wav), "--text", TEXT, "--generator", "teacher", "--emotion", "happy:0.5",
                 "-o", str(out_json)]) == 0
    assert main(["motion", str(wav), "--generator", "envelope", "--fps", "25", "-o", str(out_csv)]) == 0
    tj, report = load_track(out_json)
    tc, _ = load_track(out_csv)
    assert not report and tj.fps == 30 and tc.fps == 25
    assert abs(tj.duration - audio.duration) < 0.05 and abs(tc.duration - audio.duration) < 0.05
    assert tj.channel("mouthSmileLeft").mean() > 0.1
    assert main(["motion", str(wav), "--generator", "teacher", "-o", str(tmp_path / "x.json")]) == 2
    assert "needs the words" in capsys.readouterr().err
    assert main(["motion", str(wav), "--emotion", "smug", "-o", str(tmp_path / "x.json")]) == 2
    assert main(["motion", str(wav), "-o", str(tmp_path / "x.txt")]) == 2


def test_render_with_audio_muxes_a_lip_synced_mp4(speech, tmp_path):
    av = pytest.importorskip("av")
    audio, _, _ = speech
    wav = tmp_path / "speech.wav"
    n = int(1.2 * audio.sample_rate)  # a short clip keeps the render quick
    sf.write(wav, audio.samples[:n], audio.sample_rate)
    out = tmp_path / "out.mp4"
    assert main(["render", "--audio", str(wav), "--generator", "envelope", "--size", "256x256",
                 "--no-progress", "-o", str(out)]) == 0
    with av.open(str(out)) as c:
        kinds = sorted(s.type for s in c.streams)
        frames = sum(1 for _ in c.decode(video=0))
    assert kinds == ["audio", "video"]
    assert frames == int(np.ceil(1.2 * 30 - 1e-6))


@pytest.mark.parametrize("name", ["envelope", "teacher"])
def test_long_stream_keeps_bounded_history_and_still_equals_offline(speech, name):
    from marionette.core.audio import concat_features
    from marionette.core.types import Phoneme

    audio, phones, feats = speech
    reps = 4  # about 11 s: well past the teacher's 2.8 s of prosody history
    n = len(feats)
    long = concat_features([AudioFeatures(feats.mel, feats.loudness, feats.f0, feats.vad, 100.0, k * n / 100)
                            for k in range(reps)])
    long_phones = [Phoneme(p.symbol, p.start + k * n / 100, p.end + k * n / 100) for k in range(reps) for p in phones]
    g = get_generator(name, fps=30, seed=9)
    g.set_phonemes(long_phones)
    offline = np.stack([f.to_vector() for f in g.push(long) + g.flush()])
    g.set_phonemes(long_phones)
    frames, buffered = [], []
    for part in _chunks(long, 3):
        frames += g.push(part)
        buffered.append(len(g._buffered()))
    frames += g.flush()
    assert np.array_equal(np.stack([f.to_vector() for f in frames]), offline)
    assert max(buffered) <= (g.history + g.lookahead) * 100 + 20  # memory does not grow with the stream
