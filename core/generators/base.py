"""Shared plumbing for streaming generators: buffer 100 Hz features, emit frames when ready.

A frame at time t is emitted once features up to t + lookahead have arrived; flush() emits the
rest up to the end of the audio and ends the segment. Subclasses only say how to compute the
frames for some times from the features buffered so far, so streaming equals offline as long as
that computation reads nothing beyond t + lookahead.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..types import AudioFeatures, MotionFrame, Phoneme


class BufferedGenerator:
    """Base for generators in this package (implements core.stages.MotionGenerator)."""

    lookahead: float = 0.0

    def __init__(self, fps: float = 30.0) -> None:
        if not (fps > 0):
            raise InputError(f"generator fps {fps}, expected a positive number")
        self.fps = float(fps)
        self._phonemes: list[Phoneme] = []
        self.reset()

    # -- MotionGenerator ----------------------------------------------------------------
    def reset(self) -> None:
        self._parts: list[AudioFeatures] = []
        self._features: AudioFeatures | None = None
        self._origin: float | None = None
        self._n = 0  # feature frames buffered
        self._next = 0  # next motion frame index
        self._on_reset()

    def set_phonemes(self, phonemes: list[Phoneme]) -> None:
        """Phone timings (s from the start of the next audio pushed); used by generators that can."""
        self._phonemes = list(phonemes)

    def push(self, features: AudioFeatures) -> list[MotionFrame]:
        if len(features) == 0:
            return []
        if features.frame_rate != 100.0:
            raise InputError(f"features at {features.frame_rate} Hz, expected 100 Hz (core.audio)")
        if self._origin is None:
            self._origin = float(features.t)
        self._parts.append(features)
        self._n += len(features)
        self._features = None
        last_time = (self._n - 1) / 100.0  # centre of the newest feature frame, segment time
        ready = int(np.floor((last_time - self.lookahead) * self.fps + 1e-6)) + 1
        return self._emit(ready)

    def flush(self) -> list[MotionFrame]:
        end = int(np.ceil(self._n / 100.0 * self.fps - 1e-6))  # frames inside the audio
        out = self._emit(end)
        phonemes = self._phonemes
        self.reset()
        self._phonemes = phonemes if self._keep_phonemes else []
        return out

    # -- subclass interface ---------------------------------------------------------------
    _keep_phonemes = False

    def _on_reset(self) -> None:
        pass

    def _values(self, times: np.ndarray, features: AudioFeatures) -> np.ndarray:
        """float32 (T, 58) for segment times (s); features cover at least up to times + lookahead."""
        raise NotImplementedError

    # -- helpers ------------------------------------------------------------------------
    def _buffered(self) -> AudioFeatures:
        if self._features is None:
            parts = self._parts
            self._features = AudioFeatures(
                np.concatenate([p.mel for p in parts]), np.concatenate([p.loudness for p in parts]),
                np.concatenate([p.f0 for p in parts]), np.concatenate([p.vad for p in parts]), 100.0, 0.0)
            self._parts = [self._features]
        return self._features

    def _emit(self, upto: int) -> list[MotionFrame]:
        if upto <= self._next:
            return []
        idx = np.arange(self._next, upto)
        times = idx / self.fps
        values = self._values(times, self._buffered())
        self._next = upto
        origin = self._origin or 0.0
        return [MotionFrame.from_vector(v, t=origin + float(t)) for v, t in zip(values, times)]
