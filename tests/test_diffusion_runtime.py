"""The diffusion runtime's numpy parts (schedule, sampler, feature gathering) and, when the shipped
model is present, the streaming generator on real audio features. No torch needed."""

import numpy as np
import pytest

from marionette.core.generators import diffusion as dg
from marionette.core.motion_space import CHANNEL_INDEX
from marionette.core.types import AudioFeatures, Emotion


def test_schedule_runs_from_noise_to_signal():
    ab = dg.alpha_bar(np.arange(1000), 1000)
    assert ab[0] > 0.999 and ab[-1] < 1e-3 and np.all(np.diff(ab) <= 0)
    assert dg.ddim_timesteps(1, 1000) == [999]
    assert dg.ddim_timesteps(4, 1000) == [999, 749, 499, 249]


def test_gather_context_interpolates_and_pads_with_silence():
    rows = np.arange(10, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)
    silence = np.full(3, -7.0, np.float32)
    got = dg.gather_context(rows, np.array([[-1.0, 0.0, 2.5, 9.0, 10.0]]), silence)
    assert got.shape == (1, 5, 3)
    np.testing.assert_allclose(got[0, :, 0], [-7.0, 0.0, 2.5, 9.0, -7.0])


def test_sampler_keeps_inpainted_entries_and_is_seeded():
    n, c = 6, 58
    known = np.random.default_rng(0).standard_normal((n, c)).astype(np.float32)
    mask = np.zeros((n, c), np.float32)
    mask[:3] = 1
    mask[:, 7] = 1

    def predict(x_t, kn, mk, t, au, em, ak, ek):  # a fake denoiser: pulls towards 0.5, knows nothing
        return np.full_like(x_t, 0.5) + 0.1 * ak[:, None, None]

    args = (known, mask, np.zeros((n, 4, dg.N_AUDIO), np.float32), np.zeros((n, 8), np.float32))
    a = dg.sample_window(predict, *args, steps=4, n_steps=1000, guidance=2.0, rng=np.random.default_rng(1))
    b = dg.sample_window(predict, *args, steps=4, n_steps=1000, guidance=2.0, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[mask > 0], known[mask > 0])
    # Guidance 2: uncond 0.5 + 2 * (0.6 - 0.5) = 0.7 on the free entries.
    np.testing.assert_allclose(a[mask == 0], 0.7, atol=1e-5)


def test_audio_vector_is_finite_for_broken_frames():
    t = 5
    feats = AudioFeatures(mel=np.full((t, 80), np.nan, np.float32), loudness=np.full(t, -np.inf, np.float32),
                          f0=np.array([0, 100, 200, 0, 0], np.float32), vad=np.zeros(t, np.float32))
    v = dg.audio_vector(feats)
    assert v.shape == (t, dg.N_AUDIO) and np.isfinite(v).all()
    np.testing.assert_allclose(v[:3, 81], [0.0, 0.0, 1.0])


def _rows(n, level, seed=0, speech=1.0):
    rng = np.random.default_rng(seed)
    r = np.zeros((n, dg.N_AUDIO), np.float32)
    r[:, :80] = level + rng.standard_normal((n, 80)).astype(np.float32)
    r[:, 83] = speech
    return r


def test_speaker_normaliser_is_causal_and_pulls_a_voice_to_the_prior():
    cfg = dg.MelNormConfig(prior=np.zeros(80, np.float32), prior_frames=50, max_frames=300)
    rows = _rows(600, level=-4.0)  # a voice 4 log units quieter/darker than the training mean
    whole = dg.MelMeanNormaliser(cfg)(rows)
    norm = dg.MelMeanNormaliser(cfg)
    chunked = np.concatenate([norm(rows[i:i + 7]) for i in range(0, len(rows), 7)])
    np.testing.assert_allclose(chunked, whole, atol=1e-5)  # streaming = training, chunking irrelevant
    assert abs(whole[:10, :80].mean() + 4.0) < 1.0  # the start trusts the prior: little shift yet
    assert abs(whole[-100:, :80].mean()) < 0.4  # after a few seconds of speech, 90 % of the offset is gone
    np.testing.assert_array_equal(whole[:, 80:], rows[:, 80:])  # only the mel columns move
    # A new voice is followed within about max_frames rows of speech (the mean forgets).
    switched = dg.MelMeanNormaliser(cfg)(np.concatenate([rows, _rows(900, level=3.0, seed=1)]))
    assert abs(switched[-100:, :80].mean()) < 0.7  # under 10 % of the 7-unit jump left after 3 x max_frames


