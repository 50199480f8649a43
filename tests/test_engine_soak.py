"""A two-minute soak of the real pipeline on a fake clock: speech with pauses pushed like an agent
would, all the way to an mp4 recorder and an MJPEG server. No frame drift, flat memory, and the
per-frame cost does not creep up (the live stream is cut into segments at pauses)."""

from __future__ import annotations

import asyncio
import os

import numpy as np
import pytest
from engine_doubles import RecordingFrameSink, tone_bursts

from marionette.core.audio import StreamingFeatureExtractor
from marionette.core.clock import FakeClock
from marionette.core.engine import Engine
from marionette.core.face import FaceAnalyzer, default_portrait_path, load_image
from marionette.core.generators import get_generator
from marionette.core.render.renderer import PortraitRenderer
from marionette.plugin.sinks import MjpegSink, RecordingSink
from marionette.plugin.sources import PlaybackSource

FPS = 30.0
SECONDS = 120.0


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.slow
def test_two_minute_soak_no_drift_flat_memory(tmp_path):
    image = load_image(default_portrait_path())
    renderer = PortraitRenderer.load(image, FaceAnalyzer.load().analyze(image), size=(256, 256))
    clock = FakeClock(50.0)
    play = PlaybackSource(clock, rate=16000)
    rec = RecordingFrameSink()
    mp4 = RecordingSink(tmp_path / "soak.mp4", fps=FPS)
    mjpeg = MjpegSink(port=0)
    eng = Engine(renderer=renderer, generator=get_generator("envelope", fps=FPS), clock=clock, fps=FPS,
                 features=StreamingFeatureExtractor.load(), sources=[play], sinks=[rec, mp4, mjpeg])
    rng = np.random.default_rng(0)
    memory: dict[int, float] = {}
    gen_ms: list[float] = []
    next_push = [50.0]

    def on_frame(video, motion):
        # An agent speaking in sentences: 1-4 s of buzz, then 0.5-2 s of quiet, queued ahead.
        if clock.now() >= next_push[0] - 1.0:
            speak = float(rng.uniform(1, 4))
            pause = float(rng.uniform(0.5, 2))
            bursts = [(a, min(a + 0.25, speak)) for a in np.arange(0, speak, 0.33)]  # syllables
            x = tone_bursts(16000, speak + pause, bursts, chunk=speak + pause)[0].samples
            play.push(x, 16000)
            next_push[0] += speak + pause
        if video.index % int(10 * FPS) == 0:
            memory[video.index] = rss_mb()
            st = eng.stats().stage("generator")
            gen_ms.append(st.mean_ms)

    eng.on_frame(on_frame)

    async def go():
        try:
            return await eng.run(SECONDS)
        finally:
            await eng.close()

    stats = asyncio.run(go())
    n = int(SECONDS * FPS)
    assert stats.frames == n and stats.late_ticks == 0
    idx = np.array([i for i, _ in rec.frames])
    ts = np.array([t for _, t in rec.frames])
    np.testing.assert_allclose(ts, 50.0 + idx / FPS, atol=1e-6)  # frame k at exactly t0 + k/fps
    assert abs(stats.audio_seconds - SECONDS) < 0.1  # audio kept pace with video
    mem = [memory[k] for k in sorted(memory)]
    print(f"soak: rss MB every 10 s {[round(m) for m in mem]}; generator ms {[round(g, 2) for g in gen_ms]}; "
          f"{stats.summary()}")
    assert mem[-1] - mem[3] < 12.0, f"memory grew from {mem[3]:.0f} to {mem[-1]:.0f} MB: {mem}"
    assert gen_ms[-1] < 3 * max(gen_ms[2], 0.3), f"generator cost crept up: {gen_ms}"
    assert mp4.frames > 0.9 * n and abs(mp4.audio_seconds - SECONDS) < 1.0
