"""`marionette bench pipeline`: the live path end to end on the real clock, with the defaults of
`marionette run` (generator `auto`: microphone audio through the diffusion model, speech we play
through the teacher; ControlMixer on; MJPEG with a real viewer; mp4 recording).

Phase 1, the microphone: a feeder thread writes 10 ms blocks stamped with their capture time
(never delayed) of a spoken "ah" every 1.5 s (a buzz for `--generator envelope`). We time each
onset to the first frame whose pixels show the mouth open as it leaves the engine: what a call
app that takes the raw microphone sees (the picture chases the voice). Phase 2 plays the same
signal as audio we play ourselves (PlaybackSource), the speaker's path.

A/V offset per output, measured where the output presents sound and picture (+ = picture late):
where the output puts the signal's sound is found by cross-correlating what it presents with the
signal; the lips it shows are then cross-correlated with the same generator's lips offline for
the same audio placed there (so the generator's own anticipation counts as in sync). recording:
decoded back from the mp4 (its audio track against its pictures); speaker and sound stamps (the
virtual microphone writes at these; tests/test_virtual_mic.py measures it through PulseAudio):
the stamps the engine hands those sinks against the frames' departure and their rendered lips.
Phase 3 (--audio-file): a file through the live path, its motion written as --motion-out does.
Trade-off: the feeder is in-process, so device and driver latency (a few ms to tens of ms) is
not included; the PulseAudio tests measure it.
"""

from __future__ import annotations

import asyncio
import os
import queue
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from marionette.core.clock import MonotonicClock
from marionette.core.engine.loop import Engine
from marionette.core.types import AudioChunk, MotionFrame

RATE = 16000
PERIOD, START = 1.5, 1.0  # an onset every 1.5 s from 1 s on
OPEN = 0.25  # fraction of a full jaw opening (on pixels) that counts as "the mouth opened"
WINDOW = 0.5  # s after an onset in which the open mouth is looked for


def _buzz(n: int) -> np.ndarray:
    t = np.arange(n) / RATE
    return (0.3 * np.sign(np.sin(2 * np.pi * 170 * t)) + 0.2 * np.sin(2 * np.pi * 340 * t)).astype(np.float32)


def _utterance(generator: str) -> np.ndarray:
    """One onset's sound at 16 kHz: a spoken "ah" (piper, else espeak-ng) for the learned model,
    0.6 s of buzz for the loudness envelope. Starts at its first sample (leading silence cut)."""
    if generator == "envelope":
        return _buzz(int(0.6 * RATE))
    from marionette.core.engine import LinearResampler
    from marionette.core.speech import synthesize

    for engine in ("piper", "espeak"):
        try:
            audio, _ = synthesize("Ah.", engine=engine)
            break
        except Exception:  # noqa: BLE001 - try the next voice
            continue
    else:
        return _buzz(int(0.6 * RATE))
    x = LinearResampler(audio.sample_rate, RATE).process(audio.samples)
    on = int(np.flatnonzero(np.abs(x) > 0.02)[0])
    return (x[on:on + int(0.9 * PERIOD * RATE)] / max(1e-3, float(np.abs(x).max())) * 0.5).astype(np.float32)


def _signal(unit: np.ndarray, seconds: float) -> tuple[np.ndarray, list[float]]:
    """``unit`` every PERIOD s from START s; returns the samples and the onset times (s)."""
    x = np.zeros(int(seconds * RATE), np.float32)
    onsets = []
    t = START
    while t + PERIOD <= seconds:
        i = int(round(t * RATE))
        x[i:i + unit.size] = unit[:x.size - i]
        onsets.append(i / RATE)
        t += PERIOD
    return x, onsets


class FeederSource:
    """A microphone stand-in (core.stages.AudioSource): a thread writes 10 ms blocks of ``signal``
    at real-time pace, stamped with the clock time of their first sample. t0: clock time of sample 0."""

    name = "feeder"

    def __init__(self, clock, signal: np.ndarray) -> None:
        self.clock, self.signal = clock, signal
        self.q: queue.Queue[AudioChunk] = queue.Queue(maxsize=1000)
        self.t0: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "FeederSource":
        self._thread.start()
        return self

    def _run(self) -> None:
        block = RATE // 100
        self.t0 = t0 = self.clock.now()
        i = 0
        while not self._stop.is_set():
            delay = t0 + (i + block) / RATE - self.clock.now()
            if delay > 0:
                time.sleep(delay)
            x = self.signal[i:i + block]
            if x.size < block:
                x = np.concatenate([x, np.zeros(block - x.size, np.float32)])
            try:
                self.q.put_nowait(AudioChunk(x, RATE, t0 + i / RATE))
            except queue.Full:  # the engine stopped reading: keep time, drop
                pass
            i += block

    def read(self) -> AudioChunk | None:
        try:
            return self.q.get_nowait()
        except queue.Empty:
            return None

    def close(self) -> None:
        self._stop.set()


