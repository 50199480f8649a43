"""The frame loop with the real renderer, feature extractor, envelope generator and ControlMixer on
a fake clock: frames on the grid, mouth following the audio (checked on pixels), sinks that are
slow or broken, a source that fails, interrupt, controls, latency statistics."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from engine_doubles import FlakySink, MouthMeter, RecordingFrameSink, ScriptedSource, SlowSink, tone_bursts

from marionette.core.audio import StreamingFeatureExtractor
from marionette.core.clock import FakeClock
from marionette.core.control import ControlMixer
from marionette.core.engine import Engine, StatusEvent
from marionette.core.face import FaceAnalyzer, default_portrait_path, load_image
from marionette.core.generators import get_generator
from marionette.core.render.renderer import PortraitRenderer
from marionette.plugin.sources import PlaybackSource

FPS = 30.0


@pytest.fixture(scope="module")
def renderer():
    image = load_image(default_portrait_path())
    return PortraitRenderer.load(image, FaceAnalyzer.load().analyze(image), size=(256, 256))


@pytest.fixture(scope="module")
def meter(renderer):
    return MouthMeter(renderer)


def make_engine(renderer, clock, **kw) -> Engine:
    return Engine(renderer=renderer, generator=get_generator("envelope", fps=FPS), clock=clock, fps=FPS,
                  features=StreamingFeatureExtractor.load(), **kw)


def run(engine: Engine, seconds: float):
    async def go():
        try:
            return await engine.run(seconds)
        finally:
            await engine.close()

    return asyncio.run(go())


def test_frames_sit_on_the_grid_and_the_mouth_follows_the_audio(renderer, meter):
    clock = FakeClock(1000.0)
    chunks = tone_bursts(16000, 6.0, [(2.0, 3.0)])
    chunks = [type(c)(c.samples, c.sample_rate, c.t + 1000.0) for c in chunks]
    rec = RecordingFrameSink(keep_images=True)
    eng = make_engine(renderer, clock, sources=[ScriptedSource(clock, chunks)], sinks=[rec])
    stats = run(eng, 6.0)
    assert stats.frames == 180 and stats.late_ticks == 0
    idx = np.array([i for i, _ in rec.frames])
    ts = np.array([t for _, t in rec.frames])
    np.testing.assert_allclose(ts, 1000.0 + idx / FPS, atol=1e-9)  # absolute grid: no drift
    opening = {i: meter(img) for (i, _), img in zip(rec.frames, rec.images)}
    loud = [v for i, v in opening.items() if 2.15 <= i / FPS < 2.95]
    quiet = [v for i, v in opening.items() if i / FPS < 1.9 or i / FPS > 3.4]
    assert min(loud) > 0.35 and max(quiet) < 0.15
    first_open = min(i for i, v in opening.items() if v > 0.25) / FPS
    assert 2.0 <= first_open <= 2.1  # within three frames of the onset
    assert stats.latency_p50_ms is not None and stats.latency_p95_ms <= 70
    assert {s.name for s in stats.stages} == {"audio", "features", "generator", "controls", "render", "sinks"}


def test_slow_and_broken_sinks_drop_and_recover_without_stalling_the_others(renderer):
    clock = FakeClock()
    good, slow, flaky = RecordingFrameSink(), SlowSink(0.5), FlakySink(range(20, 40))
    eng = make_engine(renderer, clock, sinks=[good, slow, flaky])
    events: list[StatusEvent] = []
    eng.subscribe(events.append)
    stats = run(eng, 3.0)
    assert stats.frames == 90 and stats.late_ticks == 0
    by = {s.name: s for s in stats.sinks} if stats.sinks else {}
    assert len(good.frames) + (by["recording"].dropped if by else 0) >= 85
    assert by["slow"].dropped > 0 and len(slow.frames) + by["slow"].dropped >= 85  # it dropped frames ...
    assert len(good.frames) > 2 * len(slow.frames)  # ... and did not hold the others back
    assert [e.level for e in events if e.component == "sink:flaky"] == ["error", "recovered"]
    assert events[0].retrying and "BrokenPipeError" in events[0].message
    assert flaky.frames and flaky.frames[-1][0] >= 80  # it came back
    assert good.closed and slow.closed and flaky.closed


def test_a_failing_source_is_status_and_the_avatar_keeps_living(renderer):
    clock = FakeClock()
    chunks = tone_bursts(16000, 8.0, [(0.5, 7.5)])
    src = ScriptedSource(clock, chunks, fail_between=(2.0, 5.0))
    rec = RecordingFrameSink()
    eng = make_engine(renderer, clock, sources=[src], sinks=[rec])
    events: list[StatusEvent] = []
    eng.subscribe(events.append)
    motions = []
    eng.on_frame(lambda v, m: motions.append(m))
    stats = run(eng, 8.0)
    assert stats.frames == 240
    levels = [(e.component, e.level) for e in events]
    assert levels == [("source:scripted", "error"), ("source:scripted", "recovered")]
    during = motions[int(2.6 * FPS):int(4.9 * FPS)]
    assert max(m["jawOpen"] for m in during) < 0.05  # no audio: the mouth closed instead of freezing open
    poses = np.array([[m.yaw, m.pitch, m["eyeBlinkLeft"]] for m in during])
    assert np.ptp(poses[:, 0]) > 0.1 and poses[:, 2].max() > 0.5  # still swaying and blinking


def test_clear_interrupts_speech_at_once(renderer):
    clock = FakeClock()
    play = PlaybackSource(clock, rate=16000)
    buzz = tone_bursts(16000, 4.0, [(0.0, 4.0)], chunk=4.0)[0].samples
    play.push(buzz, 16000, label="long")
    eng = make_engine(renderer, clock, sources=[play])
    jaw = []
    eng.on_frame(lambda v, m: jaw.append(m["jawOpen"]))

    async def go():
        task = asyncio.create_task(eng.run(3.0))
        while clock.now() < 1.5:
            await asyncio.sleep(0)
        eng.clear()
        await task
        await eng.close()

    asyncio.run(go())
    jaw = np.array(jaw)
    assert jaw[int(0.5 * FPS):int(1.4 * FPS)].min() > 0.3  # speaking
    assert jaw[int(1.8 * FPS):].max() < 0.05  # silent within 0.3 s of the interrupt
    assert play.pending_seconds() == 0


def test_controls_are_mixed_on_top_of_generated_motion(renderer, meter):
    clock = FakeClock()
    mixer = ControlMixer(clock=clock)
    rec = RecordingFrameSink(keep_images=True)
    eng = make_engine(renderer, clock, mixer=mixer, sinks=[rec])
    mixer.set_channels({"jawOpen": 1.0}, transition=0.0)
    run(eng, 0.5)
    assert meter(rec.images[-1]) > 0.8
    assert eng.last_motion["jawOpen"] == pytest.approx(1.0)


def test_a_renderer_that_fails_for_a_while_repeats_the_last_picture_on_time(renderer):
    class Glitchy:
        size, supported_channels, unsupported_channels = renderer.size, renderer.supported_channels, renderer.unsupported_channels
        calls = 0

        def render(self, motion):
            Glitchy.calls += 1
            if 10 <= Glitchy.calls < 20:
                raise RuntimeError("out of memory")
            return renderer.render(motion)

    clock = FakeClock()
    rec = RecordingFrameSink(keep_images=True)
    eng = make_engine(Glitchy(), clock, sinks=[rec])
    shown = {}
    eng.on_frame(lambda v, m: shown.__setitem__(v.index, v.image))
    events = []
    eng.subscribe(events.append)
    stats = run(eng, 1.0)
    assert stats.frames == 30 and [e.level for e in events] == ["error", "recovered"]
    assert events[0].component == "stage:renderer" and "out of memory" in events[0].message
    for i in range(9, 19):  # the last good picture (frame 8), repeated on time
        assert np.array_equal(shown[i], shown[8])
    assert not np.array_equal(shown[25], shown[8])
