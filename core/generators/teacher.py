"""The `teacher` baseline: the viseme teacher run live on known phone timings.

When the text is ours (our own TTS reports its phones) or a transcript is given (forced
alignment), this is the best mouth we can make without learning. It waits ``lookahead`` (80 ms)
of audio for prosody; the phones themselves are known ahead. Without phones it refuses, loudly.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..teacher import Teacher, TeacherConfig
from ..types import AudioFeatures, Emotion, MotionFrame, Phoneme
from ..teacher import prosody
from .base import BufferedGenerator


class NeedsTranscriptError(InputError):
    """The teacher generator was given audio without phone timings."""


class TeacherGenerator(BufferedGenerator):
    lookahead = prosody.LOOKAHEAD
    history = prosody.HISTORY

    def __init__(self, fps: float = 30.0, seed: int = 0, emotion: Emotion | None = None,
                 config: TeacherConfig | None = None) -> None:
        self._seed, self._emotion, self._config = seed, emotion or Emotion(), config or TeacherConfig()
        self._teacher: Teacher | None = None
        super().__init__(fps)

    def _on_reset(self) -> None:
        self._teacher = None

    def set_phonemes(self, phonemes: list[Phoneme]) -> None:
        super().set_phonemes(phonemes)
        self._teacher = None

    def set_emotion(self, emotion: Emotion) -> None:
        self._emotion = emotion
        if self._teacher is not None:
            self._teacher.set_emotion(emotion)

    def push(self, features: AudioFeatures) -> list[MotionFrame]:
        if not self._phonemes:
            raise NeedsTranscriptError(
                "the teacher generator needs the words: give a transcript (marionette motion --text \"...\") "
                "or phone timings via set_phonemes(); for audio alone use --generator envelope or diffusion")
        return super().push(features)

    def _values(self, times: np.ndarray, features: AudioFeatures) -> np.ndarray:
        if self._teacher is None:
            self._teacher = Teacher(self._phonemes, seed=self._seed, emotion=self._emotion, config=self._config)
        return self._teacher.values(times, features)


def create(fps: float = 30.0, seed: int = 0, **kwargs) -> TeacherGenerator:
    return TeacherGenerator(fps=fps, seed=seed, **kwargs)