class SoundProbe:
    """A sink with the sound abilities of core/stages.py: keeps the stamps the engine hands the
    sound outputs (whole sound: recording, virtual microphone; played sound: the speaker)."""

    name = "sound-probe"

    def __init__(self) -> None:
        self.heard: list[AudioChunk] = []
        self.played: list[AudioChunk] = []

    def send_audio(self, chunk: AudioChunk) -> None:
        self.heard.append(chunk)

    def send_played(self, chunk: AudioChunk) -> None:
        self.played.append(chunk)

    def close(self) -> None:
        pass

    @staticmethod
    def onsets(chunks: list[AudioChunk], level: float = 0.02, gap: float = 0.5) -> list[float]:
        """Clock times at which these stamped chunks present a sound after >= ``gap`` s of quiet."""
        loud = [c.t + np.flatnonzero(np.abs(c.samples) > level) / c.sample_rate for c in chunks]
        return _onsets(np.concatenate(loud) if loud else np.zeros(0), gap)


def _onsets(loud_times: np.ndarray, gap: float = 0.5) -> list[float]:
    """Times of loud samples -> the first of each run that follows >= ``gap`` s of quiet."""
    t = np.sort(loud_times)
    if not t.size:
        return []
    first = np.concatenate([[True], np.diff(t) >= gap])
    return t[first].tolist()


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



class _Viewer:
    """An HTTP client reading the MJPEG stream as fast as frames come (a browser or OBS).
    keep(t): keep the JPEG arriving at monotonic time t (decoded afterwards, for the latency)."""

    def __init__(self, url: str, keep=lambda t: False) -> None:
        self.url, self.frames = url, 0
        self.keep, self.jpegs = keep, []
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
                    data = resp.fp.read(int(line.split(b":")[1]))
                    self.frames += 1
                    t = time.monotonic()
                    if self.keep(t) and len(self.jpegs) < 2000:
                        self.jpegs.append((t, data))
        except OSError:
            return
        finally:
            conn.close()

    def stop(self) -> None:
        self._stop.set()




def _first_open(frames: list[tuple[float, np.ndarray]], t: float, meter: MouthMeter, before: float = 0.2) -> float | None:
    """Time of the first frame (by its own time) within [t - before, t + WINDOW] whose mouth is open."""
    for ft, img in frames:
        if ft < t - before:
            continue
        if ft > t + WINDOW:
            return None
        if meter(img) > OPEN:
            return ft
    return None


