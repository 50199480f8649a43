"""What the live engine hands its sound outputs, on a fake clock with real parts: the speaker gets
only the audio we play (never the microphone), every sound sink gets it stamped heard + av_delay,
and --motion-out writes the motion on the time base of the sound heard (a file's first sample is
track time 0), so the live track of a clip matches the same generator offline on that clip."""

from __future__ import annotations

import asyncio
import wave

import numpy as np
import pytest
from engine_doubles import ScriptedSource, tone_bursts

from marionette.core.audio import StreamingFeatureExtractor, load_audio
from marionette.core.clock import FakeClock
from marionette.core.engine import Engine
from marionette.core.generators import generate_track, get_generator
from marionette.core.render.portrait import load_renderer
from marionette.core.speech import available_engines, synthesize
from marionette.core.teacher import lip_gap
from marionette.core.track import load_track
from marionette.plugin.sinks import MotionTrackSink
from marionette.plugin.sources import FileSource, PlaybackSource

FPS = 30.0


@pytest.fixture(scope="module")
def renderer():
    return load_renderer(None, (96, 96))[0]


class SoundProbe:
    """A sink with the sound abilities (core.stages.SoundSink and SpeakerSink)."""

    name = "probe"

    def __init__(self) -> None:
        self.heard, self.played = [], []

    def send_audio(self, chunk) -> None:
        self.heard.append(chunk)

    def send_played(self, chunk) -> None:
        self.played.append(chunk)

    def close(self) -> None:
        pass


def run(engine: Engine, seconds: float, during=None) -> None:
    async def go():
        task = asyncio.create_task(engine.run(seconds))
        if during is not None:
            await during()
        await task
        await engine.close()

    asyncio.run(go())


def test_speaker_gets_only_our_audio_and_every_sound_is_stamped_heard_plus_delay(renderer):
    clock = FakeClock()
    mic = ScriptedSource(clock, tone_bursts(16000, 3.0, [(0.5, 1.0)], freq=180.0))
    play = PlaybackSource(clock, rate=16000)
    ours = np.concatenate([c.samples for c in tone_bursts(16000, 0.5, [(0.0, 0.5)], freq=300.0, amp=0.3)])
    probe = SoundProbe()
    eng = Engine(renderer=renderer, generator=get_generator("envelope", fps=FPS), clock=clock, fps=FPS,
                 features=StreamingFeatureExtractor.load(), sources=[mic, play], sinks=[probe], av_delay=0.15)

    async def say_at_2s():
        while clock.now() < 2.0:
            await asyncio.sleep(0)
        play.push(ours, 16000)

    run(eng, 3.0, say_at_2s)

    def loud(chunks):
        t = np.concatenate([c.t + np.arange(c.samples.size) / c.sample_rate for c in chunks])
        x = np.concatenate([c.samples for c in chunks])
        return t[np.abs(x) > 0.1]

    heard, played = loud(probe.heard), loud(probe.played)
    # The whole sound: the microphone's burst (captured 0.5-1.0 s) and ours, both 150 ms later.
    assert heard.min() == pytest.approx(0.5 + 0.15, abs=0.02) and heard.max() > 2.0 + 0.15
    # The speaker: only ours (pushed at 2 s, released from the tick before), never the microphone.
    assert played.size and played.min() >= 2.0 - 1 / FPS + 0.15 - 0.005 and played.max() <= 2.5 + 0.15 + 0.02


def test_motion_out_is_on_the_time_base_of_the_sound_heard(renderer, tmp_path):
    if available_engines()["espeak"]:
        pytest.skip(available_engines()["espeak"])
    audio, _ = synthesize("Papa bought a big blue map, and mama opened it.", engine="espeak")
    path = tmp_path / "clip.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(audio.sample_rate)
        w.writeframes((np.clip(audio.samples, -1, 1) * 32767).astype("<i2").tobytes())
    clip = load_audio(path)
    clock = FakeClock()
    gen = get_generator("envelope", fps=FPS)
    out = MotionTrackSink(tmp_path / "track.json", fps=FPS)
    eng = Engine(renderer=renderer, generator=gen, clock=clock, fps=FPS, features=StreamingFeatureExtractor.load(),
                 sources=[FileSource(path, clock)], sinks=[out])
    run(eng, clip.duration + 1.0)
    live, _ = load_track(out.path)
    # The sound written next to the track starts with the file's first sample.
    heard = load_audio(out.wav_path)
    ref = np.interp(np.arange(heard.samples.size) / 16000, np.arange(clip.samples.size) / clip.sample_rate, clip.samples)
    n = min(heard.samples.size, ref.size)
    assert np.corrcoef(heard.samples[:n], ref[:n])[0, 1] > 0.95
    # The lips in the track are the offline lips for the same file, at the same times.
    offline = lip_gap(generate_track(get_generator("envelope", fps=FPS), clip).values)
    shown = lip_gap(live.values)
    m = min(offline.size, shown.size)
    lags = list(range(-3, 4))
    corr = [np.corrcoef(shown[max(0, k):m + min(0, k)], offline[max(0, -k):m - max(0, k)])[0, 1] for k in lags]
    assert lags[int(np.argmax(corr))] == 0 and max(corr) > 0.95, corr
