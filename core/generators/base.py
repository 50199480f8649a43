"""Shared plumbing for streaming generators: buffer 100 Hz features, emit frames when ready.

A frame at time t is emitted once features up to t + lookahead have arrived; flush() emits the
rest up to the end of the audio and ends the segment. Subclasses only say how to compute the
frames for some times from the buffered features, so streaming equals offline as long as that
computation reads nothing beyond t + lookahead and nothing older than ``history`` seconds. Only
that much history is kept, so a stream of any length costs bounded memory and time per frame.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError
from ..types import AudioFeatures, MotionFrame, Phoneme

RATE = 100.0  # feature frames per second (core.audio)


class BufferedGenerator:
    """Base for generators in this package (implements core.stages.MotionGenerator)."""

    lookahead: float = 0.0
    history: float = 0.0  # seconds of features before a frame that computing it may read

    def __init__(self, fps: float = 30.0) -> None:
        if not (math.isfinite(fps) and fps > 0):
            raise InputError(f"generator fps {fps}, expected a positive number")
        self.fps = float(fps)
        self._phonemes: list[Phoneme] = []
        self.reset()

    # -- MotionGenerator ----------------------------------------------------------------
    def reset(self) -> None:
        self._parts: list[AudioFeatures] = []
        self._buf: AudioFeatures | None = None
        self._buf_start = 0  # segment feature index of the buffer's first frame
        self._origin: float | None = None
        self._n = 0  # feature frames received in this segment
        self._next = 0  # next motion frame index
        self._on_reset()

    def set_phonemes(self, phonemes: list[Phoneme]) -> None:
        """Phone timings (s from the start of the next audio pushed); used by generators that can."""
        self._phonemes = list(phonemes)

    def push(self, features: AudioFeatures) -> list[MotionFrame]:
        if len(features) == 0:
            return []
        if features.frame_rate != RATE:
            raise InputError(f"features at {features.frame_rate} Hz, expected {RATE:g} Hz (core.audio)")
        if self._origin is None:
            self._origin = float(features.t)
        self._parts.append(features)
        self._buf = None
        self._ingest(features, self._n)
        self._n += len(features)
        last_time = (self._n - 1) / RATE  # centre of the newest feature frame, segment time
        ready = int(np.floor((last_time - self.lookahead) * self.fps + 1e-6)) + 1
        return self._emit(ready)

    def flush(self) -> list[MotionFrame]:
        end = int(np.ceil(self._n / RATE * self.fps - 1e-6))  # frames inside the audio
        out = self._emit(end)
        self.reset()
        self._phonemes = []  # phones belong to one utterance
        return out

    # -- subclass interface ---------------------------------------------------------------
    def _on_reset(self) -> None:
        pass

    def _ingest(self, features: AudioFeatures, first_index: int) -> None:
        """Called with each block as it arrives (first_index: its segment feature index)."""

    def _values(self, times: np.ndarray, features: AudioFeatures) -> np.ndarray:
        """float32 (T, 58) for segment times (s). ``features`` is the buffer: its t is the segment
        time of its first frame; it covers times - history .. times + lookahead."""
        raise NotImplementedError

    # -- helpers ------------------------------------------------------------------------
    def _buffered(self) -> AudioFeatures:
        if self._buf is None:
            parts = self._parts
            self._buf = AudioFeatures(
                np.concatenate([p.mel for p in parts]), np.concatenate([p.loudness for p in parts]),
                np.concatenate([p.f0 for p in parts]), np.concatenate([p.vad for p in parts]), RATE,
                self._buf_start / RATE)
            self._parts = [self._buf]
        return self._buf

    def _trim(self) -> None:
        """Drop features older than any later frame can read."""
        keep_from = int(np.floor((self._next / self.fps - self.history) * RATE)) - 2
        drop = keep_from - self._buf_start
        if drop <= 0:
            return
        b = self._buffered()
        drop = min(drop, len(b))
        self._buf_start += drop
        self._buf = AudioFeatures(b.mel[drop:], b.loudness[drop:], b.f0[drop:], b.vad[drop:], RATE,
                                  self._buf_start / RATE)
        self._parts = [self._buf]

    def _emit(self, upto: int) -> list[MotionFrame]:
        if upto <= self._next:
            return []
        idx = np.arange(self._next, upto)
        times = idx / self.fps
        values = self._values(times, self._buffered())
        self._next = upto
        self._trim()
        origin = self._origin or 0.0
        return [MotionFrame.from_vector(v, t=origin + float(t)) for v, t in zip(values, times)]
