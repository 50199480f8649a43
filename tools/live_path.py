"""The live path as an offline predictor: a clip played through `marionette run`'s engine (file
source, the live generator choice, ControlMixer, renderer) on a fake clock, its motion written by
the same MotionTrackSink as `run --motion-out`, so a yardstick scores exactly what live viewers
see, against the clip's own timeline.

Trade-off: the fake clock makes it deterministic and independent of machine load (every tick
runs, none is skipped), so it scores the path's design (segmenting, shared lookahead, seams,
stamping), not a busy machine's dropped frames; `bench pipeline --audio-file` runs the real clock.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from marionette.core.track import MotionTrack, load_track
from marionette.core.types import AudioChunk


def live_track(audio: AudioChunk, generator: str = "auto", *, fps: float = 30.0, size: tuple[int, int] = (128, 128),
               renderer=None) -> MotionTrack:
    """The motion the live engine shows for ``audio`` (no phones: a file is audio without words),
    on the clip's timeline (frame 0 = its first sample heard)."""
    from marionette.core.audio import StreamingFeatureExtractor
    from marionette.core.clock import FakeClock
    from marionette.core.control import ControlMixer
    from marionette.core.engine import Engine
    from marionette.core.render.portrait import load_renderer
    from marionette.core.stages import Conditioned
    from marionette.plugin.live import live_generator
    from marionette.plugin.sinks import MotionTrackSink
    from marionette.plugin.sources import PlaybackSource

    if renderer is None:
        renderer, _ = load_renderer(None, size)
    clock = FakeClock()
    gen = live_generator(generator, fps=fps)
    source = PlaybackSource(clock, rate=audio.sample_rate, name="file")
    source.push(audio.samples, audio.sample_rate, label="clip")
    with tempfile.TemporaryDirectory() as d:
        sink = MotionTrackSink(Path(d) / "track.json", fps=fps)
        engine = Engine(renderer=renderer, generator=gen, features=StreamingFeatureExtractor.load(), clock=clock,
                        fps=fps, mixer=ControlMixer(clock=clock, emotion_recipes=not isinstance(gen, Conditioned)),
                        sources=[source], sinks=[sink])

        async def go():
            try:
                await engine.run(audio.duration + gen.lookahead + 1.0)
            finally:
                await engine.close()

        asyncio.run(go())
        track, _ = load_track(sink.path)
    return track
