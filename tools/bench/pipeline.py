"""`marionette bench pipeline`: the real pipeline on the real clock, at 30 fps and 512x512.

Audio arrives like a microphone (10 ms blocks stamped with their capture time, never delayed) with
a voiced onset every 1.5 s; we time each onset to the first frame whose pixels show the mouth
opening. A second phase plays the same signal as audio we play ourselves (PlaybackSource) and
measures the A/V offset: the frame showing an onset minus the moment its sound is played.
Trade-off: the microphone is an in-process feeder thread, so device and driver latency (a few ms
to tens of ms on real hardware) is not included; tests/test_live_pulse.py measures it through
PulseAudio.
"""

from __future__ import annotations


import asyncio
import queue
import threading
import time

import numpy as np

from marionette.core.clock import MonotonicClock
from marionette.core.types import AudioChunk, MotionFrame
from marionette.core.engine.loop import Engine

RATE = 16000
PERIOD, BURST = 1.5, 0.6  # an onset every 1.5 s, voiced for 0.6 s
OPEN = 0.25  # fraction of a full jaw opening (on pixels) that counts as "the mouth opened"


def _buzz(n: int, t0: float) -> np.ndarray:
    t = t0 + np.arange(n) / RATE
    return (0.3 * np.sign(np.sin(2 * np.pi * 170 * t)) + 0.2 * np.sin(2 * np.pi * 340 * t)).astype(np.float32)


def _signal(i0: int, n: int) -> np.ndarray:
    """Samples i0..i0+n of the test signal: silence, then BURST s of buzz from each k*PERIOD + 1 s."""
    idx = i0 + np.arange(n)
    phase = (idx / RATE - 1.0) % PERIOD
    voiced = (idx / RATE >= 1.0) & (phase < BURST)
    return np.where(voiced, _buzz(n, i0 / RATE), 0.0).astype(np.float32)


class FeederSource:
    """A microphone stand-in: a thread writes 10 ms blocks at real-time pace, stamped with the
    clock time of their first sample; onsets[] holds the clock time of each voiced onset."""

    name = "feeder"
    playback_delay = 0.0

    def __init__(self, clock) -> None:
        self.clock = clock
        self.q: queue.Queue[AudioChunk] = queue.Queue()
        self.onsets: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "FeederSource":
        self._thread.start()
        return self

    def _run(self) -> None:
        block = RATE // 100
        t0 = self.clock.now()
        i = 0
        while not self._stop.is_set():
            target = t0 + (i + block) / RATE
            delay = target - self.clock.now()
            if delay > 0:
                time.sleep(delay)
            x = _signal(i, block)
            start = t0 + i / RATE
            prev = _signal(i - 1, 1)[0] if i > 0 else 0.0
            nz = np.flatnonzero(x)
            if nz.size and (nz[0] > 0 or prev == 0.0) and ((i + nz[0]) / RATE - 1.0) % PERIOD < 0.005:
                self.onsets.append(start + nz[0] / RATE)
            self.q.put(AudioChunk(x, RATE, start))
            i += block

    def read(self) -> AudioChunk | None:
        try:
            return self.q.get_nowait()
        except queue.Empty:
            return None

    def close(self) -> None:
        self._stop.set()


def _parts(size: tuple[int, int], fps: float):
    from marionette.core.audio import StreamingFeatureExtractor
    from marionette.core.generators import get_generator
    from marionette.core.render.portrait import load_renderer

    renderer, _ = load_renderer(None, size)
    return renderer, StreamingFeatureExtractor.load(), get_generator("envelope", fps=fps)


class MouthMeter:
    """How open the mouth is in a rendered picture, on pixels only: 0 = as the neutral render,
    1 = as jawOpen 1. It counts how far pixels inside the region a full jaw darkens fall below a
    cavity level (halfway between that region's neutral and fully open brightness), so only a
    dark opening counts: lips sealed over a portrait's bright teeth (a bilabial) darken the
    picture too, but read as closed, not open."""

    W = np.array([0.299, 0.587, 0.114], np.float32)

    def __init__(self, renderer) -> None:
        neutral = self._luma(renderer.render(MotionFrame()))
        opened = self._luma(renderer.render(MotionFrame().with_channels({"jawOpen": 1.0})))
        self.mask = np.maximum(neutral - opened, 0) > 40
        self.level = 0.5 * float(neutral[self.mask].mean() + opened[self.mask].mean())
        self.rest = self._below(neutral)
        self.full = max(self._below(opened) - self.rest, 1e-6)

    def _luma(self, img: np.ndarray) -> np.ndarray:
        return img.astype(np.float32) @ self.W

    def _below(self, luma: np.ndarray) -> float:
        return float(np.maximum(self.level - luma[self.mask], 0).mean())

    def __call__(self, img: np.ndarray) -> float:
        return (self._below(self._luma(img)) - self.rest) / self.full


def _onset_latencies(onsets: list[float], frames: list[tuple[float, float, np.ndarray]], meter: MouthMeter,
                     ref: str = "out") -> list[float]:
    """For each onset: first frame after it (by presentation/out time) whose mouth is open, minus the onset."""
    out = []
    for onset in onsets:
        for t_tick, t_out, img in frames:
            t = t_out if ref == "out" else t_tick
            if t < onset:
                continue
            if t > onset + 0.5:
                break
            if meter(img) > OPEN:
                out.append(t - onset)
                break
    return out


