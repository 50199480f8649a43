"""The live app: the engine wired to real sources and sinks from a RunConfig, and the
EngineControl (core.control.api) that agents, the panel and OBS hooks talk to.

build_live() says what it could not open (no microphone, no virtual camera, no speaker) in
``notes`` and carries on with what works. Trade-off: text-to-speech runs on its own thread and
queues whole utterances, so say() returns at once but speech starts after synthesis (~0.1-1 s).
"""

from __future__ import annotations

import itertools
import logging
import os
import queue
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from marionette.core.clock import Clock, MonotonicClock
from marionette.core.engine import Engine, EngineStats, StatusEvent
from marionette.core.types import AudioChunk, Emotion, MotionFrame, VideoFrame

from .config import RunConfig
from .sources import MicrophoneSource, MicrophoneUnavailable, PlaybackSource

log = logging.getLogger(__name__)


@dataclass
class Note:
    """One line of the start-up report: what was opened or skipped, and how to fix a skip."""

    component: str
    ok: bool
    message: str

    def __str__(self) -> str:
        return f"  {'ok  ' if self.ok else 'skip'} {self.component:<13} {self.message}"


@dataclass
class Parts:
    """The heavy pieces, loaded once: portrait renderer, features, generator."""

    renderer: Any
    features: Any
    generator: Any
    portrait: str
    load_seconds: float = 0.0
    render_ms: float = 0.0


def load_parts(cfg: RunConfig) -> Parts:
    """Analyse the portrait and load the renderer, feature extractor and generator."""
    from marionette.core.audio import StreamingFeatureExtractor
    from marionette.core.face import default_portrait_path
    from marionette.core.generators import get_generator
    from marionette.core.render.portrait import load_renderer

    t0 = time.perf_counter()
    path = cfg.engine.portrait or str(default_portrait_path())
    renderer, _ = load_renderer(path, (cfg.engine.width, cfg.engine.height))
    # Live, the teacher follows the phones of speech we synthesize; audio without them (a
    # microphone, pushed PCM) moves the lips with the envelope instead of failing.
    options = {"fallback": "envelope"} if cfg.engine.generator == "teacher" else {}
    generator = get_generator(cfg.engine.generator, fps=cfg.engine.fps, seed=cfg.engine.seed, **options)
    features = StreamingFeatureExtractor.load()
    # Warm-up renders pay for caches; then a few distinct frames give the per-frame cost, on one
    # thread as the engine renders.
    from marionette.core.render.threads import single_thread

    with single_thread():
        renderer.render(MotionFrame())
        t1 = time.perf_counter()
        for k in range(3):
            renderer.render(MotionFrame().with_channels({"jawOpen": 0.2 + 0.2 * k, "yaw": k}))
        render_ms = (time.perf_counter() - t1) / 3 * 1e3
    return Parts(renderer, features, generator, path, time.perf_counter() - t0, render_ms)


def estimate_av_delay(generator, fps: float, render_ms: float) -> float:
    """Release-to-frame latency of audio we play, before the engine has measured it: generator
    lookahead + the feature window's half (12.5 ms) + a tick (the newest whole frame trails the
    newest audio by up to one) + the render. LiveApp then retunes to the measured latency."""
    return float(getattr(generator, "lookahead", 0.0)) + 0.0125 + 1.0 / fps + render_ms / 1e3


def split_sentences(text: str) -> list[str]:
    """Sentences (and long clauses) of ``text``, so speech can start after the first one."""
    parts = [p.strip() for p in re.split(r"(?<=[.!?;:])\s+", text.strip())]
    return [p for p in parts if p] or [text]


