"""The speaker: plays the audio we play ourselves (speech, pushed audio, files) at the moment the
engine stamped on it, the moment the picture that shows it leaves (core.stages.SpeakerSink).

Every block keeps its stamp. The PortAudio callback knows when its buffer will reach the speaker
(outputBufferDacTime), so it compares that with the stamp of the queue's head and pads silence
(we are early) or skips audio (we are late, e.g. after a device stall) whenever the error exceeds
``tolerance``. The microphone never reaches it (the room heard it already; it would echo).
Trade-off: a skip inside speech is audible, but only after a stall that already broke the
sound, and it restores lip sync. Sound comes at the engine's 16 kHz.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Callable

import numpy as np

from marionette.core.clock import Clock
from marionette.core.engine import StatusEvent
from marionette.core.types import AudioChunk

from ..sources import portaudio

log = logging.getLogger(__name__)


class SpeakerSink:
    """core.stages.SpeakerSink and Reporting. device: PortAudio output by name or index (None = default)."""

    name = "speaker"

    def __init__(self, clock: Clock, *, device: int | str | None = None, rate: int = 16000,
                 tolerance: float = 0.015) -> None:
        self.clock = clock
        self.device = device
        self.rate = int(rate)
        self.tolerance = tolerance
        self._fifo: deque[list] = deque()  # [time the block's first sample must be heard, samples]
        self._lock = threading.Lock()
        self._stream = None
        self.generation = -1  # PortAudio generation the stream was opened in
        self._failing = False
        self._last_try = -1e9
        self._report: Callable[[StatusEvent], None] = lambda e: log.info("%s", e)
        self.underruns = 0
        self.corrections = 0
        self.device_latency = 0.0
        self.last_error = 0.0  # seconds the head of the queue was off when last checked
        self.played_s = 0.0

    def set_reporter(self, report: Callable[[StatusEvent], None]) -> None:
        self._report = report

    @property
    def playing(self) -> bool:
        """An output stream is open."""
        return self._stream is not None

    def open(self) -> bool:
        """Try the device now; False (and a status event) when there is none. send_played retries."""
        self._last_try = self.clock.now()
        try:
            import sounddevice as sd

            self.generation = portaudio.generation()
            self._stream = sd.OutputStream(samplerate=self.rate, channels=1, dtype="float32",
                                           device=self.device, latency="low", callback=self._callback)
            self.device_latency = float(self._stream.latency)
            self._stream.start()
        except Exception as e:  # noqa: BLE001 - no speaker: the avatar still moves, say so
            self._stream = None
            if not self._failing:
                self._failing = True
                self._report(StatusEvent("sink:speaker", f"cannot play audio: {e}", "warning", retrying=True))
            return False
        if self._failing:
            self._failing = False
            self._report(StatusEvent("sink:speaker", "playing again", "recovered"))
        return True

    # --- from the engine (the sink's thread) ----------------------------------------------
    def send_played(self, chunk: AudioChunk) -> None:
        if self._stream is not None and self.generation != portaudio.generation():
            self._stream = None  # PortAudio was re-initialised (a microphone came back): our handle is gone
        if self._stream is None and self.clock.now() - self._last_try >= 1.0:
            self.open()  # retry once a second: the speaker may come back
        if self._stream is None:
            return
        x = np.asarray(chunk.samples, np.float32)
        if chunk.sample_rate != self.rate:
            from marionette.core.engine import LinearResampler

            x = LinearResampler(chunk.sample_rate, self.rate).process(x)
        with self._lock:
            self._fifo.append([float(chunk.t), x])
            while len(self._fifo) > 1 and self._fifo[0][0] < chunk.t - 2.0:
                self._fifo.popleft()  # the device stalled for seconds: never grow without bound

    def clear(self) -> None:
        with self._lock:
            self._fifo.clear()

    # --- PortAudio's thread ------------------------------------------------------------------
    def _callback(self, outdata, frames, time_info, status) -> None:
        rate = self.rate
        out = outdata[:, 0]
        out[:] = 0.0
        dac = time_info.outputBufferDacTime - time_info.currentTime
        if not (0.0 <= dac < 2.0):  # some host APIs report zeros: fall back to the nominal latency
            dac = self.device_latency
        target = self.clock.now() + dac  # when this buffer's first sample will be heard
        filled = 0
        with self._lock:
            if self._fifo:
                err = self._fifo[0][0] - target
                self.last_error = err
                if err > self.tolerance:  # early: start the head later in this buffer (or a later one)
                    filled = min(frames, int(round(err * rate)))
                    self.corrections += 1
                elif err < -self.tolerance:  # late: skip what should already have been heard
                    skip = int(round(-err * rate))
                    self.corrections += 1
                    while skip > 0 and self._fifo:
                        head = self._fifo[0]
                        k = min(skip, head[1].size)
                        head[1] = head[1][k:]
                        head[0] += k / rate
                        skip -= k
                        if head[1].size == 0:
                            self._fifo.popleft()
            start = filled
            while filled < frames and self._fifo:
                head = self._fifo[0]
                k = min(frames - filled, head[1].size)
                out[filled:filled + k] = head[1][:k]
                filled += k
                head[1] = head[1][k:]
                head[0] += k / rate
                if head[1].size == 0:
                    self._fifo.popleft()
            self.played_s += (filled - start) / rate
        if filled < frames:
            self.underruns += 1

    def close(self) -> None:
        if self._stream is not None and self.generation == portaudio.generation():
            self._stream.abort()  # stop() can hang for tens of seconds on PulseAudio
            self._stream.close()
        self._stream = None
