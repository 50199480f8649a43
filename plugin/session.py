"""One avatar session over the in-process engine API, for the edges that host avatars for someone
else's agent: the Pipecat video service, the LiveKit avatar, `marionette serve`, Ray Serve.

A session is the engine (core.engine.Engine) with its own generator, feature extractor, control
mixer and a PlaybackSource that pushed audio goes into, wrapped by LiveApp (plugin/live.py), the
EngineControl every control edge already speaks. What is expensive and read-only is loaded once
per process in ``SharedAssets`` and shared: the analysed portrait's renderer precomputation
(seconds and megabytes; each session renders through its own ``PortraitRenderer.view()``).
Trade-off: sessions share the process's two cores; nothing here reserves CPU for one of them.

Frames leave through ``FrameOutput``: a FrameSink (core.stages) that hands each picture and each
block of the sound *at its presentation time* (the engine delays sound by the picture's latency,
so a sink that plays audio at ``chunk.t`` and shows frames at ``frame.t`` keeps lips and sound
together) to a callback. Edges turn those into their own frame types.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from marionette.core.clock import Clock, MonotonicClock
from marionette.core.types import AudioChunk, VideoFrame

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class AvatarOptions:
    """What one avatar session looks like. portrait: a photo path (None = the bundled portrait).
    generator: a name from core.generators ('envelope' is cheapest; pushed audio carries no phones)."""

    portrait: str | None = None
    width: int = 512
    height: int = 512
    fps: float = 30.0
    generator: str = "envelope"
    seed: int = 0

    def __post_init__(self) -> None:
        if not (64 <= self.width <= 2048 and 64 <= self.height <= 2048):
            raise ValueError(f"avatar size {self.width}x{self.height}, expected 64..2048 pixels a side")
        if not (1.0 <= self.fps <= 60.0):
            raise ValueError(f"avatar fps {self.fps}, expected 1..60")


class SharedAssets:
    """The read-only part of many avatars, loaded once per process: one renderer precomputation
    per (portrait, size). Thread-safe; ``renderer()`` returns a per-session view.

    one_thread: BLAS and OpenCV get one thread each, for the whole process (as `marionette run`
    does, core/render/threads.py): every avatar's frame loop is a thread of its own already, and
    on a busy machine a multi-threaded matmul stalls (a 2 ms render took 45 ms)."""

    def __init__(self, *, one_thread: bool = True) -> None:
        self.one_thread = one_thread
        self._limits = None
        self._lock = threading.Lock()
        self._renderers: dict[tuple[str, int, int], Any] = {}
        self.load_seconds: dict[tuple[str, int, int], float] = {}

    @staticmethod
    def portrait_path(portrait: str | None) -> str:
        from marionette.core.face import default_portrait_path

        path = portrait or str(default_portrait_path())
        if not Path(path).is_file():
            raise FileNotFoundError(f"portrait {path!r} does not exist; expected a photo file (jpg, png)")
        return path

    def renderer(self, options: AvatarOptions):
        key = (self.portrait_path(options.portrait), options.width, options.height)
        with self._lock:  # one analysis per portrait even when sessions start together
            if self.one_thread and self._limits is None:
                import cv2
                from threadpoolctl import threadpool_limits

                cv2.setNumThreads(1)
                self._limits = threadpool_limits(limits=1)  # kept: the limit holds while it lives
            shared = self._renderers.get(key)
            if shared is None:
                from marionette.core.render.portrait import load_renderer

                t0 = time.perf_counter()
                shared, _ = load_renderer(key[0], (options.width, options.height))
                self._renderers[key] = shared
                self.load_seconds[key] = time.perf_counter() - t0
        return shared.view()

    def shared(self, options: AvatarOptions):
        """The precomputed renderer itself (read-only; render through ``renderer()``'s views)."""
        self.renderer(options)
        with self._lock:
            return self._renderers[(self.portrait_path(options.portrait), options.width, options.height)]

    def portraits(self) -> list[str]:
        with self._lock:
            return sorted({k[0] for k in self._renderers})


class FrameOutput:
    """A sink (core/stages.py: FrameSink, SpeakerSink, Interruptible): pictures to ``on_video``,
    the sound we play (pushed audio, our TTS; 16 kHz, stamped with the time it must be heard) to
    ``on_audio``, and ``on_clear`` when an interrupt drops sound already handed over. Called on the
    sink's own thread (core/engine/fanout.py), except on_clear (the interrupting thread); quick."""

    def __init__(self, name: str, on_video: Callable[[VideoFrame], None],
                 on_audio: Callable[[AudioChunk], None] | None = None,
                 on_clear: Callable[[], None] | None = None) -> None:
        self.name = name
        self._on_video, self._on_audio, self._on_clear = on_video, on_audio, on_clear

    def send(self, frame: VideoFrame) -> None:
        self._on_video(frame)

    def send_played(self, chunk: AudioChunk) -> None:
        if self._on_audio is not None:
            self._on_audio(chunk)

    def clear(self) -> None:
        if self._on_clear is not None:
            self._on_clear()

    def close(self) -> None:
        """Nothing held."""


class LatestFrame:
    """The newest frame of a session (for MJPEG/HTTP snapshots), with a count for viewers."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.frame: VideoFrame | None = None
        self.count = 0

    def __call__(self, frame: VideoFrame) -> None:
        with self._cond:
            self.frame, self.count = frame, self.count + 1
            self._cond.notify_all()

    def wait_next(self, after: int, timeout: float = 2.0) -> VideoFrame | None:
        with self._cond:
            self._cond.wait_for(lambda: self.count > after, timeout)
            return self.frame


_ids = itertools.count(1)


@dataclass
class AvatarSession:
    """One avatar: ``control`` is its LiveApp (core.control.api.EngineControl: say, push_audio,
    end_segment, interrupt, subscribe, status, mixer). Build with ``AvatarSession.create``."""

    session_id: str
    options: AvatarOptions
    control: Any  # plugin.live.LiveApp
    clock: Clock
    latest: LatestFrame = field(default_factory=LatestFrame)
    created_at: float = field(default_factory=time.time)
    start_seconds: float = 0.0
    _task: asyncio.Task | None = None

    @classmethod
    def create(cls, assets: SharedAssets, options: AvatarOptions | None = None, *, session_id: str | None = None,
               clock: Clock | None = None, outputs: tuple[Any, ...] = ()) -> "AvatarSession":
        """Build (not start) a session: the portrait's renderer view, a fresh generator and feature
        extractor, a control mixer of its own. Blocks for the first analysis of a portrait."""
        from marionette.core.audio import StreamingFeatureExtractor
        from marionette.core.control import ControlMixer
        from marionette.core.engine import Engine
        from marionette.core.stages import Conditioned

        from .live import LiveApp, live_generator
        from .sources import PlaybackSource

        t0 = time.perf_counter()
        options = options or AvatarOptions()
        clock = clock or MonotonicClock()
        renderer = assets.renderer(options)
        generator = live_generator(options.generator, fps=options.fps, seed=options.seed)
        mixer = ControlMixer(clock=clock, emotion_recipes=not isinstance(generator, Conditioned))
        # av_delay None: the engine estimates the picture's latency, then retunes it to the measured
        # one; every sound an output gets is stamped with the time of the frame that shows it.
        engine = Engine(renderer=renderer, generator=generator, features=StreamingFeatureExtractor.load(),
                        clock=clock, fps=options.fps, mixer=mixer, av_delay=None)
        playback = PlaybackSource(clock, name="pushed")
        engine.add_source(playback)
        session = cls(session_id or f"avatar-{next(_ids)}", options, None, clock)
        engine.add_sink(FrameOutput("latest", session.latest))
        for out in outputs:
            engine.add_sink(out)
        session.control = LiveApp(engine, clock=clock, mixer=mixer, playback=playback, tts_engine="espeak")
        session.start_seconds = time.perf_counter() - t0
        return session

    @property
    def engine(self):
        return self.control.engine

    def add_output(self, sink: Any) -> None:
        self.engine.add_sink(sink)

    def remove_output(self, sink: Any) -> None:
        self.engine.remove_sink(sink)

    def push_pcm16(self, pcm: bytes, sample_rate: int, channels: int = 1) -> None:
        """Queue little-endian int16 PCM (what Pipecat and LiveKit carry); stereo is averaged."""
        x = np.frombuffer(pcm, dtype="<i2")
        if channels > 1:
            x = x[: x.size - x.size % channels].reshape(-1, channels).mean(axis=1)
        self.control.push_audio(AudioChunk(x.astype(np.float32) / 32768.0, int(sample_rate), 0.0))

    def start(self) -> asyncio.Task:
        """Run the frame loop on the current event loop (its steps run on the engine's own thread)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.control.run(), name=f"engine-{self.session_id}")
        return self._task

    async def close(self) -> None:
        self.control.stop()
        if self._task is not None:
            try:
                await self._task
            except Exception:  # noqa: BLE001 - logged; closing goes on
                log.exception("session %s engine failed", self.session_id)
            self._task = None
        await self.control.close()

    def info(self) -> dict:
        st = self.control.status()
        portrait = Path(self.options.portrait).name if self.options.portrait else None  # never the host's paths
        return {"session_id": self.session_id, "portrait": portrait, "width": self.options.width,
                "height": self.options.height, "fps": st["fps"], "frames": st["frames"],
                "late_ticks": st["late_ticks"], "speaking": st["speaking"], "start_seconds": round(self.start_seconds, 3)}
