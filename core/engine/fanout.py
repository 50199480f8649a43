"""Delivers frames to each sink on the sink's own thread, newest frame wins.

A sink that is slow (a stalled HTTP client, a disk hiccup) misses frames instead of holding up
the frame loop, the audio or the other sinks. Trade-off: one thread per sink; sinks are few.
Audio (for recorders) is queued, not dropped, up to a bound: a recording must not lose sound.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Callable

from ..stages import FrameSink
from ..types import AudioChunk, VideoFrame
from .stats import SinkStats, StatusEvent

log = logging.getLogger(__name__)


class SinkRunner:
    """Owns one sink: send() never blocks; errors become StatusEvents via ``report``."""

    def __init__(self, sink: FrameSink, report: Callable[[StatusEvent], None], *, max_audio_chunks: int = 2000) -> None:
        self.sink = sink
        self.name = getattr(sink, "name", type(sink).__name__)
        self._report = report
        self._cond = threading.Condition()
        self._frame: VideoFrame | None = None
        self._audio: deque[AudioChunk] = deque(maxlen=max_audio_chunks)
        self._wants_audio = callable(getattr(sink, "send_audio", None))
        self._closing = False
        self.sent = self.dropped = self.errors = 0
        self.failing = False
        self._thread = threading.Thread(target=self._run, name=f"sink-{self.name}", daemon=True)
        self._thread.start()

    def send(self, frame: VideoFrame) -> None:
        with self._cond:
            if self._frame is not None:
                self.dropped += 1  # the sink has not taken the previous one yet
            self._frame = frame
            self._cond.notify()

    def send_audio(self, chunk: AudioChunk) -> None:
        if not self._wants_audio:
            return
        with self._cond:
            self._audio.append(chunk)
            self._cond.notify()

    def stats(self) -> SinkStats:
        return SinkStats(self.name, self.sent, self.dropped, self.errors, self.failing)

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._frame is None and not self._audio and not self._closing:
                    self._cond.wait()
                if self._closing and self._frame is None and not self._audio:
                    return
                frame, self._frame = self._frame, None
                audio = list(self._audio)
                self._audio.clear()
            try:
                for chunk in audio:
                    self.sink.send_audio(chunk)  # type: ignore[attr-defined]
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
