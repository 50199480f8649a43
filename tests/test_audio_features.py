"""The streaming feature extractor: chunked equals whole, and each feature measures what it claims."""

import shutil
import subprocess

import numpy as np
import pytest

from marionette.core.audio import (
    StreamingFeatureExtractor,
    concat_features,
    extract_features,
    resample,
    StreamingResampler,
)
from marionette.core.errors import InputError
from marionette.core.stages import FeatureExtractor
from marionette.core.types import AudioChunk

SR = 16000


def speechlike(seconds=3.0, sr=SR, seed=0):
    """Voiced segments (gliding pulse train through two formant-ish resonances), noise bursts, silence."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f0 = 130 + 40 * np.sin(2 * np.pi * 0.7 * t)
    phase = np.cumsum(f0) / sr
    pulses = (np.diff(np.floor(phase), prepend=0) > 0).astype(np.float64)
    from scipy.signal import lfilter

    voiced = lfilter([1.0], [1, -1.6, 0.9], pulses) * 0.05
    env = (np.sin(2 * np.pi * 1.3 * t) > -0.2).astype(float)
    noise = rng.standard_normal(t.size) * 0.03 * (np.sin(2 * np.pi * 0.9 * t + 1) > 0.8)
    return (voiced * env + noise).astype(np.float32)


def stream(x, sr, sizes, ex=None, t0=0.0):
    ex = ex or StreamingFeatureExtractor.load()
    parts, i, k = [], 0, 0
    while i < x.size:
        n = sizes[k % len(sizes)]
        parts.append(ex.push(AudioChunk(x[i : i + n], sr, t0 + i / sr)))
        i, k = i + n, k + 1
    parts.append(ex.flush())
    return concat_features(parts)


def assert_same(a, b, tol=1e-5):
    assert len(a) == len(b)
    for name in ("mel", "loudness", "f0", "vad"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), atol=tol, rtol=0, err_msg=name)
    assert a.t == pytest.approx(b.t)


@pytest.mark.parametrize("ms", [1, 7, 10, 20, 32, 100, 333, 1000])
def test_streaming_equals_whole_file_16k(ms):
    x = speechlike()
    whole = extract_features(AudioChunk(x, SR))
    assert len(whole) == -(-x.size // 160)
    assert_same(whole, stream(x, SR, [SR * ms // 1000]))


def test_streaming_equals_whole_file_at_44k_with_ragged_chunks():
    x = resample(speechlike(2.0), SR, 44100)
    rng = np.random.default_rng(1)
    sizes = [int(s) for s in rng.integers(1, 44100, 50)]  # 0.02 ms .. 1 s
    whole = extract_features(AudioChunk(x, 44100, 5.0))
    assert whole.t == 5.0 and len(whole) == -(-int(np.ceil(x.size * 16000 / 44100)) // 160)
    assert_same(whole, stream(x, 44100, sizes, t0=5.0))


def test_resampler_streaming_equals_whole_and_is_accurate():
    t = np.arange(22050) / 22050
    x = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    whole = resample(x, 22050)
    r = StreamingResampler(22050)
    parts, i = [], 0
    for n in [1, 5, 300, 7, 4000, 11] * 200:
        if i >= x.size:
            break
        parts.append(r.push(x[i : i + n]))
        i += n
    parts.append(r.push(x[i:]))
    parts.append(r.flush())
    np.testing.assert_allclose(np.concatenate(parts), whole, atol=1e-6)  # summation order may differ by batch
    assert whole.size == 16000
    ref = np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
    assert np.abs(whole - ref)[100:-100].max() < 1e-3


def test_frame_timing_and_shapes():
    ex = StreamingFeatureExtractor.load()
    assert isinstance(ex, FeatureExtractor)
    first = ex.push(AudioChunk(np.zeros(199, np.float32), SR, 2.0))
    assert len(first) == 0  # frame 0 needs samples up to 200 (12.5 ms after its centre)
    second = ex.push(AudioChunk(np.zeros(1, np.float32), SR, 2.0 + 199 / SR))
    assert len(second) == 1 and second.t == 2.0 and second.mel.shape == (1, 80)
    rest = ex.flush()
    assert len(rest) == 1 and rest.t == pytest.approx(2.01)  # 200 samples -> ceil(200/160) = 2 frames
    assert rest.mel.dtype == np.float32 and rest.vad.dtype == np.float32


@pytest.mark.parametrize("f0", [90.0, 120.0, 210.0, 330.0])
def test_f0_of_harmonic_tones(f0):
    t = np.arange(SR) / SR
    x = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 8)).astype(np.float32) * 0.2
    feats = extract_features(AudioChunk(x, SR), vad=False)
    mid = feats.f0[5:-5]
    assert np.all(mid > 0)
    assert np.median(np.abs(mid - f0) / f0) < 0.01
    assert np.max(np.abs(mid - f0) / f0) < 0.03


def test_f0_is_zero_for_noise_and_silence_and_loudness_is_dbfs():
    rng = np.random.default_rng(0)
    noise = (rng.standard_normal(SR) * 0.1).astype(np.float32)
    feats = extract_features(AudioChunk(np.concatenate([noise, np.zeros(SR, np.float32)]), SR), vad=False)
    assert np.mean(feats.f0[:95] > 0) < 0.1
    assert np.all(feats.f0[110:] == 0)
    assert np.all(feats.loudness[110:] == -100.0)
    assert np.median(feats.loudness[5:95]) == pytest.approx(-20.0, abs=0.5)  # rms 0.1
    sine = np.sin(2 * np.pi * 1000 * np.arange(SR) / SR).astype(np.float32)
    level = extract_features(AudioChunk(sine, SR), vad=False).loudness[5:-5]
    assert np.allclose(level, -3.01, atol=0.05)


def test_log_mel_puts_a_tone_in_the_right_band():
    from marionette.core.audio.features import mel_filterbank

    fb = mel_filterbank()
    freqs = np.arange(257) * SR / 512
    for hz in (300.0, 1000.0, 4000.0):
        x = np.sin(2 * np.pi * hz * np.arange(SR) / SR).astype(np.float32) * 0.5
        mel = extract_features(AudioChunk(x, SR), vad=False).mel[10:-10].mean(axis=0)
        centre = freqs[np.argmax(fb, axis=0)[int(np.argmax(mel))]]
        assert abs(centre - hz) / hz < 0.08


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed (scripts/setup.sh installs it)")
def test_vad_hears_real_speech_and_not_silence(tmp_path):
    wav = tmp_path / "s.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), "Hello there, this is a test of voice activity."], check=True)
    from marionette.core.audio import load_audio

    speech = load_audio(wav).samples
    x = np.concatenate([np.zeros(SR, np.float32), speech, np.zeros(SR, np.float32)])
    feats = extract_features(AudioChunk(x, SR))
    sil = feats.vad[:90]
    loud = feats.loudness > -40
    assert sil.max() < 0.2
    assert np.mean(feats.vad[loud] > 0.5) > 0.8
    assert feats.f0[loud].astype(bool).mean() > 0.4  # much of loud speech is voiced


def test_bad_chunks_are_refused_with_a_reason():
    ex = StreamingFeatureExtractor.load(vad=False)
    with pytest.raises(InputError, match="NaN"):
        ex.push(AudioChunk(np.full(100, np.nan, np.float32), SR))
    ex.reset()
    with pytest.raises(InputError, match="float32"):
        ex.push(AudioChunk(np.zeros(100, np.int16), SR))
    ex.reset()
    ex.push(AudioChunk(np.zeros(100, np.float32), SR))
    with pytest.raises(InputError, match="reset"):
        ex.push(AudioChunk(np.zeros(100, np.float32), 8000))


def test_feature_speed_whole_file():
    """Target >= 200x realtime on one core; asserted loosely (the CI machine is shared)."""
    import time

    x = np.tile(speechlike(), 4)  # 12 s
    extract_features(AudioChunk(x[:SR], SR))
    best = 0.0
    for _ in range(3):
        t0 = time.process_time()  # CPU time: a busy shared machine slows the wall clock, not the work
        extract_features(AudioChunk(x, SR))
        best = max(best, 12.0 / max(time.process_time() - t0, 1e-3))
    assert best > 50


def test_long_streams_keep_bounded_state():
    """Two minutes in 1 s chunks: the extractor's buffers stay a window long, the frame count exact."""
    ex = StreamingFeatureExtractor.load()
    rng = np.random.default_rng(0)
    n = 0
    for i in range(120):
        out = ex.push(AudioChunk((rng.standard_normal(44100) * 0.05).astype(np.float32), 44100, float(i)))
        n += len(out)
        assert ex._buf.size <= 400 + 16000 and ex._vad_probs.size <= 4
        assert ex._resampler._buf.size < 44100 + 1000
    n += len(ex.flush())
    assert n == 120 * 100


def test_bench_features_cli(capsys):
    import json

    from marionette.plugin.cli import main

    assert main(["bench", "features", "--seconds", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["benchmark"] == "features" and out["whole_file_x_realtime_cpu"] > 10
    assert out["stream_20ms_ms_per_push"] > 0


def test_real_recording_streamed_from_file_equals_whole_file():
    """A real G.722 prompt, read with iter_audio in 30 ms chunks and streamed, against load_audio + extract."""
    from marionette.core.audio import iter_audio, load_audio
    from marionette.tools.corpus import real

    if real.available():
        pytest.skip(real.available())
    clip = real.clips("heldout")[0]
    whole = extract_features(load_audio(clip.path))
    ex = StreamingFeatureExtractor.load()
    parts = [ex.push(c) for c in iter_audio(clip.path, chunk_seconds=0.03)] + [ex.flush()]
    assert_same(whole, concat_features(parts))
    assert whole.vad.max() > 0.8 and np.mean(whole.f0 > 0) > 0.2  # a person speaking, voiced