def test_speaker_normaliser_learns_only_from_speech():
    cfg = dg.MelNormConfig(prior=np.zeros(80, np.float32), prior_frames=50)
    norm = dg.MelMeanNormaliser(cfg)
    silent = norm(_rows(500, level=-9.0, speech=0.0))
    np.testing.assert_allclose(silent, _rows(500, level=-9.0, speech=0.0))  # silence: no shift learned
    assert dg.MelNormConfig.from_json(cfg.to_json()).prior_frames == 50
    with pytest.raises(dg.InputError, match="expected \\(80,\\)"):
        dg.MelNormConfig.from_json({"prior": [0.0] * 3, "prior_frames": 1, "max_frames": 2})


needs_model = pytest.mark.skipif(not dg.model_available(), reason="no shipped diffusion model in models/diffusion")


def _speech_features(seconds=3.0):
    """Real features of espeak-ng speech when available, else of a synthetic vowel-like buzz."""
    from marionette.core.audio.features import extract_features
    from marionette.core.types import AudioChunk

    sr = 16000
    t = np.arange(int(seconds * sr)) / sr
    env = (np.sin(2 * np.pi * 3 * t) > 0) * (t > 0.5) * (t < seconds - 0.5)
    x = 0.3 * env * np.sign(np.sin(2 * np.pi * 120 * t)) * np.exp(-((t * 120) % 1) * 4)
    return extract_features(AudioChunk(x.astype(np.float32), sr))


@needs_model
def test_generator_streams_same_frames_for_any_chunking_and_seed():
    feats = _speech_features()

    def run(chunk, seed):
        g = dg.DiffusionGenerator.load(seed=seed)
        frames = []
        for i in range(0, len(feats), chunk):
            sl = slice(i, i + chunk)
            frames += g.push(AudioFeatures(feats.mel[sl], feats.loudness[sl], feats.f0[sl], feats.vad[sl],
                                           t=feats.t + i / 100))
        return frames + g.flush()

    a, b, c = run(7, 0), run(33, 0), run(7, 1)
    assert len(a) == len(b) == len(c)
    assert abs(len(a) - 3.0 * 25) <= 2  # one frame per 40 ms of audio
    va = np.stack([f.to_vector() for f in a])
    np.testing.assert_array_equal(va, np.stack([f.to_vector() for f in b]))
    assert not np.array_equal(va, np.stack([f.to_vector() for f in c]))
    np.testing.assert_allclose([f.t for f in a], np.arange(len(a)) / 25, atol=1e-9)


@needs_model
def test_silence_gives_closed_mouth_and_held_channels_stay_put():
    t = 300
    silent = AudioFeatures(np.full((t, 80), -18.4, np.float32), np.full(t, -100.0, np.float32),
                           np.zeros(t, np.float32), np.zeros(t, np.float32))
    g = dg.DiffusionGenerator.load(seed=0)
    g.set_held({"yaw": 8.0, "browInnerUp": 0.5})
    frames = g.push(silent) + g.flush()
    jaw = np.array([f["jawOpen"] for f in frames])
    assert jaw.max() < 0.1, jaw.max()
    assert all(f["yaw"] == 8.0 and abs(f["browInnerUp"] - 0.5) < 1e-6 for f in frames)
    pitch = np.array([f["pitch"] for f in frames])
    assert np.abs(np.diff(pitch)).max() < 1.0  # calm: no jumps between frames


@needs_model
def test_emotion_change_blends_in_without_a_jump():
    feats = _speech_features(4.0)
    g = dg.DiffusionGenerator.load(seed=0)
    half = len(feats) // 2
    part = lambda a, b: AudioFeatures(feats.mel[a:b], feats.loudness[a:b], feats.f0[a:b], feats.vad[a:b], t=a / 100)  # noqa: E731
    frames = g.push(part(0, half))
    g.set_emotion(Emotion("surprised"), blend=0.5)
    frames += g.push(part(half, len(feats))) + g.flush()
    brow = np.array([f["browOuterUpLeft"] for f in frames])
    switch = len(frames) // 2
    assert brow[: switch - 5].mean() < 0.1 and brow[-15:].mean() > 0.4
    assert np.abs(np.diff(brow)).max() < 0.2  # spread over the 0.5 s blend, not one step
