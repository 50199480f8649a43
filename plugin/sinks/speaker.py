"""The speaker: plays the audio we play ourselves (speech, pushed audio, files) at the moment the
engine stamped on it, the moment the picture that shows it leaves (core.stages.SpeakerSink).

Every block keeps its stamp. The PortAudio callback knows when its buffer will reach the speaker
(outputBufferDacTime) and takes the stamped queue (stamped_audio.py) from that moment on: silence
where we are early, a skip where we are late (a device stall). The microphone never reaches it
(the room heard it already; it would echo). Sound comes at the engine's 16 kHz.
"""

from __future__ import annotations

import logging
from typing import Callable

import numpy as np

from marionette.core.clock import Clock
from marionette.core.engine import StatusEvent
from marionette.core.types import AudioChunk

from ..sources import portaudio
from .stamped_audio import StampedAudio

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
        self._queue = StampedAudio(self.rate, tolerance=tolerance)
        self._stream = None
        self.generation = -1  # PortAudio generation the stream was opened in
        self._failing = False
        self._last_try = -1e9
        self._report: Callable[[StatusEvent], None] = lambda e: log.info("%s", e)
        self.underruns = 0
        self.device_latency = 0.0
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
        self._queue.push(chunk.t, x)

    def clear(self) -> None:
        self._queue.clear()

    # --- PortAudio's thread ------------------------------------------------------------------
    def _callback(self, outdata, frames, time_info, status) -> None:
        dac = time_info.outputBufferDacTime - time_info.currentTime
        if not (0.0 <= dac < 2.0):  # some host APIs report zeros: fall back to the nominal latency
            dac = self.device_latency
        # This buffer's first sample is heard at now + dac: take the queue from that moment on.
        out, played, dry = self._queue.take(self.clock.now() + dac, frames)
        outdata[:, 0] = out
        self.played_s += played / self.rate
        if dry:
            self.underruns += 1

    @property
    def corrections(self) -> int:
        return self._queue.corrections

    @property
    def last_error(self) -> float:
        """Seconds the head of the queue was off (+ early) when last checked."""
        return self._queue.last_error

    def close(self) -> None:
        if self._stream is not None and self.generation == portaudio.generation():
            self._stream.abort()  # stop() can hang for tens of seconds on PulseAudio
            self._stream.close()
        self._stream = None