class _Viewer:
    """An HTTP client reading the MJPEG stream as fast as frames come (a browser or OBS)."""

    def __init__(self, url: str) -> None:
        self.url, self.frames = url, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        import http.client

        from urllib.parse import urlsplit

        parts = urlsplit(self.url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
        conn.request("GET", f"{parts.path}?{parts.query}")  # the query carries the stream's token
        resp = conn.getresponse()
        try:
            while not self._stop.is_set():
                line = resp.fp.readline()
                if not line:
                    return
                if line.lower().startswith(b"content-length:"):
                    resp.fp.readline()
                    resp.fp.read(int(line.split(b":")[1]))
                    self.frames += 1
        except OSError:
            return
        finally:
            conn.close()

    def stop(self) -> None:
        self._stop.set()


async def _run_phase(engine: Engine, seconds: float, frames: list, onsets_window) -> None:
    def keep(video, motion):
        # Keep only frames near an onset: measuring every frame would add to the CPU we report.
        t = video.t
        if onsets_window(t):
            frames.append((t, engine.clock.now(), video.image))

    engine.on_frame(keep)
    engine.last_stats = await engine.run(seconds)


def bench_pipeline(seconds: float = 60.0, size: tuple[int, int] = (512, 512), fps: float = 30.0) -> dict:
    from marionette.core.render.threads import single_thread

    with single_thread():  # one BLAS/OpenCV thread, as `marionette run` uses
        return _bench(float(seconds), size, fps)


def _bench(seconds: float, size: tuple[int, int], fps: float) -> dict:
    from marionette.core.control import ControlMixer

    clock = MonotonicClock()
    renderer, features, generator = _parts(size, fps)
    meter = MouthMeter(renderer)
    feeder = FeederSource(clock)
    from marionette.plugin.sinks import MjpegSink

    mjpeg = MjpegSink(port=0)  # a real sink with a real viewer, so JPEG encoding is in the CPU figure
    engine = Engine(renderer=renderer, generator=generator, features=features, clock=clock, fps=fps,
                    mixer=ControlMixer(clock=clock), sources=[feeder], sinks=[mjpeg])
    viewer = _Viewer(mjpeg.url)
    frames: list = []
    t_start = clock.now()

    def near_onset(t: float) -> bool:
        rel = (t - t_start - 1.0) % PERIOD
        return t - t_start > 1.0 and rel < 0.45

    async def go():
        feeder.start()
        viewer.start()
        try:
            await _run_phase(engine, seconds, frames, near_onset)
        finally:
            await engine.close()

    cpu0, wall0 = time.process_time(), time.perf_counter()
    asyncio.run(go())
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    feeder.close()
    viewer.stop()
    stats = engine.last_stats
    lat = np.array(_onset_latencies(feeder.onsets, frames, meter)) * 1e3
    out = {
        "size": f"{size[0]}x{size[1]}",
        "seconds": round(wall, 1),
        "target_fps": fps,
        "sustained_fps": round(stats.frames / wall, 2),
        "frames": stats.frames,
        "late_ticks": stats.late_ticks,
        "cpu_percent_of_one_core": round(100 * cpu / wall, 1),
        "onsets": len(feeder.onsets),
        "onsets_detected": int(lat.size),
        "mic_onset_to_open_mouth_ms_p50": round(float(np.percentile(lat, 50)), 1) if lat.size else None,
        "mic_onset_to_open_mouth_ms_p95": round(float(np.percentile(lat, 95)), 1) if lat.size else None,
        "mjpeg_frames_received": viewer.frames,
        "audio_to_frame_ms_p50": round(stats.latency_p50_ms or 0, 1),
        "audio_to_frame_ms_p95": round(stats.latency_p95_ms or 0, 1),
    }
    for s in stats.stages:
        out[f"{s.name}_ms_mean"] = round(s.mean_ms, 2)
        out[f"{s.name}_ms_p95"] = round(s.p95_ms, 2)
    out.update(_av_offset(renderer, features, generator, meter, fps, min(20.0, seconds), (stats.latency_p50_ms or 0) / 1e3))
    return out


def _av_offset(renderer, features, generator, meter, fps: float, seconds: float, delay: float) -> dict:
    """Audio we play: offset of the mouth frame from the moment its sound is played (+ = video late).
    The playback delay is the latency measured in the first phase, which `marionette run` retunes to."""
    from marionette.plugin.sources import PlaybackSource  # the playback source lives at the plugin edge

    clock = MonotonicClock()
    features.reset()
    generator.reset()
    play = PlaybackSource(clock, rate=RATE)
    play.playback_delay = delay
    engine = Engine(renderer=renderer, generator=generator, features=features, clock=clock, fps=fps, sources=[play])
    n = int(seconds * RATE)
    play.push(_signal(0, n), RATE)
    frames: list = []
    t_start = clock.now()
    asyncio.run(_run_phase(engine, seconds, frames, lambda t: t - t_start > 1.0 and (t - t_start - 1.0) % PERIOD < 0.45))
    onsets = [play._t_start + 1.0 + k * PERIOD for k in range(int((seconds - 1.0) / PERIOD))]
    played = [o + play.playback_delay for o in onsets]
    # Offsets can be negative (video early): search from 0.2 s before the sound.
    offs = []
    for p in played:
        cands = [t_out for t, t_out, img in frames if p - 0.2 <= t_out <= p + 0.5 and meter(img) > OPEN]
        if cands:
            offs.append(min(cands) - p)
    offs_ms = np.array(offs) * 1e3
    return {
        "tts_av_delay_ms": round(play.playback_delay * 1e3, 1),
        "tts_av_offset_ms_p50": round(float(np.percentile(offs_ms, 50)), 1) if offs_ms.size else None,
        "tts_av_offset_ms_p95_abs": round(float(np.percentile(np.abs(offs_ms), 95)), 1) if offs_ms.size else None,
        "tts_onsets": len(onsets),
        "tts_onsets_detected": int(offs_ms.size),
    }

