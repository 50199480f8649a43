"""A small simulated engine implementing EngineControl, for tests, benchmarks and demos without a portrait.

It owns a real ControlMixer and a real clocked frame loop (generated motion -> mixer -> listeners)
but "speaks" by opening the jaw for a duration proportional to the text instead of running TTS and
a generator. Trade-off: no pixels, no audio; what it checks is the control path, end to end.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import threading
from collections import deque
from typing import Callable

from ...core.clock import Clock
from ...core.control import ControlMixer, MotionEvent, SpeechEvent
from ...core.types import AudioChunk, Emotion, MotionFrame

SECONDS_PER_CHAR = 0.06


class SimEngine:
    """EngineControl with a frame loop at ``fps``: run() paces frames on the clock until stop()."""

    def __init__(self, *, clock: Clock, fps: float = 30.0, render: Callable[[MotionFrame], object] | None = None,
                 seconds_per_char: float = SECONDS_PER_CHAR) -> None:
        self.clock, self.fps = clock, float(fps)
        self.seconds_per_char = seconds_per_char
        self.mixer = ControlMixer(clock=clock)
        self._render = render
        self._lock = threading.Lock()
        self._listeners: list[Callable[[object], None]] = []
        self._queue: deque[tuple[str, str, float]] = deque()  # (speech id, text, seconds)
        self._current: tuple[str, str, float] | None = None  # (id, text, end time)
        self._ids = itertools.count(1)
        self._stop = threading.Event()
        self.pushed_samples = 0
        self.segments_ended = 0
        self.interrupts = 0
        self.frames = 0
        self.late_frames = 0
        self.said: list[tuple[str, Emotion | None, str | None]] = []
        self.last_frame: MotionFrame | None = None
        self.frame_hooks: list[Callable[[MotionFrame, float], None]] = []

    # --- EngineControl ----------------------------------------------------------------------
    def say(self, text: str, *, emotion: Emotion | None = None, voice: str | None = None,
            owner: str | None = None) -> str:
        sid = f"s{next(self._ids)}"
        with self._lock:
            self._queue.append((sid, text, max(0.2, len(text) * self.seconds_per_char)))
            self.said.append((text, emotion, voice))
        return sid

    def push_audio(self, chunk: AudioChunk) -> None:
        with self._lock:
            self.pushed_samples += len(chunk.samples)

    def end_segment(self) -> None:
        with self._lock:
            self.segments_ended += 1

    def interrupt(self) -> None:
        with self._lock:
            cleared = list(self._queue)
            self._queue.clear()
            current, self._current = self._current, None
            self.interrupts += 1
        now = self.clock.now()
        for sid, text, *_ in ([current] if current else []) + cleared:
            self._emit(SpeechEvent("end", sid, text, now, interrupted=True))

    def subscribe(self, callback: Callable[[object], None]) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._listeners:
                    self._listeners.remove(callback)

        return unsubscribe

    def status(self) -> dict:
        with self._lock:
            return {"engine": "simulated", "fps": self.fps, "frames": self.frames, "late_frames": self.late_frames,
                    "speaking": self._current is not None, "queued": len(self._queue),
                    "pushed_samples": self.pushed_samples}

    # --- the frame loop ------------------------------------------------------------------------
    def _emit(self, event: object) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for cb in listeners:
            cb(event)

    def step(self, t: float) -> MotionFrame:
        """One frame at clock time t: speech state, generated jaw, the mixer, listeners."""
        events = []
        with self._lock:
            if self._current is not None and t >= self._current[2]:
                events.append(SpeechEvent("end", self._current[0], self._current[1], t))
                self._current = None
            if self._current is None and self._queue:
                sid, text, secs = self._queue.popleft()
                self._current = (sid, text, t + secs)
                events.append(SpeechEvent("start", sid, text, t))
            speaking = self._current is not None
        for ev in events:
            self._emit(ev)
        jaw = 0.25 + 0.25 * math.sin(2 * math.pi * 4.0 * t) if speaking else 0.0
        frame = self.mixer.apply(MotionFrame.from_dict({"jawOpen": jaw}, t=t), t)
        if self._render is not None:
            self._render(frame)
        self.frames += 1
        self.last_frame = frame
        for hook in self.frame_hooks:
            hook(frame, t)
        self._emit(MotionEvent(frame))
        return frame

    async def run(self, duration: float | None = None) -> None:
        """Frames on an absolute grid t0 + k/fps; a frame that starts a whole slot late counts as late."""
        t0 = self.clock.now()
        k = 0
        while not self._stop.is_set() and (duration is None or k / self.fps < duration):
            tick = t0 + k / self.fps
            await self.clock.sleep_until(tick)
            now = self.clock.now()
            if now - tick > 1.0 / self.fps:
                missed = int((now - tick) * self.fps)
                self.late_frames += missed
                k += missed
                tick = t0 + k / self.fps
            await asyncio.to_thread(self.step, tick) if self._render is not None else self.step(tick)
            k += 1

    def stop(self) -> None:
        self._stop.set()
