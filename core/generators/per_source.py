"""The live default: the generator is chosen per segment by what the audio carries.

Speech we synthesize comes with its phone timings, so the teacher moves the lips from them (lips
close on every M/B/P); audio without phones (a microphone, pushed PCM) goes through the audio
model (diffusion, or the envelope when asked). The engine cuts segments where our utterances
start and end (core/engine/phones.py), so each segment has one driver.

One lookahead for both: frames of the quicker part are held until the audio reaches t +
``lookahead`` (the larger of the two), so the picture's latency, and with it the A/V delay every
sound output uses, is the same whoever drives; a switch neither jumps the mouth forward in time
nor moves the sound. Trade-off: the quicker part pays the slower one's latency. Where a segment
starts (a new driver, or the next chunk of an utterance, whose teacher restarts its sway), head,
brows and eyes start from the last frame shown and the difference decays over 400 ms, so no seam
shows; the mouth is left exact (a B at a chunk's first phone must close, and lips move fast anyway). Emotion reaches both parts as a condition; a
part that cannot take it (the envelope) gets the emotion's FACS recipe added here, blended in.
"""

from __future__ import annotations

import math

import numpy as np

from ..control.emotions import recipe_vector
from ..motion_space import ALL_CHANNELS
from ..stages import Conditioned, MotionGenerator
from ..types import AudioFeatures, Conditions, Emotion, MotionFrame, Phoneme

RATE = 100.0  # feature frames per second
FACE_DECAY = 0.4  # s: head pose, brows and eyes glide over a segment start (the mouth is never blended)
EMOTION_BLEND = 0.5  # s
_MOUTH = np.array([n.startswith(("jaw", "mouth", "cheekPuff", "tongue")) for n in ALL_CHANNELS])


class PerSourceGenerator:
    """core.stages.MotionGenerator, PhoneDriven and Conditioned. ``phones``: a generator that
    needs phone timings (TeacherGenerator); ``audio``: one that needs none; ``audio_name`` names
    it in status lines."""

    def __init__(self, phones: MotionGenerator, audio: MotionGenerator, *, audio_name: str = "audio") -> None:
        if abs(phones.fps - audio.fps) > 1e-9:
            raise ValueError(f"parts at {phones.fps} and {audio.fps} fps, expected one frame rate")
        self.phones, self.audio, self.audio_name = phones, audio, audio_name
        self.fps = float(phones.fps)
        self.lookahead = max(float(phones.lookahead), float(audio.lookahead))
        self._audio_conditioned = isinstance(audio, Conditioned)
        self._phones_conditioned = isinstance(phones, Conditioned)
        self._emotion = Emotion()
        self._recipe_from = self._recipe_to = np.zeros(len(ALL_CHANNELS), np.float32)
        self._recipe_t0 = -math.inf  # stream time the recipe blend starts
        self._recipe_blend = EMOTION_BLEND
        self._last: np.ndarray | None = None  # the last frame handed out (after the seam blend)
        self._pending_phones: list[Phoneme] = []
        self.reset()

    # -- MotionGenerator -------------------------------------------------------------------
    def reset(self) -> None:
        self.phones.reset()
        self.audio.reset()
        self._mode = ""
        self._held_back: list[MotionFrame] = []
        self._heard = -math.inf  # stream time of the newest feature frame's centre
        self._seam: tuple[np.ndarray, float] | None = None  # (offset at the seam, its stream time)
        self._new_segment = True
        # _last survives reset(): after an interrupt the next segment still starts where we were.

    def set_phonemes(self, phonemes) -> None:
        """Phones of the next segment (from its first sample); none: the audio model drives it."""
        self._pending_phones = list(phonemes)
        self.phones.set_phonemes(list(phonemes))

    def segment_driver(self) -> str:
        return {"phones": "teacher", "audio": self.audio_name}.get(self._mode, "")

    def set_conditions(self, conditions: Conditions) -> None:
        if self._phones_conditioned:
            self.phones.set_conditions(conditions)  # type: ignore[attr-defined]
        if self._audio_conditioned:
            self.audio.set_conditions(conditions)  # type: ignore[attr-defined]
        if conditions.emotion != self._emotion:  # for a part that cannot show it itself
            now = self._heard - self.lookahead
            self._recipe_from = self._recipe_at(now)
            self._recipe_to = recipe_vector(conditions.emotion.label, conditions.emotion.intensity).astype(np.float32)
            self._recipe_t0 = now
            self._recipe_blend = max(float(conditions.emotion_blend), 1e-3)
            self._emotion = conditions.emotion

    def push(self, features: AudioFeatures) -> list[MotionFrame]:
        if not len(features):
            return []
        if not self._mode:
            self._mode = "phones" if self._pending_phones else "audio"
            self._pending_phones = []
        part = self.phones if self._mode == "phones" else self.audio
        self._heard = float(features.t) + (len(features) - 1) / RATE
        self._held_back += part.push(features)
        return self._release(final=False)

    def flush(self) -> list[MotionFrame]:
        if self._mode:
            part = self.phones if self._mode == "phones" else self.audio
            self._held_back += part.flush()
        out = self._release(final=True)
        self._mode = ""
        self._pending_phones = []
        return out

    # -- internals ------------------------------------------------------------------------
    def _recipe_at(self, t: float) -> np.ndarray:
        w = min(1.0, max(0.0, (t - self._recipe_t0) / self._recipe_blend))
        return self._recipe_from + (self._recipe_to - self._recipe_from) * np.float32(w)

    def _release(self, final: bool) -> list[MotionFrame]:
        """Frames whose audio lookahead has arrived (all of them at the end of a segment)."""
        due = self._heard - self.lookahead + 1e-6
        out = []
        while self._held_back and (final or self._held_back[0].t <= due):
            f = self._held_back.pop(0)
            v = f.to_vector()
            part_conditioned = self._phones_conditioned if self._mode == "phones" else self._audio_conditioned
            if not part_conditioned:
                v = v + self._recipe_at(f.t)
            if self._new_segment:
                self._new_segment = False
                if self._last is not None:  # start where the last segment ended
                    self._seam = (self._last - v, f.t)
            if self._seam is not None:
                off, t0 = self._seam
                dt = max(0.0, f.t - t0)
                v = v + np.where(_MOUTH, 0.0, off * math.exp(-dt / FACE_DECAY)).astype(np.float32)
                if dt > 5 * FACE_DECAY:
                    self._seam = None
            self._last = v
            out.append(MotionFrame.from_vector(v, t=f.t))
        if final:
            self._new_segment = True
        return out


def create(fps: float = 30.0, seed: int = 0, audio: str | None = None, **options) -> PerSourceGenerator:
    """The `auto` generator: teacher for speech with phones, ``audio`` (default: diffusion when its
    model is here, else envelope) for audio without. options go to the audio part."""
    from . import _diffusion_ready, get_generator
    from .teacher import TeacherGenerator

    name = audio or ("diffusion" if _diffusion_ready() else "envelope")
    return PerSourceGenerator(TeacherGenerator(fps=fps, seed=seed), get_generator(name, fps=fps, seed=seed, **options),
                              audio_name=name)
