"""The live app: the engine wired to real sources and sinks from a RunConfig, and the
EngineControl (core.control.api) that agents, the panel and OBS hooks talk to.

build_live() says what it could not open (no microphone, no virtual camera, no speaker, no
virtual microphone) in ``notes`` and carries on with what works. The app only wires and speaks:
the engine owns the A/V delay and hands speech marks forward to a sink here (no callbacks into
sources or the generator; docs/engine.md). Text-to-speech runs on its own thread
(core/speech/stream.py) in short chunks about one ahead of playback, so say() returns at once,
speech starts after the first few words are synthesized, and any length stays in bounded memory.
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable

from marionette.core.clock import Clock, MonotonicClock
from marionette.core.errors import InputError
from marionette.core.engine import Engine, EngineStats, StatusEvent
from marionette.core.types import AudioChunk, Emotion, MotionFrame, SpeechMark, VideoFrame

from marionette.core.memory import release_free_memory, rss_mb
from marionette.core.speech.stream import FallbackSynthesizer, SpeechLimits, TextSpeaker

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
    renderer, _ = load_renderer(path, (cfg.engine.width, cfg.engine.height), shot=cfg.engine.framing,
                                background=cfg.engine.background)
    generator = live_generator(cfg.engine.generator, fps=cfg.engine.fps, seed=cfg.engine.seed)
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


def live_generator(name: str, *, fps: float, seed: int = 0):
    """The generator `run` uses for ``name``. Live, speech we synthesize follows its phones
    (teacher) and audio without them goes through an audio model, one latency for both
    (core/generators/per_source.py): `auto` takes diffusion for that (envelope when no model is
    here), `teacher` the envelope. `envelope` and `diffusion` drive everything alone."""
    from marionette.core.generators import get_generator

    if name == "teacher":
        return get_generator("auto", fps=fps, seed=seed, audio="envelope")
    return get_generator(name, fps=fps, seed=seed)


class _SpeechMarks:
    """core.stages.SpeechSink: the engine hands our utterances' start/end marks here, on the frame
    that shows them; LiveApp turns them into SpeechEvents for agents and the panel."""

    name = "speech-events"

    def __init__(self, on_mark: Callable[[SpeechMark], None]) -> None:
        self._on_mark = on_mark

    def send_speech(self, mark: SpeechMark) -> None:
        self._on_mark(mark)

    def close(self) -> None:
        """Nothing held."""


class LiveApp:
    """The running avatar. Implements core.control.api.EngineControl (say, push_audio, end_segment,
    interrupt, subscribe, status, mixer); every method returns at once."""

    def __init__(self, engine: Engine, *, clock: Clock, mixer, playback: PlaybackSource | None,
                 mic: MicrophoneSource | None = None, sinks: dict[str, Any] | None = None,
                 notes: list[Note] | None = None, tts_engine: str = "piper",
                 speech_limits: SpeechLimits | None = None) -> None:
        self.engine, self.clock, self.mixer = engine, clock, mixer
        self.playback, self.mic = playback, mic
        self.sinks = sinks or {}
        self.notes = notes or []
        self.tts_engine = tts_engine
        self._ids = itertools.count(1)
        self._texts: dict[str, str] = {}
        self._listeners: list[Callable[[Any], None]] = []
        self._push_segment: str | None = None
        self._speaking: str | None = None
        self._next_stats = 0.0
        self.speaker: TextSpeaker | None = None
        if playback is not None:
            engines = ["piper", "espeak"] if tts_engine == "piper" else [tts_engine]
            report = lambda msg, level: engine.report(StatusEvent("source:tts", msg, level))  # noqa: E731
            self.speaker = TextSpeaker(playback, FallbackSynthesizer(engines, report),
                                       limits=speech_limits or SpeechLimits(), report=report)
        engine.subscribe(self._emit)
        engine.on_frame(self._on_frame)
        if playback is not None:
            engine.add_sink(_SpeechMarks(self._on_mark))

    # --- EngineControl --------------------------------------------------------------------
    def say(self, text: str, *, emotion: Emotion | None = None, voice: str | None = None,
            owner: str | None = None) -> str:
        if self.speaker is None:
            raise RuntimeError("this engine has no playback source (audio.source = 'none')")
        speech_id = f"say-{next(self._ids)}"
        self.speaker.say(speech_id, text, voice=voice, owner=owner)  # SpeechQueueFull: nothing queued
        self._texts[speech_id] = text
        if emotion is not None:
            self.mixer.set_emotion(emotion.label, emotion.intensity)
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
        if self.speaker is not None:
            self.speaker.interrupt()  # drop queued text first, so nothing new starts
        self._push_segment = None
        self.engine.clear()
        if self._speaking is not None:
            from marionette.core.control import SpeechEvent

            self._emit(SpeechEvent("end", self._speaking, self._texts.get(self._speaking, ""), self.clock.now(), True))
            self._speaking = None
        self._texts.clear()  # every queued utterance was dropped with it

    def set_background(self, spec: str) -> str:
        """BackgroundControl: the spec is checked here (a bad one raises InputError at once); the
        plate (an inpainting, a few hundred ms) is built on a worker thread, never the caller's
        (the control server's event loop); the renderer swaps it in whole between two frames."""
        import threading

        from marionette.core.render.background import BackgroundSpec

        parsed = BackgroundSpec.parse(spec)
        from marionette.core.render import PortraitRenderer
        from marionette.core.render.upscale import UpscaledRenderer

        renderer = self.engine.renderer
        if not isinstance(renderer, (PortraitRenderer, UpscaledRenderer)):
            raise InputError(f"the {type(renderer).__name__} renderer has no background modes")

        def build() -> None:
            try:
                renderer.set_background(parsed)
            except Exception as e:  # reported, never raised into a thread nobody joins
                self.engine.report(StatusEvent("stage:renderer", f"background {parsed}: {e}", "error"))

        threading.Thread(target=build, name="background", daemon=True).start()
        return str(parsed)

    def subscribe(self, callback: Callable[[Any], None]) -> Callable[[], None]:
        self._listeners.append(callback)
        return lambda: self._listeners.remove(callback) if callback in self._listeners else None

    def status(self) -> dict:
        st = self.engine.stats()
        return {
            "speaking": self._speaking,
            "queued_seconds": round(self.playback.pending_seconds(), 3) if self.playback else 0.0,
            "queued_texts": self.speaker.queued()["utterances"] if self.speaker else 0,
            "queued_chars": self.speaker.queued()["chars"] if self.speaker else 0,
            "rss_mb": rss_mb(),
            "fps": round(st.fps, 2),
            "target_fps": st.target_fps,
            "frames": st.frames,
            "late_ticks": st.late_ticks,
            "latency_p50_ms": st.latency_p50_ms,
            "latency_p95_ms": st.latency_p95_ms,
            "av_delay_ms": round(st.av_delay_ms, 1),
            "microphone": None if self.mic is None else (self.mic.opened_device if self.mic.alive else "lost"),
            "sinks": [{"name": s.name, "sent": s.sent, "dropped": s.dropped, "failing": s.failing} for s in st.sinks],
            "tts_engine": self.tts_engine,
            "camera": self._camera_status(),
        }

    def _camera_status(self) -> dict | None:
        from marionette.core.tracking.drive import CameraDrive

        drive = self.engine.mixer
        return drive.status() if isinstance(drive, CameraDrive) else None

    def set_drive(self, mode: str) -> str:
        """DriveControl (core/control/api.py): who drives the face when a camera is attached."""
        from marionette.core.errors import InputError
        from marionette.core.tracking.drive import CameraDrive

        drive = self.engine.mixer
        if not isinstance(drive, CameraDrive):
            raise InputError("no camera is attached: start with `marionette run --source camera` to drive the face")
        drive.set_mode(mode)
        return drive.mode

    # --- running ----------------------------------------------------------------------------
    async def run(self, duration: float | None = None) -> EngineStats:
        return await self.engine.run(duration)

    def stop(self) -> None:
        self.engine.stop()

    async def close(self) -> None:
        import asyncio

        if self.speaker is not None:
            # Drops what is queued and waits for the chunk in synthesis (a few seconds at most):
            # native inference threads alive at interpreter exit abort it.
            await asyncio.to_thread(self.speaker.close, 30)
        await self.engine.close()

    # --- internals ------------------------------------------------------------------------
    def _emit(self, event: Any) -> None:
        for cb in list(self._listeners):
            try:
                cb(event)
            except Exception:  # a subscriber's bug must not stop the show
                log.exception("subscriber failed")

    def _on_mark(self, mark: SpeechMark) -> None:
        """A mark the engine handed forward, stamped with the time it is heard (and shown)."""
        from marionette.core.control import SpeechEvent

        if mark.kind == "start":
            if mark.label and mark.label == self._speaking:
                return  # the next chunk of the utterance already speaking
            # Back-to-back segments drain the queue only once: the next start ends the previous.
            if self._speaking is not None and mark.label and mark.label != self._speaking:
                prev, self._speaking = self._speaking, None
                self._emit(SpeechEvent("end", prev, self._texts.pop(prev, ""), mark.t))
            self._speaking = mark.label or self._speaking
            self._emit(SpeechEvent("start", mark.label, self._texts.get(mark.label, ""), mark.t))
        elif self._speaking is not None:
            if self.speaker is not None and self.speaker.speaking(self._speaking):
                return  # synthesis fell behind between two chunks: a pause, not the end
            self._emit(SpeechEvent("end", self._speaking, self._texts.pop(self._speaking, ""), mark.t))
            self._speaking = None

    def _on_frame(self, video: VideoFrame, motion: MotionFrame) -> None:
        from marionette.core.control import MotionEvent

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
    from marionette.core.stages import Conditioned

    from .sinks import (
        MjpegSink,
        MotionTrackSink,
        RecordingSink,
        SpeakerSink,
        VirtualCameraSink,
        VirtualCameraUnavailable,
        VirtualMicSink,
        VirtualMicUnavailable,
        WebSocketPreviewSink,
    )

    clock = clock or MonotonicClock()
    notes: list[Note] = []

    def note(component: str, ok: bool, message: str) -> None:
        notes.append(Note(component, ok, message))
        if report is not None:
            report(notes[-1])

    parts = parts or load_parts(cfg)
    e, a, s = cfg.engine, cfg.audio, cfg.sinks
    note("portrait", True, f"{parts.portrait} ({e.width}x{e.height}, render {parts.render_ms:.1f} ms/frame)")
    from marionette.core.generators.per_source import PerSourceGenerator

    gen = parts.generator
    how = (f"teacher for speech we synthesize, {gen.audio_name} for microphone and pushed audio"
           if isinstance(gen, PerSourceGenerator) else "for every source")
    note("generator", True, f"{e.generator}: {how}, {gen.lookahead * 1e3:.0f} ms lookahead, at {e.fps:g} fps")
    # A Conditioned generator shows the emotion itself and keeps held channels (inpainting): the
    # engine hands it the mixer's state each tick, and the mixer leaves the recipe out.
    mixer = ControlMixer(clock=clock, emotion_recipes=not isinstance(gen, Conditioned))
    engine = Engine(renderer=parts.renderer, generator=gen, features=parts.features, clock=clock,
                    fps=e.fps, mixer=mixer, av_delay=a.av_delay)

    if cfg.camera.enabled:  # the camera path (docs/camera.md): your face drives the portrait
        from .camera_live import attach_camera

        attach_camera(cfg, engine, mixer, parts.renderer, clock, note)
    mic = None
    if a.source in ("auto", "mic"):
        try:
            mic = MicrophoneSource(clock, device=a.device).start()
            engine.add_source(mic)
            note("microphone", True, f"{mic.opened_device!r} (input latency {mic.input_latency * 1e3:.0f} ms)")
        except MicrophoneUnavailable as err:
            if a.source == "mic":
                raise
            note("microphone", False, f"{err}; continuing without (text-to-speech and pushed audio still work)")
    playback = None
    if a.source == "file":
        from .sources import FileSource

        playback = FileSource(a.file, clock, loop=a.loop)
        note("audio file", True, f"{a.file}{' (looped)' if a.loop else ''}")
    elif a.source != "none":
        playback = PlaybackSource(clock, name="speech")
    delay = "measured" if a.av_delay is None else "fixed"
    if playback is not None:
        engine.add_source(playback)
        if a.play:
            speaker = SpeakerSink(clock, device=a.output_device)
            if speaker.open():
                note("speaker", True, f"our speech, delayed {engine.av_delay * 1e3:.0f} ms ({delay}) to leave with the picture")
            else:
                note("speaker", False, "no audio output device; speech is silent here but lips still move "
                     "(and is in the recording)")
            engine.add_sink(speaker)  # retries the device once a second

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
        from .control.auth import stream_tokens

        view, control_token = stream_tokens(cfg.control.token_file)  # private like the MJPEG stream
        pv = WebSocketPreviewSink(host=s.preview_host, port=s.preview_port, token=view, accept=(control_token,))
        engine.add_sink(pv)
        sinks["preview"] = pv
        note("preview", True, pv.url)
    if s.webrtc:
        from .control.auth import stream_tokens
        from .sinks.webrtc import WebRtcSink, WebRtcUnavailable

        try:  # the control token opens it too, for the control panel's preview
            view, control_token = stream_tokens(cfg.control.token_file)
            rtc = WebRtcSink(host=s.webrtc_host, port=s.webrtc_port, token=view, accept=(control_token,))
            engine.add_sink(rtc)
            sinks["webrtc"] = rtc
            note("webrtc", True, f"{rtc.url} (POST an SDP offer; docs/agents.md)")
        except WebRtcUnavailable as err:
            note("webrtc", False, str(err))
    if s.record:
        rec = RecordingSink(s.record, fps=e.fps)
        engine.add_sink(rec)
        sinks["record"] = rec
        note("recording", True, f"{rec.path} (sound placed with the picture)")
    if s.virtual_mic:
        try:
            vmic = VirtualMicSink.open(clock)
            engine.add_sink(vmic)
            sinks["virtual_mic"] = vmic
            note("virtual mic", True, f"'{vmic.description}' on {vmic.server}: your voice delayed "
                 f"{engine.av_delay * 1e3:.0f} ms ({delay}) to match the lips; pick it in the call app")
        except VirtualMicUnavailable as err:
            note("virtual mic", False, str(err))
    if s.motion_out:
        mo = MotionTrackSink(s.motion_out, fps=e.fps)
        engine.add_sink(mo)
        sinks["motion_out"] = mo
        note("motion out", True, f"{mo.path} (+ {mo.wav_path.name})")
    release_free_memory()  # portrait analysis and the voice's warm-up leave ~20 MB of freed heap
    limits = SpeechLimits(max_chars=a.max_queued_chars, max_seconds=a.max_queued_seconds,
                          total_chars=max(SpeechLimits.total_chars, 2 * a.max_queued_chars))
    return LiveApp(engine, clock=clock, mixer=mixer, playback=playback, mic=mic, sinks=sinks, notes=notes,
                   tts_engine=a.tts_engine, speech_limits=limits)