class LiveApp:
    """The running avatar. Implements core.control.api.EngineControl (say, push_audio, end_segment,
    interrupt, subscribe, status, mixer); every method returns at once."""

    def __init__(self, engine: Engine, *, clock: Clock, mixer, playback: PlaybackSource | None,
                 mic: MicrophoneSource | None = None, sinks: dict[str, Any] | None = None,
                 notes: list[Note] | None = None, tts_engine: str = "piper") -> None:
        self.engine, self.clock, self.mixer = engine, clock, mixer
        self.playback, self.mic = playback, mic
        self.sinks = sinks or {}
        self.notes = notes or []
        self.tts_engine = tts_engine
        self._ids = itertools.count(1)
        self._texts: dict[str, str] = {}
        self._tts_q: queue.Queue[tuple[str, str, str | None] | None] = queue.Queue()
        self._listeners: list[Callable[[Any], None]] = []
        self._push_segment: str | None = None
        self._speaking: str | None = None
        self._next_stats = 0.0
        self._next_delay_check = 0.0
        self._generation = 0  # bumped by interrupt(): the TTS worker drops what it was saying
        self.auto_av_delay = True  # build_live turns it off when audio.av_delay is set
        self._tts_thread = threading.Thread(target=self._tts_worker, name="tts", daemon=True)
        self._tts_thread.start()
        engine.subscribe(self._emit)
        engine.on_frame(self._on_frame)

    # --- EngineControl --------------------------------------------------------------------
    def say(self, text: str, *, emotion: Emotion | None = None, voice: str | None = None) -> str:
        if self.playback is None:
            raise RuntimeError("this engine has no playback source (audio.source = 'none')")
        speech_id = f"say-{next(self._ids)}"
        self._texts[speech_id] = text
        if emotion is not None:
            self.mixer.set_emotion(emotion.label, emotion.intensity)
        self._tts_q.put((speech_id, text, voice))
        return speech_id

    def push_audio(self, chunk: AudioChunk) -> None:
        if self.playback is None:
            raise RuntimeError("this engine has no playback source (audio.source = 'none')")
        label = ""
        if self._push_segment is None:
            self._push_segment = label = f"push-{next(self._ids)}"
        self.playback.push(chunk.samples, chunk.sample_rate, label=label)

    def end_segment(self) -> None:
        if self.playback is not None:
            self.playback.end_segment()
        self._push_segment = None

    def interrupt(self) -> None:
        self._generation += 1
        while True:  # drop queued text first, so nothing new starts
            try:
                self._tts_q.get_nowait()
            except queue.Empty:
                break
        self._push_segment = None
        self.engine.clear()
        if self._speaking is not None:
            from marionette.core.control import SpeechEvent

            self._emit(SpeechEvent("end", self._speaking, self._texts.get(self._speaking, ""), self.clock.now(), True))
            self._speaking = None

    def subscribe(self, callback: Callable[[Any], None]) -> Callable[[], None]:
        self._listeners.append(callback)
        return lambda: self._listeners.remove(callback) if callback in self._listeners else None

    def status(self) -> dict:
        st = self.engine.stats()
        return {
            "speaking": self._speaking,
            "queued_seconds": round(self.playback.pending_seconds(), 3) if self.playback else 0.0,
            "queued_texts": self._tts_q.qsize(),
            "fps": round(st.fps, 2),
            "target_fps": st.target_fps,
            "frames": st.frames,
            "late_ticks": st.late_ticks,
            "latency_p50_ms": st.latency_p50_ms,
            "latency_p95_ms": st.latency_p95_ms,
            "av_delay_ms": round(self.playback.playback_delay * 1e3, 1) if self.playback else None,
            "microphone": None if self.mic is None else (self.mic.opened_device if self.mic.alive else "lost"),
            "sinks": [{"name": s.name, "sent": s.sent, "dropped": s.dropped, "failing": s.failing} for s in st.sinks],
            "tts_engine": self.tts_engine,
        }

    # --- running ----------------------------------------------------------------------------
    async def run(self, duration: float | None = None) -> EngineStats:
        return await self.engine.run(duration)

    def stop(self) -> None:
        self.engine.stop()

    async def close(self) -> None:
        import asyncio

        self._generation += 1  # drop the sentences not yet synthesized
        while True:
            try:
                self._tts_q.get_nowait()
            except queue.Empty:
                break
        self._tts_q.put(None)
        # Wait for a synthesis in progress: native inference threads alive at interpreter exit abort it.
        await asyncio.to_thread(self._tts_thread.join, 30)
        await self.engine.close()

    # --- internals ------------------------------------------------------------------------
    def _emit(self, event: Any) -> None:
        for cb in list(self._listeners):
            try:
                cb(event)
            except Exception:  # a subscriber's bug must not stop the show
                log.exception("subscriber failed")

    def _retune_av_delay(self) -> None:
        """Hold our audio back by the pipeline latency the engine measures (audio released -> frame
        out), so a mouth event and its sound leave together; only retuned between utterances."""
        p50 = self.engine.stats().latency_p50_ms
        if p50 is None or self._speaking is not None or self.playback.pending_seconds() > 0:
            return
        if abs(p50 / 1e3 - self.playback.playback_delay) > 0.008:
            self.playback.set_playback_delay(p50 / 1e3)

    def _tts_worker(self) -> None:
        # Synthesis is bulk work that must not steal ticks from the frame loop: lower this thread's
        # priority (Linux threads are tasks; the ONNX thread pools it creates inherit it).
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        except (AttributeError, OSError):  # not Linux, or not permitted
            pass
        while True:
            item = self._tts_q.get()
            if item is None:
                return
            speech_id, text, voice = item
            generation = self._generation
            # Sentence by sentence: the first one plays while the next is synthesized.
            for sentence in split_sentences(text):
                if generation != self._generation:
                    break  # interrupted
                try:
                    self.playback.say(sentence, engine=None if self.tts_engine == "piper" else self.tts_engine,
                                      voice=voice, label=speech_id)
                except Exception as e:  # noqa: BLE001 - becomes a status event, the avatar keeps going
                    self.engine.report(StatusEvent("source:tts", f"cannot speak {sentence[:40]!r}: {e}", "error"))
                    break

    def _on_frame(self, video: VideoFrame, motion: MotionFrame) -> None:
        from marionette.core.control import MotionEvent, SpeechEvent

        if self.playback is not None:
            delay = self.playback.playback_delay
            # A speech event is due when its audio reaches the speaker, i.e. on the frame that shows it.
            while self.playback.speech_events and self.playback.speech_events[0][0] + delay <= video.t:
                t, kind, label = self.playback.speech_events.popleft()
                if kind == "start":
                    # Back-to-back segments drain the queue only once: the next start ends the previous.
                    if self._speaking is not None and label and label != self._speaking:
                        prev, self._speaking = self._speaking, None
                        self._emit(SpeechEvent("end", prev, self._texts.pop(prev, ""), video.t))
                    self._speaking = label or self._speaking
                    self._emit(SpeechEvent("start", label, self._texts.get(label, ""), video.t))
                elif self._speaking is not None:
                    self._emit(SpeechEvent("end", self._speaking, self._texts.pop(self._speaking, ""), video.t))
                    self._speaking = None
            if self.auto_av_delay and video.t >= self._next_delay_check:
                self._next_delay_check = video.t + 5.0
                self._retune_av_delay()
        if self._listeners:
            self._emit(MotionEvent(motion))
            if video.t >= self._next_stats:
                self._next_stats = video.t + 1.0
                self._emit(self.engine.stats())