def _envelope(x: np.ndarray, rate: int, hz: int = 1000) -> np.ndarray:
    k = max(1, rate // hz)
    n = x.size // k
    return np.abs(x[:n * k]).reshape(n, k).mean(axis=1)


def _placement(times: np.ndarray, samples: np.ndarray, rate: int, signal: np.ndarray) -> float:
    """Where an output presents the signal: c such that signal sample i is presented at i/RATE + c.
    ``times``: presentation time of samples[0] per contiguous run (here one), by envelope xcorr."""
    a = _envelope(samples, rate)
    b = _envelope(signal, RATE)
    n = 1 << int(np.ceil(np.log2(a.size + b.size)))
    xc = np.fft.irfft(np.fft.rfft(a - a.mean(), n) * np.conj(np.fft.rfft(b - b.mean(), n)), n)
    k = int(np.argmax(xc))
    if k > n // 2:
        k -= n
    return float(times) + k / 1000.0


def _stamped(chunks: list[AudioChunk]) -> tuple[float, np.ndarray, int]:
    """Stamped chunks -> (time of the first sample, samples laid out on their stamps, rate)."""
    rate = chunks[0].sample_rate
    t0 = chunks[0].t
    end = max(c.t + c.duration for c in chunks)
    out = np.zeros(int((end - t0) * rate) + 1, np.float32)
    for c in chunks:
        i = int(round((c.t - t0) * rate))
        out[i:i + c.samples.size] = c.samples[:out.size - i]
    return t0, out, rate


def _lip_lag(t_shown: np.ndarray, lips_shown: np.ndarray, t_ref: np.ndarray, lips_ref: np.ndarray) -> tuple[float, float]:
    """Lag (s, + = shown late) maximising the correlation of the lips shown with the reference."""
    sel = (t_shown > t_ref[0] + 0.35) & (t_shown < t_ref[-1] - 0.35)
    lags = np.arange(-0.3, 0.3001, 0.005)
    corr = [np.corrcoef(lips_shown[sel], np.interp(t_shown[sel] - lag, t_ref, lips_ref))[0, 1] for lag in lags]
    k = int(np.nanargmax(corr))
    return float(lags[k]), float(corr[k])


def _offline_lips(generator: str, signal: np.ndarray, fps: float) -> np.ndarray:
    """The generator's lip gap (jawOpen - mouthClose) offline for ``signal``, one value per frame."""
    from marionette.core.generators import generate_track
    from marionette.core.teacher import lip_gap
    from marionette.plugin.live import live_generator

    return lip_gap(generate_track(live_generator(generator, fps=fps), AudioChunk(signal, RATE, 0.0)).values)


def _av(prefix: str, place: float, t_shown, lips_shown, offline: np.ndarray, fps: float) -> dict:
    lag, corr = _lip_lag(np.asarray(t_shown), np.asarray(lips_shown), np.arange(offline.size) / fps + place, offline)
    return {f"{prefix}_ms": round(lag * 1e3, 1), f"{prefix}_corr": round(corr, 2)}


def _reference(generator: str, unit: np.ndarray, renderer, meter: MouthMeter, fps: float) -> float:
    """The generator's own offset offline: first open frame minus the onset (s), same signal."""
    from marionette.core.generators import generate_track
    from marionette.plugin.live import live_generator

    x, onsets = _signal(unit, START + 2 * PERIOD + 0.1)
    track = generate_track(live_generator(generator, fps=fps), AudioChunk(x, RATE, 0.0))
    refs = []
    for on in onsets:
        frames = [(i / fps, renderer.render(MotionFrame.from_vector(v)))
                  for i, v in enumerate(track.values) if on - 0.25 <= i / fps <= on + WINDOW]
        t = _first_open(frames, on, meter)
        if t is not None:
            refs.append(t - on)
    return float(np.median(refs)) if refs else 0.0


def _recording_av(prefix: str, path: Path, meter: MouthMeter, offline: np.ndarray, signal: np.ndarray,
                  fps: float) -> dict:
    """A/V offset of an mp4 on its own timeline: its audio track placed against the signal, its
    pictures' mouths against the offline lips placed there."""
    import av

    times, mouths, parts = [], [], []
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            times.append(float(f.pts * f.time_base))
            mouths.append(meter(f.to_ndarray(format="rgb24")))
    with av.open(str(path)) as c:
        for f in c.decode(audio=0):
            parts.append((float(f.pts * f.time_base), f.to_ndarray().reshape(-1).astype(np.float32), f.sample_rate))
    rate = parts[0][2]
    t0 = parts[0][0]
    x = np.zeros(int(round((parts[-1][0] - t0) * rate)) + parts[-1][1].size, np.float32)
    for t, y, _ in parts:
        i = int(round((t - t0) * rate))
        x[i:i + y.size] = y[:x.size - i]
    if rate != RATE:
        from marionette.core.engine import LinearResampler

        x, rate = LinearResampler(rate, RATE).process(x), RATE
    return _av(prefix, _placement(t0, x, rate, signal), times, mouths, offline, fps)


def _live_engine(generator: str, renderer, features, fps: float, clock, sources, sinks) -> Engine:
    from marionette.core.control import ControlMixer
    from marionette.core.stages import Conditioned
    from marionette.plugin.live import live_generator

    gen = live_generator(generator, fps=fps)
    mixer = ControlMixer(clock=clock, emotion_recipes=not isinstance(gen, Conditioned))
    features.reset()
    return Engine(renderer=renderer, generator=gen, features=features, clock=clock, fps=fps, mixer=mixer,
                  sources=sources, sinks=sinks)


def _webrtc_sink():
    try:
        from marionette.plugin.sinks.webrtc import WebRtcSink, WebRtcUnavailable
    except ImportError:
        return None
    try:
        return WebRtcSink(port=0)
    except WebRtcUnavailable:
        return None


def _decode_jpeg(data: bytes) -> np.ndarray:
    import cv2

    return cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _viewer_latency(name: str, onsets: list[float], pictures: list[tuple[float, np.ndarray]], meter) -> dict:
    """Onset (capture time) -> the first picture a viewer received with the mouth open, p50/p95."""
    lat = [t - on for on in onsets if (t := _first_open(pictures, on, meter, before=0.0)) is not None]
    ms = np.array(lat) * 1e3
    return {f"{name}_onset_to_open_mouth_ms_p50": round(float(np.percentile(ms, 50)), 1) if ms.size else None,
            f"{name}_onset_to_open_mouth_ms_p95": round(float(np.percentile(ms, 95)), 1) if ms.size else None,
            f"{name}_onsets_detected": int(ms.size)}


def _keep_frames(engine: Engine, near) -> list:
    """(departure time, picture) of the frames near an onset (measuring every frame would add to the CPU)."""
    frames: list = []

    def keep(video, motion):
        if near(video.t):
            frames.append((engine.clock.now(), video.image))

    engine.on_frame(keep)
    return frames


def _keep_lips(engine: Engine) -> list:
    """(departure time, lip gap as rendered) of every frame."""
    from marionette.core.teacher import lip_gap

    shown: list = []
    engine.on_frame(lambda video, motion: shown.append((engine.clock.now(), float(lip_gap(motion.to_vector()[None])[0]))))
    return shown


def bench_pipeline(seconds: float = 60.0, size: tuple[int, int] = (512, 512), fps: float = 30.0,
                   generator: str = "auto", audio_file: str | None = None, motion_out: str | None = None) -> dict:
    from marionette.core.render.threads import single_thread

    with single_thread():  # one BLAS/OpenCV thread, as `marionette run` uses
        return _bench(float(seconds), size, fps, generator, audio_file, motion_out)


def _bench(seconds: float, size, fps: float, generator: str, audio_file: str | None, motion_out: str | None) -> dict:
    from marionette.core.audio import StreamingFeatureExtractor
    from marionette.core.render.portrait import load_renderer
    from marionette.plugin.sinks import MjpegSink, RecordingSink

    renderer, _ = load_renderer(None, size)
    features = StreamingFeatureExtractor.load()
    meter = MouthMeter(renderer)
    unit = _utterance(generator)
    ref = _reference(generator, unit, renderer, meter, fps)
    tmp = Path(tempfile.mkdtemp(prefix="marionette-bench-"))
    out: dict = {"size": f"{size[0]}x{size[1]}", "generator": generator, "target_fps": fps,
                 "generator_own_offset_ms": round(ref * 1e3, 1), "load_average_1min": round(os.getloadavg()[0], 2)}

    # --- phase 1: the microphone ----------------------------------------------------------------
    clock = MonotonicClock()
    signal, onset_s = _signal(unit, seconds)
    feeder = FeederSource(clock, signal)
    mjpeg = MjpegSink(port=0)  # a real sink with a real viewer, so JPEG encoding is in the CPU figure
    rec = RecordingSink(tmp / "mic.mp4", fps=fps)
    probe = SoundProbe()
    rtc = _webrtc_sink()  # None without the webrtc extra
    engine = _live_engine(generator, renderer, features, fps, clock, [feeder], [mjpeg, rec, probe] + ([rtc] if rtc else []))
    t_start = clock.now()
    near_onset = lambda t: t - t_start > START - 0.3 and (t - t_start - START + 0.3) % PERIOD < 1.0  # noqa: E731
    viewer = _Viewer(mjpeg.url, near_onset)
    frames = _keep_frames(engine, lambda t: t - t_start > START - 0.3 and (t - t_start - START + 0.3) % PERIOD < 1.0)
    shown = _keep_lips(engine)

    async def go(eng: Engine, secs: float):
        try:
            eng.last_stats = await eng.run(secs)
        finally:
            await eng.close()

    feeder.start()
    viewer.start()
    rtc_viewer = None
    if rtc is not None:
        from .webrtc_viewer import RtcViewer

        rtc_viewer = RtcViewer(rtc.url, near_onset).start()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    asyncio.run(go(engine, seconds))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    feeder.close()
    viewer.stop()
    if rtc_viewer is not None:
        rtc_viewer.stop()
    stats = engine.last_stats
    onsets = [feeder.t0 + s for s in onset_s]
    lat = []
    for on in onsets:
        t = _first_open(frames, on, meter, before=0.0)
        if t is not None:
            lat.append(t - on)
    lat_ms = np.array(lat) * 1e3
    out.update({
        "seconds": round(wall, 1),
        "sustained_fps": round(stats.frames / wall, 2),
        "frames": stats.frames,
        "late_ticks": stats.late_ticks,
        "cpu_percent_of_one_core": round(100 * cpu / wall, 1),
        "onsets": len(onsets),
        "onsets_detected": int(lat_ms.size),
        "mic_onset_to_open_mouth_ms_p50": round(float(np.percentile(lat_ms, 50)), 1) if lat_ms.size else None,
        "mic_onset_to_open_mouth_ms_p95": round(float(np.percentile(lat_ms, 95)), 1) if lat_ms.size else None,
        "mjpeg_frames_received": viewer.frames,
        # The same onsets as the viewers see them: picture encoded, sent, received and decoded.
        **_viewer_latency("mjpeg_viewer", onsets, [(t, _decode_jpeg(b)) for t, b in viewer.jpegs], meter),
        **(_viewer_latency("webrtc_viewer", onsets, rtc_viewer.pictures, meter) | {"webrtc_frames_received": rtc_viewer.frames}
           if rtc_viewer is not None else {"webrtc_viewer": "not measured: pip install 'marionette[webrtc]'"}),
        "audio_to_frame_ms_p50": round(stats.latency_p50_ms or 0, 1),
        "audio_to_frame_ms_p95": round(stats.latency_p95_ms or 0, 1),
        "av_delay_ms": round(stats.av_delay_ms, 1),
    })
    for s in stats.stages:
        out[f"{s.name}_ms_mean"] = round(s.mean_ms, 2)
        out[f"{s.name}_ms_p95"] = round(s.p95_ms, 2)
    offline = _offline_lips(generator, signal, fps)
    t0s, xs, r = _stamped(probe.heard)
    out.update(_av("mic_av_offset_sound_stamps", _placement(t0s, xs, r, signal), *zip(*shown), offline, fps))
    out.update(_recording_av("mic_av_offset_recording", rec.path, meter, offline, signal, fps))

    # --- phase 2: audio we play (the speaker) ----------------------------------------------------
    from marionette.plugin.sources import PlaybackSource

    secs2 = min(20.0, seconds)
    clock = MonotonicClock()
    play = PlaybackSource(clock, rate=RATE)
    x2, _ = _signal(unit, secs2)
    play.push(x2, RATE)
    probe2 = SoundProbe()
    rec2 = RecordingSink(tmp / "played.mp4", fps=fps)
    engine = _live_engine(generator, renderer, features, fps, clock, [play], [rec2, probe2])
    engine.av_delay = stats.av_delay_ms / 1e3  # where phase 1's measurement left it, as in a long run
    shown2 = _keep_lips(engine)
    asyncio.run(go(engine, secs2))
    offline2 = _offline_lips(generator, x2, fps)
    t0s, xs, r = _stamped(probe2.played)
    out.update(_av("speaker_av_offset", _placement(t0s, xs, r, x2), *zip(*shown2), offline2, fps))
    out.update(_recording_av("played_av_offset_recording", rec2.path, meter, offline2, x2, fps))

    # --- phase 3: a file through the live path, written as --motion-out writes it -------------------
    if audio_file:
        out.update(_file_phase(audio_file, motion_out or str(tmp / "track.json"), generator, renderer, features, fps))
    for p in tmp.glob("*.mp4"):
        p.unlink()
    return out


def _file_phase(path: str, motion_out: str, generator: str, renderer, features, fps: float) -> dict:
    """Plays ``path`` through the live engine with a MotionTrackSink; compares the track with the
    same generator offline on the same file (lag by cross-correlation of the lip opening)."""
    from marionette.core.audio import load_audio
    from marionette.core.generators import generate_track
    from marionette.core.teacher import lip_gap
    from marionette.core.track import load_track
    from marionette.plugin.live import live_generator
    from marionette.plugin.sinks import MotionTrackSink
    from marionette.plugin.sources import FileSource

    audio = load_audio(path)
    clock = MonotonicClock()
    sink = MotionTrackSink(motion_out, fps=fps)
    engine = _live_engine(generator, renderer, features, fps, clock, [FileSource(path, clock)], [sink])

    async def go():
        try:
            await engine.run(audio.duration + 1.0)
        finally:
            await engine.close()

    asyncio.run(go())
    live, _ = load_track(motion_out)
    offline = generate_track(live_generator(generator, fps=fps), audio)
    a, b = lip_gap(live.values), lip_gap(offline.values)
    n = min(a.size, b.size)
    lags = np.arange(-9, 10)
    corr = [np.corrcoef(a[max(0, k):n + min(0, k)], b[max(0, -k):n - max(0, k)])[0, 1] for k in lags]
    k = int(np.nanargmax(corr))
    return {"file": str(path), "file_seconds": round(audio.duration, 2), "motion_out": motion_out,
            "motion_out_frames": len(live), "motion_out_wav": str(Path(motion_out).with_suffix(".wav")),
            "motion_out_lag_vs_offline_ms": round(float(lags[k]) / fps * 1e3, 1),
            "motion_out_corr_vs_offline": round(float(corr[k]), 3)}
