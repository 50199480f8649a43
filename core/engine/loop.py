"""The clocked frame loop: sources -> features -> generator -> idle life -> controls -> renderer -> sinks.

The asyncio loop only paces ticks on the injected Clock; each tick's work (audio, model step,
render) runs on one worker thread, and each sink on its own thread. Ticks sit on an absolute grid
(t0 + k/fps), so frames never drift; a tick that overruns skips the ticks it missed and counts
them. Trade-off: the newest generated motion is shown at each tick (lowest latency for a
microphone) rather than a jitter buffer, so motion may repeat or skip a frame under load.
Generators add their own idle life; the engine's IdleLife only fills in when they fall silent.

What a stage can do beyond its Protocol is declared (core/stages.py) and checked once when it is
added. Everything flows forward: phone timings of speech we synthesize go to a PhoneDriven
generator on the stream clock (phones.py); the ControlMixer's state (emotion, held channels)
goes to a Conditioned generator; speech marks and sound go to the sinks, re-stamped with the time
they must be heard: ``av_delay`` after capture or release, the picture's latency, one figure for
every output (docs/engine.md).
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..clock import Clock
from ..motion_space import CHANNEL_INDEX
from ..stages import (
    AudioSource,
    ConditionSource,
    Conditioned,
    FeatureExtractor,
    Interruptible,
    MotionGenerator,
    MotionMixer,
    PhoneDriven,
    PlayedSource,
    Renderer,
    Reporting,
)
from ..types import MOTION_HIGH, MOTION_LOW, NEUTRAL_VECTOR, AudioChunk, Conditions, MotionFrame, SpeechMark, VideoFrame
from .audio_mix import AudioMixer
from .fanout import SinkRunner
from .idle import IdleLife
from .phones import PhoneSchedule
from .stats import EngineStats, Rolling, StatusEvent

log = logging.getLogger(__name__)

STAGES = ("audio", "features", "generator", "controls", "render", "sinks")
_JAW = CHANNEL_INDEX["jawOpen"]
QUIET_DB = -45.0  # dBFS below which a feature frame counts as a pause
QUIET_RMS = 10 ** (QUIET_DB / 20)
RETUNE_EVERY = 1.0  # s between moves of av_delay (each only in a pause, or when far off)
RETUNE_STEP = 0.008  # s; smaller differences are left alone
RETUNE_QUIET = 0.3  # s of quiet mix (and no utterance of ours playing) before av_delay may move
RETUNE_URGENT = 0.06  # s; off by more (a machine that got busy mid-speech), av_delay moves at once


def estimate_av_delay(lookahead: float, fps: float) -> float:
    """The picture's latency before the engine has measured it: generator lookahead + the feature
    window's half (12.5 ms) + half a tick (the newest whole frame trails the newest audio by 0 to 1
    tick, depending on how the audio's and the ticks' grids lie: half on average, so the first
    utterance, played before any pause lets av_delay move, is off by at most half a tick). The
    engine then retunes av_delay to the measured latency."""
    return float(lookahead) + 0.0125 + 0.5 / fps


@dataclass
class _Slot:
    """A source and the abilities it declared (core/stages.py), checked once when it was added."""

    source: AudioSource
    interruptible: bool
    played: bool


class Engine:
    """Runs the pipeline at ``fps`` on ``clock`` until stop() or ``duration``.

    Thread model: add/remove of sources and sinks, clear(), stop() and stats() may be called from
    any thread; everything else runs on the engine's worker thread."""

    def __init__(
        self,
        *,
        renderer: Renderer,
        generator: MotionGenerator,
        features: FeatureExtractor,
        clock: Clock,
        fps: float = 30.0,
        sources: Sequence[AudioSource] = (),
        sinks: Sequence[FrameSink] = (),
        mixer: MotionMixer | None = None,
        idle: IdleLife | None = None,
        sample_rate: int = 16000,
        hold: float = 0.25,
        segment_max: float = 20.0,
        av_delay: float | None = None,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        """av_delay: seconds every sound output holds audio back (None: estimated, then retuned to
        the measured picture latency between utterances)."""
        if not (fps > 0 and math.isfinite(fps)):
            raise ValueError(f"fps {fps}, expected a positive number such as 25 or 30")
        self.renderer, self.generator, self.features = renderer, generator, features
        self.clock, self.fps = clock, float(fps)
        if mixer is not None and not isinstance(mixer, MotionMixer):
            raise TypeError(f"mixer {type(mixer).__name__} has no apply(frame, t) (core.stages.MotionMixer)")
        self.mixer = mixer
        # Abilities, checked once (core/stages.py).
        self._phone_driven = isinstance(generator, PhoneDriven)
        self._conditioned = isinstance(generator, Conditioned) and isinstance(mixer, ConditionSource)
        self._conditions: Conditions | None = None
        self.auto_av_delay = av_delay is None
        self.av_delay = float(av_delay) if av_delay is not None else estimate_av_delay(generator.lookahead, fps)
        self._next_retune = 0.0
        self._quiet_since: float | None = None
        self._speaking = 0  # 1 while an utterance of ours plays (from the sources' marks)
        self._marks: deque[SpeechMark] = deque(maxlen=200)  # heard-time stamped, not yet shown
        self._ahead: deque[MotionFrame] = deque(maxlen=int(10 * fps))  # generated before they are due
        self._due_after = float(generator.lookahead) + 0.0125  # s of audio a frame waits for (+ feature window half)
        self.idle = idle if idle is not None else IdleLife()
        # Profiling measures real compute cost (also under a fake clock); pacing uses the Clock.
        self._timer = timer
        self._hold = hold
        self.segment_max = segment_max
        self._segment_age = 0.0
        self._quiet_run = 0.0
        self._audio = AudioMixer(sample_rate)
        self._phones = PhoneSchedule()
        self._drivers_reported: set[str] = set()
        self._feature_s = 0.0  # feature time inside the current step (features and generator interleave)
        self._lock = threading.Lock()
        self._sources: list[_Slot] = []
        self._runners: list[SinkRunner] = []
        self._listeners: list[Callable[[StatusEvent], None]] = []
        self._frame_listeners: list[Callable[[VideoFrame, MotionFrame], None]] = []
        self._source_failing: set[int] = set()
        self._stage_failing: set[str] = set()
        self._clear = threading.Event()
        self._stop = threading.Event()
        self._stage = {name: Rolling() for name in STAGES}
        # Audio heard -> the frame showing it leaves for the sinks: the picture's latency, which every
        # sound output is delayed by (av_delay).
        self._latency = Rolling(300)
        # Tick -> departure (the step's compute): a frame's presentation time is its tick plus the
        # recent median of this, so a recording places pictures where live viewers get them.
        self._departure = Rolling(90)
        self._emitted = Rolling(int(2 * fps))  # clock times of recent frames, for measured fps
        self.frames = 0
        self.late_ticks = 0
        self.events: list[StatusEvent] = []  # the most recent status events, newest last
        self.last_frame: VideoFrame | None = None
        self.last_motion: MotionFrame | None = None
        self._speech = NEUTRAL_VECTOR.copy()
        self._speech_t = -math.inf  # clock time of the last generated frame
        self._speech_stream_t: float | None = None
        self._tick_t = 0.0
        self._executor: ThreadPoolExecutor | None = None
        for s in sources:
            self.add_source(s)
        for k in sinks:
            self.add_sink(k)

    # --- wiring (any thread) ------------------------------------------------------------
    def add_source(self, source: AudioSource) -> None:
        if not isinstance(source, AudioSource):
            raise TypeError(f"{type(source).__name__} is not an AudioSource: expected name, read() and close()")
        if isinstance(source, Reporting):
            source.set_reporter(self.report)
        slot = _Slot(source, isinstance(source, Interruptible), isinstance(source, PlayedSource))
        with self._lock:
            self._sources.append(slot)

    def remove_source(self, source: AudioSource) -> None:
        with self._lock:
            self._sources = [s for s in self._sources if s.source is not source]
        self._audio.remove(id(source))

    def add_sink(self, sink) -> SinkRunner:
        """Any object with a name, close() and at least one of the sink abilities of core/stages.py
        (pictures, sound, the speaker's sound, motion, speech marks); it gets exactly those."""
        if isinstance(sink, Reporting):
            sink.set_reporter(self.report)
        runner = SinkRunner(sink, self.report)
        with self._lock:
            self._runners.append(runner)
        return runner

    def remove_sink(self, sink: FrameSink) -> None:
        with self._lock:
            runners = [r for r in self._runners if r.sink is sink]
            self._runners = [r for r in self._runners if r.sink is not sink]
        for r in runners:
            r.close()

    def subscribe(self, listener: Callable[[StatusEvent], None]) -> Callable[[], None]:
        """Call ``listener`` with every StatusEvent (from any thread); returns an unsubscribe."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def on_frame(self, listener: Callable[[VideoFrame, MotionFrame], None]) -> Callable[[], None]:
        """Call ``listener(video, motion)`` on the worker thread after each frame; it must be quick."""
        self._frame_listeners.append(listener)
        return lambda: self._frame_listeners.remove(listener) if listener in self._frame_listeners else None

    def report(self, event: StatusEvent) -> None:
        if event.t == 0.0:
            event = StatusEvent(event.component, event.message, event.level, event.retrying, self.clock.now())
        self.events.append(event)
        del self.events[:-100]
        log.info("%s", event)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # a listener's bug must not stop the show
                log.exception("status listener failed")

    # --- control (any thread) -------------------------------------------------------------
    def clear(self) -> None:
        """Interrupt: drop buffered audio, phone timings and motion now (STYLE.md 3); idle life goes on."""
        with self._lock:
            slots = list(self._sources)
        # Sources first: once the flag is seen nothing they held (audio, phones) can still arrive.
        for s in slots:
            if s.interruptible:
                s.source.clear()  # type: ignore[attr-defined]
        with self._lock:
            runners = list(self._runners)
        for r in runners:  # sound already handed to a sink (the speaker's queue) stops too
            if r.interruptible:
                r.sink.clear()
        self._clear.set()

    def stop(self) -> None:
        self._stop.set()

    @property
    def sinks(self) -> list[SinkRunner]:
        return list(self._runners)

    def stats(self) -> EngineStats:
        emitted = self._emitted.values()
        fps = (len(emitted) - 1) / (emitted[-1] - emitted[0]) if len(emitted) > 2 and emitted[-1] > emitted[0] else 0.0
        with self._lock:
            runners = list(self._runners)
        return EngineStats(
            t=self._tick_t,
            frames=self.frames,
            target_fps=self.fps,
            fps=fps,
            late_ticks=self.late_ticks,
            stages=tuple(self._stage[n].timing(n) for n in STAGES),
            latency_p50_ms=None if not len(self._latency) else self._latency.percentile(50) * 1e3,
            latency_p95_ms=None if not len(self._latency) else self._latency.percentile(95) * 1e3,
            audio_seconds=self._audio.samples_out / self._audio.rate,
            sinks=tuple(r.stats() for r in runners),
            av_delay_ms=self.av_delay * 1e3,
        )

    # --- the loop -----------------------------------------------------------------------
    async def run(self, duration: float | None = None) -> EngineStats:
        """Emit frames until stop() or for ``duration`` seconds of clock time; closes the sinks."""
        loop = asyncio.get_running_loop()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="engine-step")
        self._stop.clear()
        t0 = self.clock.now()
        k = 0
        try:
            while not self._stop.is_set():
                tick = t0 + k / self.fps
                if duration is not None and tick >= t0 + duration - 1e-9:
                    break
                await self.clock.sleep_until(tick)
                await loop.run_in_executor(self._executor, self.step, tick, k)
                # Stay on the absolute grid: run the next tick late if we are a little late,
                # skip ticks (counted) if we overran by more than half a frame.
                due = math.floor((self.clock.now() - t0) * self.fps + 0.5)
                nxt = max(k + 1, due)
                self.late_ticks += nxt - (k + 1)
                k = nxt
        finally:
            self._executor.shutdown(wait=True)
            self._executor = None
        return self.stats()

    async def close(self) -> None:
        """Stop, flush and close every sink and source (call once, after run())."""
        with self._lock:
            runners, self._runners = list(self._runners), []
            slots, self._sources = list(self._sources), []
        await asyncio.to_thread(lambda: [r.close() for r in runners])
        for s in slots:
            try:
                s.source.close()
            except Exception as e:  # noqa: BLE001 - reported, not raised, at shutdown
                self.report(StatusEvent(f"source:{s.source.name}", f"close failed: {e}", "warning"))

    def step(self, tick: float, index: int) -> VideoFrame:
        """One tick: everything from audio to sinks. Public so benchmarks can drive it directly."""
        timer = self._timer
        self._tick_t = tick
        if self._clear.is_set():
            self._clear.clear()
            self._audio.clear()
            self.features.reset()
            self.generator.reset()
            self._phones.clear()
            if self._phone_driven:
                self.generator.set_phonemes([])  # reset() keeps phones for the next segment: drop them
            self._marks.clear()
            self._ahead.clear()
            self._speaking = 0
            self._speech_t = -math.inf
            self._speech_stream_t = None
            self._segment_age = self._quiet_run = 0.0

        s0 = timer()
        block, present = self._read_audio()
        if self._conditioned:
            self._hand_conditions()
        s1 = timer()
        generated = []
        self._feature_s = 0.0
        try:
            generated = self._generate(block) if block is not None else []
            self._recovered("stage:generator")
        except Exception as e:  # a model bug must not stop the show: drop this audio, start afresh
            self._failed("stage:generator", e)
            self.features.reset()
            self.generator.reset()
            if self._phone_driven:  # the rest of this utterance's phones no longer line up
                self._phones.drop_active()
                self.generator.set_phonemes([])
        s3 = timer()
        s2 = s1 + min(self._feature_s, s3 - s1)
        if self._phone_driven:
            self._report_driver()
        newest = self._pace(generated, block)
        if newest is not None:
            self._speech = newest.to_vector()
            self._speech_t = tick
            self._speech_stream_t = newest.t
        motion, fresh = self._speech_motion(tick)
        # Generators carry their own life (blinks, sway, gaze); ours fades in only when generated
        # motion goes stale (no audio, a lost microphone), so the avatar never freezes.
        if fresh < 1.0:
            motion = motion + np.float32(1.0 - fresh) * self.idle.offsets(tick, speaking=bool(motion[_JAW] > 0.08))
        frame = MotionFrame.from_vector(motion, t=tick)
        if self.mixer is not None:
            try:
                frame = self.mixer.apply(frame, tick)
                self._recovered("stage:controls")
            except Exception as e:  # controls failing: show the generated motion without them
                self._failed("stage:controls", e)
        vec = frame.to_vector()
        if not np.all(np.isfinite(vec)) or np.any(vec < MOTION_LOW) or np.any(vec > MOTION_HIGH):
            frame = frame.clamped()[0]
        s4 = timer()
        try:
            image = self.renderer.render(frame)
            self._recovered("stage:renderer")
        except Exception as e:  # keep emitting the last good picture, on time
            self._failed("stage:renderer", e)
            if self.last_frame is None:
                raise
            image, frame = self.last_frame.image, self.last_motion
        present_t = tick + round(self._departure.percentile(50) or 0.0, 3)  # ms steps keep pts steady
        video = VideoFrame(image, present_t, index)
        s5 = timer()
        with self._lock:
            runners = list(self._runners)
        heard = None
        if block is not None and present is not None:
            heard = AudioChunk(block.samples, block.sample_rate, present)
            played = self._audio.last_played
            played = None if played is None else AudioChunk(played, block.sample_rate, present)
        shown = MotionFrame.from_vector(frame.to_vector(), t=present_t) if frame.t != present_t else frame
        marks = self._due_marks(present_t)
        for r in runners:
            if heard is not None:
                r.send_audio(heard)
                if played is not None:
                    r.send_played(played)
            for m in marks:
                r.send_speech(m)
            r.send_motion(shown)
            r.send(video)
        s6 = timer()
        for name, a, b in zip(STAGES, (s0, s1, s2, s3, s4, s5), (s1, s2, s3, s4, s5, s6)):
            self._stage[name].add(b - a)
        out_t = self.clock.now()
        if newest is not None:
            heard_t = self._audio.heard_at(newest.t)
            if heard_t is not None:
                self._latency.add(max(0.0, out_t - heard_t))
        self._departure.add(max(0.0, out_t - tick))
        if block is not None:
            self._track_quiet(block, tick)
        if self.auto_av_delay and tick >= self._next_retune:
            self._retune_av_delay(tick)
        self._emitted.add(out_t)
        self.frames += 1
        self.last_frame, self.last_motion = video, frame
        for listener in list(self._frame_listeners):
            try:
                listener(video, frame)
            except Exception:  # a listener's bug must not stop the show
                log.exception("frame listener failed")
        return video

    def _failed(self, component: str, e: Exception) -> None:
        if component not in self._stage_failing:
            self._stage_failing.add(component)
            log.exception("%s failed", component)
            self.report(StatusEvent(component, f"{type(e).__name__}: {e}", "error", retrying=True))

    def _recovered(self, component: str) -> None:
        if component in self._stage_failing:
            self._stage_failing.discard(component)
            self.report(StatusEvent(component, "working again", "recovered"))

    def _generate(self, block: AudioChunk) -> list[MotionFrame]:
        """Features and motion for one mixed block. The segment is cut wherever an utterance with
        phone timings starts or ends inside the block, so the generator gets its phones at the
        segment's zero (only phone-driven generators ever have such cuts)."""
        out: list[MotionFrame] = []
        x, t0, rate = block.samples, block.t, block.sample_rate
        while True:
            cut = self._phones.next_boundary()
            if cut is None or cut >= t0 + x.size / rate:
                break
            k = min(x.size, max(0, int(round((cut - t0) * rate))))
            if k:
                out += self._feed(AudioChunk(x[:k], rate, t0), cuts=False)
            out += self._end_segment()
            phones = self._phones.cross(cut)
            if phones:
                self.generator.set_phonemes(list(phones))
            x, t0 = x[k:], t0 + k / rate
        if x.size:
            out += self._feed(AudioChunk(x, rate, t0), cuts=True)
        return out

    def _feed(self, chunk: AudioChunk, *, cuts: bool) -> list[MotionFrame]:
        a = self._timer()
        feats = self.features.push(chunk)
        self._feature_s += self._timer() - a
        if not len(feats):
            return []
        out = self.generator.push(feats)
        if cuts:
            out += self._maybe_end_segment(feats, chunk.t + chunk.duration)
        return out

    def _end_segment(self) -> list[MotionFrame]:
        a = self._timer()
        tail = self.features.flush()  # pads the last window and resets the extractor
        self._feature_s += self._timer() - a
        out = self.generator.push(tail) if len(tail) else []
        self._segment_age = self._quiet_run = 0.0
        return out + self.generator.flush()

    def _maybe_end_segment(self, feats, at: float) -> list[MotionFrame]:
        """Cut the live stream into segments at quiet moments: streaming generators buffer a whole
        segment, so an endless one would grow their memory and per-push cost without bound.
        ``at``: stream time of the cut (the end of the audio fed so far)."""
        dur = len(feats) / feats.frame_rate
        self._segment_age += dur
        self._quiet_run = self._quiet_run + dur if float(np.max(feats.loudness)) < QUIET_DB else 0.0
        if self._segment_age < self.segment_max or (self._quiet_run < 0.3 and self._segment_age < 3 * self.segment_max):
            return []
        out = self._end_segment()
        rest = self._phones.remaining(at)
        if rest:  # cut inside an utterance: the next segment keeps the rest of its phones
            self.generator.set_phonemes(list(rest))
        return out

    def _report_driver(self) -> None:
        """Say once per kind which audio moves the lips how: phones of speech we synthesize drive
        the teacher; audio without them (microphone, pushed PCM) the audio model."""
        driver = self.generator.segment_driver()  # type: ignore[attr-defined]
        if not driver or driver in self._drivers_reported:
            return
        self._drivers_reported.add(driver)
        if driver == "teacher":
            msg = "speech we synthesize moves the lips from its phone timings (teacher)"
        else:
            msg = (f"audio without phone timings (microphone, pushed audio) moves the lips with {driver}; "
                   "speech we synthesize (say) follows its phones")
        self.report(StatusEvent("stage:generator", msg, "info"))

    def _hand_conditions(self) -> None:
        """The ControlMixer's state, handed forward to the generator (only when it changed)."""
        try:
            c = self.mixer.conditions()  # type: ignore[union-attr]
            if c != self._conditions:
                self._conditions = c
                self.generator.set_conditions(c)  # type: ignore[attr-defined]
        except Exception as e:  # a bad condition must not stop the show
            self._failed("stage:conditions", e)

    def _pace(self, generated: list[MotionFrame], block: AudioChunk | None) -> MotionFrame | None:
        """The newest generated frame that is due: one whose lookahead of audio has arrived. A
        segment's end (flush) hands out its last frames before that; shown at once they would run
        ahead of the picture's latency and then hold still until the next segment catches up
        (a B just after a cut never showed), so they wait here for their audio like the rest."""
        self._ahead.extend(generated)
        if block is None or not self._ahead:
            return None
        due = block.t + block.duration - self._due_after + 1e-6
        newest = None
        while self._ahead and self._ahead[0].t <= due:
            newest = self._ahead.popleft()
        return newest

    def _due_marks(self, tick: float) -> list[SpeechMark]:
        """Speech marks whose sound is heard by this frame (they leave with it)."""
        out = []
        while self._marks and self._marks[0].t <= tick + 1e-9:
            out.append(self._marks.popleft())
        return out

    def _track_quiet(self, block: AudioChunk, tick: float) -> None:
        loud = block.samples.size and float(np.sqrt(np.mean(block.samples.astype(np.float64) ** 2))) >= QUIET_RMS
        if loud or self._speaking:
            self._quiet_since = None
        elif self._quiet_since is None:
            self._quiet_since = tick

    def _retune_av_delay(self, tick: float) -> None:
        """Move av_delay to the measured picture latency, in a pause (nothing of ours playing, the
        mix quiet for a while): the jump then falls on silence in every sound output. Off by more
        than RETUNE_URGENT (at least 30 frames measured), at once: a glitch beats speech out of sync."""
        p50 = self._latency.percentile(50)
        if p50 is None:
            return
        pause = self._quiet_since is not None and tick - self._quiet_since >= RETUNE_QUIET
        urgent = len(self._latency) >= 30 and abs(p50 - self.av_delay) > RETUNE_URGENT
        if not (pause or urgent):
            return
        self._next_retune = tick + RETUNE_EVERY
        if abs(p50 - self.av_delay) > RETUNE_STEP:
            old, self.av_delay = self.av_delay, p50
            log.info("A/V delay %.0f -> %.0f ms (measured picture latency)", old * 1e3, p50 * 1e3)

    def _read_audio(self) -> tuple[AudioChunk | None, float | None]:
        with self._lock:
            slots = list(self._sources)
        for slot in slots:
            src = slot.source
            key = id(src)
            try:
                for _ in range(200):  # bounded: a runaway source cannot stall the tick
                    chunk = src.read()
                    if chunk is None:
                        break
                    self._audio.add(key, chunk, played=slot.played)
                if slot.played:  # drained always: a source never holds them for long
                    for timed in src.take_phonemes():  # type: ignore[attr-defined]
                        start = self._audio.stream_time_of(key, timed.t) if self._phone_driven else None
                        if start is not None:
                            self._phones.add(start, timed)
                    for mark in src.take_marks():  # type: ignore[attr-defined]
                        self._speaking = 1 if mark.kind == "start" else 0  # back-to-back utterances end once
                        self._marks.append(SpeechMark(mark.t + self.av_delay, mark.kind, mark.label))
                if key in self._source_failing:
                    self._source_failing.discard(key)
                    self.report(StatusEvent(f"source:{src.name}", "working again", "recovered"))
            except Exception as e:  # a failing source becomes status; the show goes on
                if key not in self._source_failing:
                    self._source_failing.add(key)
                    self.report(StatusEvent(f"source:{src.name}", f"{type(e).__name__}: {e}", "error", retrying=True))
        block = self._audio.take()
        if block is None:
            return None, None
        heard_end = self._audio.heard_at(block.t + block.duration)
        present = None if heard_end is None else heard_end - block.duration + self.av_delay
        return block, present

    def _speech_motion(self, tick: float) -> tuple[np.ndarray, float]:
        """The newest generated motion and its freshness (1 = current, 0 = gone): held briefly when
        generated frames stop coming, then eased to neutral."""
        age = tick - self._speech_t
        if age <= self._hold:
            return self._speech, 1.0
        k = math.exp(-(age - self._hold) / 0.15)
        return NEUTRAL_VECTOR + (self._speech - NEUTRAL_VECTOR) * np.float32(k), k
