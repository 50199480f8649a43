"""Delivers the engine's output to each sink on the sink's own thread, newest frame wins.

A sink that is slow (a stalled HTTP client, a disk hiccup) misses frames instead of holding up
the frame loop, the audio or the other sinks. Trade-off: one thread per sink; sinks are few.
What a sink takes is declared once by the Protocols it implements (core/stages.py: FrameSink,
SoundSink, SpeakerSink, MotionSink, SpeechSink) and fixed when the runner is made. Pictures are
newest-wins; sound, motion and speech marks are queued, not dropped, up to a bound: a recording
must not lose sound, a motion track must not lose frames.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Callable

from ..stages import SINK_ABILITIES, FrameSink, Interruptible, MotionSink, SoundSink, SpeakerSink, SpeechSink
from ..types import AudioChunk, MotionFrame, SpeechMark, VideoFrame
from .stats import SinkStats, StatusEvent

log = logging.getLogger(__name__)


def sink_abilities(sink: object) -> tuple[str, ...]:
    """Names of the sink Protocols ``sink`` implements (empty: it is no sink)."""
    return tuple(p.__name__ for p in SINK_ABILITIES if isinstance(sink, p))


class SinkRunner:
    """Owns one sink: the send_* calls never block; errors become StatusEvents via ``report``."""

    def __init__(self, sink, report: Callable[[StatusEvent], None], *, max_queued: int = 2000) -> None:
        abilities = sink_abilities(sink)
        if not abilities:
            raise TypeError(f"{type(sink).__name__} is not a sink: expected name, close() and one of send(VideoFrame), "
                            "send_audio(AudioChunk), send_played(AudioChunk), send_motion(MotionFrame), "
                            "send_speech(SpeechMark) (core/stages.py)")
        self.sink = sink
        self.name = sink.name
        self.abilities = abilities
        self._report = report
        self._cond = threading.Condition()
        self._frame: VideoFrame | None = None
        # One bounded queue of (method, item) keeps sound, motion and marks in their order.
        self._items: deque[tuple[Callable, object]] = deque(maxlen=max_queued)
        self._takes_frames = isinstance(sink, FrameSink)
        self.interruptible = isinstance(sink, Interruptible)  # holds sound that an interrupt drops
        self._send_audio = sink.send_audio if isinstance(sink, SoundSink) else None
        self._send_played = sink.send_played if isinstance(sink, SpeakerSink) else None
        self._send_motion = sink.send_motion if isinstance(sink, MotionSink) else None
        self._send_speech = sink.send_speech if isinstance(sink, SpeechSink) else None
        self._closing = False
        self.sent = self.dropped = self.errors = self.overflowed = 0
        self.failing = False
        self._thread = threading.Thread(target=self._run, name=f"sink-{self.name}", daemon=True)
        self._thread.start()

    # --- from the frame loop -----------------------------------------------------------
    def send(self, frame: VideoFrame) -> None:
        if not self._takes_frames:
            return
        with self._cond:
            if self._frame is not None:
                self.dropped += 1  # the sink has not taken the previous one yet
            self._frame = frame
            self._cond.notify()

    def _queue(self, method: Callable | None, item: object) -> None:
        if method is None:
            return
        with self._cond:
            if len(self._items) == self._items.maxlen:
                self.overflowed += 1  # the sink is stuck: the oldest goes (bounded, STYLE.md)
            self._items.append((method, item))
            self._cond.notify()

    def send_audio(self, chunk: AudioChunk) -> None:
        """The whole sound, stamped with the time it must be heard."""
        self._queue(self._send_audio, chunk)

    def send_played(self, chunk: AudioChunk) -> None:
        """Only the audio we play ourselves, stamped with the time it must be heard."""
        self._queue(self._send_played, chunk)

    def send_motion(self, frame: MotionFrame) -> None:
        self._queue(self._send_motion, frame)

    def send_speech(self, mark: SpeechMark) -> None:
        self._queue(self._send_speech, mark)

    def stats(self) -> SinkStats:
        return SinkStats(self.name, self.sent, self.dropped, self.errors, self.failing)

    # --- the sink's thread ---------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                while self._frame is None and not self._items and not self._closing:
                    self._cond.wait()
                if self._closing and self._frame is None and not self._items:
                    return
                frame, self._frame = self._frame, None
                items = list(self._items)
                self._items.clear()
            try:
                for method, item in items:
                    method(item)
                if frame is not None:
                    self.sink.send(frame)
                    self.sent += 1
                if self.failing:
                    self.failing = False
                    self._report(StatusEvent(f"sink:{self.name}", "working again", "recovered"))
            except Exception as e:  # a sink's failure must never reach the frame loop
                self.errors += 1
                if not self.failing:
                    self.failing = True
                    log.warning("sink %s failed: %s", self.name, e)
                    self._report(StatusEvent(f"sink:{self.name}", f"{type(e).__name__}: {e}", "error", retrying=True))

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is pending, stop the thread, close the sink."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(timeout)
        try:
            self.sink.close()
        except Exception as e:  # closing a broken sink is reported, not raised
            self._report(StatusEvent(f"sink:{self.name}", f"close failed: {e}", "warning"))
