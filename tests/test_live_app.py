"""LiveApp, the EngineControl that agents and the panel talk to, on a fake clock with real parts:
say() speaks with speech events framing the frames that show it, interrupt() stops at once,
pushed audio at any rate moves the lips."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from engine_doubles import tone_bursts

from marionette.core.clock import FakeClock
from marionette.core.control import EngineControl, SpeechEvent
from marionette.core.types import AudioChunk
from marionette.plugin.config import load_config
from marionette.plugin.live import build_live, load_parts


@pytest.fixture(scope="module")
def parts():
    cfg = load_config(None, {"engine.width": 256, "engine.height": 256})
    return load_parts(cfg)


def make_app(parts, clock):
    cfg = load_config(None, {"audio.source": "tts", "audio.play": False, "audio.tts_engine": "espeak",
                             "sinks.virtualcam": False, "sinks.mjpeg": False,
                             "engine.width": 256, "engine.height": 256})
    parts.features.reset()
    parts.generator.reset()
    return build_live(cfg, clock=clock, parts=parts)


def run_for(app, seconds: float, during=None):
    async def go():
        task = asyncio.create_task(app.run(seconds))
        if during is not None:
            await during()
        await task
        await app.close()

    asyncio.run(go())


def wait_queued(app, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while app.playback.pending_seconds() == 0:
        assert time.monotonic() < deadline, "speech was never synthesized"
        time.sleep(0.02)


def test_say_speaks_with_events_around_the_speech(parts):
    clock = FakeClock()
    app = make_app(parts, clock)
    assert isinstance(app, EngineControl)
    events = []
    app.subscribe(events.append)
    jaw = []
    app.engine.on_frame(lambda v, m: jaw.append((v.t, m["jawOpen"])))
    sid = app.say("Hello there, how are you today?")
    wait_queued(app)
    run_for(app, 4.0)
    speech = [e for e in events if isinstance(e, SpeechEvent)]
    assert [(e.kind, e.speech_id) for e in speech] == [("start", sid), ("end", sid)]
    assert speech[0].text.startswith("Hello")
    js = np.array(jaw)
    inside = js[(js[:, 0] >= speech[0].t) & (js[:, 0] <= speech[1].t), 1]
    outside = js[js[:, 0] > speech[1].t + 0.4, 1]
    assert inside.max() > 0.3 and inside.mean() > 0.1 and outside.max() < 0.05
    status = app.status()
    assert status["frames"] == 120 and status["speaking"] is None


def test_interrupt_stops_speech_now(parts):
    clock = FakeClock()
    app = make_app(parts, clock)
    events = []
    app.subscribe(events.append)
    jaw = []
    app.engine.on_frame(lambda v, m: jaw.append((v.t, m["jawOpen"])))
    sid = app.say("This is a long sentence that will be cut off in the middle by an impatient agent.")
    wait_queued(app)

    async def barge_in():
        while clock.now() < 1.0:
            await asyncio.sleep(0)
        app.interrupt()

    run_for(app, 3.0, barge_in)
    ends = [e for e in events if isinstance(e, SpeechEvent) and e.kind == "end"]
    assert ends and ends[0].speech_id == sid and ends[0].interrupted
    js = np.array(jaw)
    assert js[js[:, 0] > 1.35, 1].max() < 0.05


def test_pushed_audio_at_44k_moves_the_lips(parts):
    # The resampling of pushed audio is under test: the loudness envelope opens the jaw with a buzz
    # (the default generator sends pushed audio through the diffusion model, trained on speech).
    from dataclasses import replace

    from marionette.core.generators import get_generator

    clock = FakeClock()
    app = make_app(replace(parts, generator=get_generator("envelope", fps=30)), clock)
    jaw = []
    app.engine.on_frame(lambda v, m: jaw.append((v.t, m["jawOpen"])))
    buzz = np.concatenate([c.samples for c in tone_bursts(44100, 2.0, [(0.5, 1.5)])])
    for i in range(0, buzz.size, 4410):  # 100 ms pushes, faster than real time, as a client would
        app.push_audio(AudioChunk(buzz[i:i + 4410], 44100))
    app.end_segment()
    run_for(app, 2.5)
    js = np.array(jaw)
    assert js[(js[:, 0] > 0.7) & (js[:, 0] < 1.4), 1].min() > 0.3
    assert js[js[:, 0] > 1.9, 1].max() < 0.05
