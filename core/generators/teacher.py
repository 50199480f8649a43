"""The `teacher` baseline: the viseme teacher run live on known phone timings.

When the text is ours (our own TTS reports its phones) or a transcript is given (forced
alignment), this is the best mouth we can make without learning. It waits ``lookahead`` (80 ms)
of audio for prosody; the phones themselves are known ahead. Without phones it refuses, loudly,
unless it was given a ``fallback`` (the live engine: a microphone has no phones), which then
drives every segment that starts without phones, held to the teacher's lookahead so the pipeline
latency (and the A/V delay tuned to it) is the same in both; a microphone pays those 80 ms.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..motion_space import CHANNEL_INDEX, check_channel
from ..stages import Conditioned, MotionGenerator
from ..teacher import Teacher, TeacherConfig, prosody
from ..types import AudioFeatures, Conditions, Emotion, MotionFrame, Phoneme
from .base import BufferedGenerator


class NeedsTranscriptError(InputError):
    """The teacher generator was given audio without phone timings."""


EMOTION_BLEND = 0.5  # s over which a new emotion blends in unless the condition says otherwise


class TeacherGenerator(BufferedGenerator):
    """core.stages.PhoneDriven and Conditioned: the live engine hands it the phone timings of
    speech it synthesizes, and the controls' emotion and held channels."""

    lookahead = prosody.LOOKAHEAD
    history = prosody.HISTORY

    def __init__(self, fps: float = 30.0, seed: int = 0, emotion: Emotion | None = None,
                 config: TeacherConfig | None = None, fallback: MotionGenerator | None = None,
                 fallback_name: str = "fallback") -> None:
        self._seed, self._emotion, self._config = seed, emotion or Emotion(), config or TeacherConfig()
        self._teacher: Teacher | None = None
        self._fallback, self._fallback_name = fallback, fallback_name
        self._mode = ""  # who drives the current segment: "", "teacher" or "fallback"
        self._held: dict[int, float] = {}
        self._blend_from: tuple[Emotion, float] | None = None  # (emotion, segment time the blend starts)
        self._blend_s = EMOTION_BLEND
        if isinstance(fallback, BufferedGenerator) and fallback.lookahead < self.lookahead:
            fallback.lookahead = self.lookahead  # the same latency whoever drives (see the docstring)
        super().__init__(fps)

    def reset(self) -> None:
        super().reset()
        self._mode = ""
        if self._fallback is not None:
            self._fallback.reset()

    def _on_reset(self) -> None:
        self._teacher = None
        self._blend_from = None  # a blend does not outlive its segment's time base

    @property
    def driver(self) -> str:
        """Who drives the current segment: "teacher", the fallback's name, or "" between segments."""
        return self._fallback_name if self._mode == "fallback" else self._mode

    @property
    def falling_back(self) -> bool:
        return self._mode == "fallback"

    def segment_driver(self) -> str:
        return self.driver

    def set_conditions(self, conditions: Conditions) -> None:
        """The controls' state, live: a new emotion blends in over conditions.emotion_blend s from
        the next frame (recipe and talking style); held channels keep their values from then on."""
        self._held = {CHANNEL_INDEX[check_channel(k)]: float(v) for k, v in conditions.held.items()}
        if conditions.emotion != self._emotion:
            self._blend_from = (self._emotion, self._next / self.fps)
            self._blend_s = max(float(conditions.emotion_blend), 1e-3)
            self.set_emotion(conditions.emotion)
        if isinstance(self._fallback, Conditioned):
            self._fallback.set_conditions(conditions)

    def set_phonemes(self, phonemes: list[Phoneme]) -> None:
        super().set_phonemes(phonemes)
        self._teacher = None

    def set_emotion(self, emotion: Emotion) -> None:
        self._emotion = emotion
        if self._teacher is not None:
            self._teacher.set_emotion(emotion)
        if self._fallback is not None and hasattr(self._fallback, "set_emotion"):
            self._fallback.set_emotion(emotion)

    def push(self, features: AudioFeatures) -> list[MotionFrame]:
        if not self._mode and len(features):  # a segment starts: its phones (or none) decide who drives it
            self._mode = "teacher" if self._phonemes or self._fallback is None else "fallback"
        if self._mode == "fallback":
            return self._fallback.push(features)
        if not self._phonemes:
            raise NeedsTranscriptError(
                "the teacher generator needs the words: give a transcript (marionette motion --text \"...\") "
                "or phone timings via set_phonemes(); for audio alone use --generator envelope or diffusion")
        return super().push(features)

    def flush(self) -> list[MotionFrame]:
        if self._mode == "fallback":
            out = self._fallback.flush()
            self.reset()
            self._phonemes = []
            return out
        return super().flush()  # resets (and so ends the mode) and forgets the phones

    def _values(self, times: np.ndarray, features: AudioFeatures) -> np.ndarray:
        if self._teacher is None:
            self._teacher = Teacher(self._phonemes, seed=self._seed, emotion=self._emotion, config=self._config)
        teacher = self._teacher
        out = teacher.values(times, features)
        if self._blend_from is not None:
            old, t0 = self._blend_from
            w = np.clip((times - t0) / self._blend_s, 0.0, 1.0).astype(np.float32)
            if w.min() >= 1.0:
                self._blend_from = None
            else:  # the same teacher (same blinks and sway) under the old emotion, faded out
                teacher.set_emotion(old)
                before = teacher.values(times, features)
                teacher.set_emotion(self._emotion)
                out = before + (out - before) * w[:, None]
        for c, v in self._held.items():
            out[:, c] = v
        return out


def create(fps: float = 30.0, seed: int = 0, fallback: str | MotionGenerator | None = None,
           **kwargs) -> TeacherGenerator:
    """fallback: a generator (or its registry name, e.g. "envelope") for audio without phones."""
    name = "fallback"
    if isinstance(fallback, str):
        from . import get_generator

        name, fallback = fallback, get_generator(fallback, fps=fps, seed=seed)
    elif fallback is not None:
        name = type(fallback).__name__
    return TeacherGenerator(fps=fps, seed=seed, fallback=fallback, fallback_name=name, **kwargs)
