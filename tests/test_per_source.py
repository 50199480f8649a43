"""The live default generator (core/generators/per_source.py) and the conditions the engine hands
forward: speech with phones drives the teacher, audio without the audio model, one lookahead for
both, no seam where the driver changes; an emotion set on the ControlMixer reaches the generator
through the frame loop and shows (the mixer leaves its recipe out). Real espeak-ng speech, real
feature extractor, teacher and envelope/diffusion, real renderer and engine on a fake clock."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from engine_doubles import tone_bursts

from marionette.core.audio import StreamingFeatureExtractor, extract_features
from marionette.core.clock import FakeClock
from marionette.core.control import ControlMixer
from marionette.core.engine import Engine
from marionette.core.generators import get_generator
from marionette.core.motion_space import CHANNEL_INDEX
from marionette.core.speech import available_engines, synthesize
from marionette.core.stages import Conditioned, MotionGenerator, PhoneDriven
from marionette.core.types import AudioChunk, Conditions, Emotion

FPS = 30.0


@pytest.fixture(scope="module")
def speech():
    if available_engines()["espeak"]:
        pytest.skip(available_engines()["espeak"])
    return synthesize("Papa bought a map.", engine="espeak")


def chunks(features, size: int = 7):
    for s in range(0, len(features), size):
        sl = slice(s, s + size)
        yield type(features)(features.mel[sl], features.loudness[sl], features.f0[sl], features.vad[sl],
                             100.0, features.t + s / 100.0)


@pytest.mark.parametrize("audio", ["envelope", "diffusion"])
def test_routes_per_segment_with_one_lookahead_and_no_seam(speech, audio):
    from marionette.core.generators import available_generators

    if audio not in available_generators():
        pytest.skip(f"{audio} not available here")
    gen = get_generator("auto", fps=FPS, audio=audio)
    assert isinstance(gen, MotionGenerator) and isinstance(gen, PhoneDriven) and isinstance(gen, Conditioned)
    assert gen.lookahead == max(gen.phones.lookahead, gen.audio.lookahead)
    speech_audio, phones = speech
    buzz = np.concatenate([c.samples for c in tone_bursts(16000, 1.5, [(0.3, 1.2)])])
    frames, drivers = [], []
    t = 0.0
    for segment, with_phones in ((speech_audio, True), (AudioChunk(buzz, 16000), False)):
        if with_phones:
            gen.set_phonemes(phones)
        feats = extract_features(AudioChunk(segment.samples, segment.sample_rate, t))
        for f in chunks(feats):
            out = gen.push(f)
            newest = f.t + (len(f) - 1) / 100.0
            # Whoever drives, no frame leaves before the shared lookahead of audio has arrived.
            assert all(m.t <= newest - gen.lookahead + 1e-6 for m in out), (audio, [m.t for m in out], newest)
            drivers.append(gen.segment_driver())
            frames += out
        frames += gen.flush()
        t += segment.duration
    assert drivers[0] == "teacher" and drivers[-1] == audio
    v = np.stack([m.to_vector() for m in frames])
    ts = np.array([m.t for m in frames])
    assert np.all(np.diff(ts) > 0)
    # At the switch the head and face continue (no jump beyond what 2 frames of motion do anyway).
    k = int(np.searchsorted(ts, speech_audio.duration - 1e-6))
    pose = [CHANNEL_INDEX[c] for c in ("pitch", "yaw", "roll", "browInnerUp", "eyeBlinkLeft")]
    typical = np.percentile(np.abs(np.diff(v[:, pose], axis=0)), 99, axis=0) + 1e-3
    assert np.all(np.abs(v[k, pose] - v[k - 1, pose]) <= 2 * typical), (v[k - 1, pose], v[k, pose])


def test_emotion_on_the_mixer_reaches_the_generator_through_the_loop(speech):
    """set_emotion on the ControlMixer (as an agent does) shows through the generator live."""
    from marionette.core.render.portrait import load_renderer

    renderer, _ = load_renderer(None, (128, 128))
    clock = FakeClock()
    gen = get_generator("auto", fps=FPS, audio="envelope")
    mixer = ControlMixer(clock=clock, emotion_recipes=False)  # as `run` builds it for a Conditioned generator
    from marionette.plugin.sources import PlaybackSource

    play = PlaybackSource(clock, rate=16000)
    eng = Engine(renderer=renderer, generator=gen, features=StreamingFeatureExtractor.load(), clock=clock,
                 fps=FPS, mixer=mixer, sources=[play])
    smile = []
    eng.on_frame(lambda v, m: smile.append((v.t, m["mouthSmileLeft"])))

    async def go():
        task = asyncio.create_task(eng.run(3.0))
        while clock.now() < 1.0:
            await asyncio.sleep(0)
        mixer.set_emotion("happy", 1.0)
        await task
        await eng.close()

    asyncio.run(go())
    s = np.array(smile)
    assert s[s[:, 0] < 0.9, 1].max() < 0.05  # neutral before
    assert s[s[:, 0] > 2.2, 1].min() > 0.2  # the generator shows it after (the mixer added no recipe)
    assert mixer.conditions() == Conditions(Emotion("happy", 1.0), {})