def build_live(cfg: RunConfig, *, clock: Clock | None = None, parts: Parts | None = None,
               report: Callable[[Note], None] | None = None) -> LiveApp:
    """Open everything the config asks for; what cannot be opened becomes a Note, not an error
    (except a bad portrait, generator or port: without those there is nothing to show)."""
    from marionette.core.control import ControlMixer

    from .sinks import MjpegSink, RecordingSink, VirtualCameraSink, VirtualCameraUnavailable, WebSocketPreviewSink

    clock = clock or MonotonicClock()
    notes: list[Note] = []

    def note(component: str, ok: bool, message: str) -> None:
        notes.append(Note(component, ok, message))
        if report is not None:
            report(notes[-1])

    parts = parts or load_parts(cfg)
    e, a, s = cfg.engine, cfg.audio, cfg.sinks
    note("portrait", True, f"{parts.portrait} ({e.width}x{e.height}, render {parts.render_ms:.1f} ms/frame)")
    note("generator", True, f"{e.generator} at {e.fps:g} fps")
    mixer = ControlMixer(clock=clock)
    if hasattr(parts.generator, "set_held"):
        # Inpainting: the generator keeps the channels a control holds (ARCHITECTURE.md, Generator).
        mixer.on_held_change(parts.generator.set_held)
    engine = Engine(renderer=parts.renderer, generator=parts.generator, features=parts.features, clock=clock,
                    fps=e.fps, mixer=mixer)

    if cfg.camera.enabled:  # the camera path (docs/camera.md): your face drives the portrait
        from .camera_live import attach_camera

        attach_camera(cfg, engine, mixer, parts.renderer, clock, note)
    mic = None
    if a.source in ("auto", "mic"):
        try:
            mic = MicrophoneSource(clock, device=a.device).start()
            engine.add_source(mic)
            note("microphone", True, f"{mic.opened_device!r} (input latency {mic.input_latency * 1e3:.0f} ms, not delayed)")
        except MicrophoneUnavailable as err:
            if a.source == "mic":
                raise
            note("microphone", False, f"{err}; continuing without (text-to-speech and pushed audio still work)")
    playback = None
    if a.source == "file":
        from .sources import FileSource

        playback = FileSource(a.file, clock, loop=a.loop, play=a.play, output_device=a.output_device)
        note("audio file", True, f"{a.file}{' (looped)' if a.loop else ''}")
    elif a.source != "none":
        playback = PlaybackSource(clock, play=a.play, output_device=a.output_device, name="speech")
    if playback is not None:
        playback.playback_delay = a.av_delay if a.av_delay is not None else estimate_av_delay(parts.generator, e.fps, parts.render_ms)
        engine.add_source(playback)  # opens the speaker, if any, and reports when there is none
        player = getattr(playback, "_player", None)
        if a.play and player is not None:
            if player._stream is not None:
                note("speaker", True, f"playing our speech delayed {playback.playback_delay * 1e3:.0f} ms for lip sync")
            else:
                note("speaker", False, "no audio output device; speech is silent here but lips still move "
                     "(and is in the recording)")

    if playback is not None and a.source != "file" and (a.say or a.source == "tts"):
        # Load the voice now: loading it while frames run would stall them for seconds (it holds
        # the interpreter lock), and the first words would come late. (With a microphone and no
        # greeting the voice loads on the first say().)
        t0 = time.perf_counter()
        from marionette.core.speech import synthesize

        for name in ([a.tts_engine, "espeak"] if a.tts_engine == "piper" else [a.tts_engine]):
            try:
                synthesize("Hi.", engine=name)
                note("voice", True, f"{name} ready in {time.perf_counter() - t0:.1f} s")
                break
            except Exception as err:  # noqa: BLE001 - say() falls back and reports; this is a warm-up
                note("voice", False, f"{name}: {err}")

    sinks: dict[str, Any] = {}
    if s.virtualcam:
        try:
            cam = VirtualCameraSink.open(e.width, e.height, e.fps, backend=s.virtualcam_backend, device=s.virtualcam_device)
            engine.add_sink(cam)
            sinks["virtualcam"] = cam
            note("virtual cam", True, f"{cam.device} ({cam.backend})")
        except VirtualCameraUnavailable as err:
            note("virtual cam", False, str(err))
    if s.mjpeg:
        from .control.auth import stream_tokens

        # The stream's URL carries a watch-only token (stable across runs, so OBS keeps it); the
        # control token opens it too, for the control panel (plugin/sinks/mjpeg.py).
        view, control_token = stream_tokens(cfg.control.token_file)
        mj = MjpegSink(host=s.mjpeg_host, port=s.mjpeg_port, token=view, accept=(control_token,))
        engine.add_sink(mj)
        sinks["mjpeg"] = mj
        note("mjpeg", True, mj.url)
    if s.preview:
        pv = WebSocketPreviewSink(host=s.preview_host, port=s.preview_port)
        engine.add_sink(pv)
        sinks["preview"] = pv
        note("preview", True, pv.url)
    if s.record:
        rec = RecordingSink(s.record, fps=e.fps)
        engine.add_sink(rec)
        sinks["record"] = rec
        note("recording", True, str(rec.path))
    app = LiveApp(engine, clock=clock, mixer=mixer, playback=playback, mic=mic, sinks=sinks, notes=notes,
                  tts_engine=a.tts_engine)
    app.auto_av_delay = a.av_delay is None
    return app
