"""The teacher: phone timings (+ optional audio features) -> a full motion track.

Mouth from the viseme blend (coarticulation.py), brows and nods from prosody, blinks, sway and
gaze from life.py, then the emotion: its FACS recipe (core.control.emotions) added on top and its
talking style (emotions.json) scaling each part. Every frame is a function of its time, so the
streaming generator and the offline track agree exactly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.resources import files
from typing import Sequence

import numpy as np

from ..control.emotions import recipe_vector
from ..motion_space import CHANNEL_INDEX, EMOTIONS
from ..track import MotionTrack
from ..types import MOTION_HIGH, MOTION_LOW, NEUTRAL_VECTOR, AudioFeatures, Emotion, Phoneme
from . import prosody
from .coarticulation import blend, segments
from .life import Life, LifeConfig
from .visemes import VisemeTable, load_table

_MOUTH_SPEECH = [CHANNEL_INDEX[c] for c in (
    "jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthPressLeft", "mouthPressRight", "mouthRollLower",
    "mouthRollUpper", "mouthUpperUpLeft", "mouthUpperUpRight", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthStretchLeft", "mouthStretchRight", "mouthShrugLower", "mouthShrugUpper", "mouthSmileLeft",
    "mouthSmileRight", "tongueOut")]
_J, _C = CHANNEL_INDEX["jawOpen"], CHANNEL_INDEX["mouthClose"]
_SMILES = [CHANNEL_INDEX["mouthSmileLeft"], CHANNEL_INDEX["mouthSmileRight"]]
_ROUND = [CHANNEL_INDEX["mouthFunnel"], CHANNEL_INDEX["mouthPucker"]]
SILENT = frozenset({"SIL", "SP", "SPN", "NSN", ""})
BILABIAL = frozenset({"M", "B", "P"})
REST_PAUSE = 0.15  # s: a pause at least this long is a rest (shorter ones are gaps between words)
REST_IN, REST_OUT, REST_RAMP = 0.06, 0.06, 0.05  # s: the lips meet this long after speech stops, part before it starts


@dataclass(frozen=True, kw_only=True)
class TeacherConfig:
    """lead_on/lead_off: how far (s) the visual span of a phone starts/ends before its sound.
    brow/nod gains: brow raise per unit pitch rise, head pitch (deg) per unit emphasis."""

    language: str = "en"
    lead_on: float = 0.0  # measured against the audio (eval articulation): |lag| <= 10 ms at 0
    lead_off: float = 0.0
    exponent: float = 2.0
    closure_tau: float | None = 0.02  # s: how fast the lips part after (meet before) a bilabial's span
    min_closure: float = 0.04  # s: the shortest lip closure (longer than a 30 fps frame: no frame grid steps over one)
    rest_close: float = 0.05  # mouthClose at rest when the jaw is (nearly) shut
    brow_inner: float = 0.35
    brow_outer: float = 0.25
    brow_emphasis: float = 0.12
    nod_deg: float = 2.0
    speaking_sway: float = 1.5  # idle sway is this much larger while talking
    life: LifeConfig = field(default_factory=LifeConfig)


@lru_cache(maxsize=None)
def emotion_styles() -> dict[str, dict[str, float]]:
    doc = json.loads(files(__package__).joinpath("emotions.json").read_text())
    styles = {k: v for k, v in doc.items() if not k.startswith("_")}
    missing = set(EMOTIONS) - set(styles)
    if missing:
        raise ValueError(f"emotions.json lacks {sorted(missing)}")
    return styles


def _style(emotion: Emotion, key: str) -> float:
    # Intensity 0 is neutral; 1 is the table's value; linear in between.
    return 1.0 + (emotion_styles()[emotion.label][key] - 1.0) * float(emotion.intensity)


class Teacher:
    """Motion for one utterance. Construct with the phones; ask for any frame times."""

    def __init__(self, phonemes: Sequence[Phoneme], *, seed: int = 0, emotion: Emotion | None = None,
                 config: TeacherConfig | None = None, table: VisemeTable | None = None) -> None:
        self.config = config or TeacherConfig()
        self.table = table or load_table(self.config.language)
        self.emotion = emotion or Emotion()
        self.phonemes = list(phonemes)
        self._segs = segments(self.phonemes, self.table)
        self._life = Life(seed, self.config.life, blink_rate=_style(self.emotion, "blink_rate"))
        self._recipe = recipe_vector(self.emotion.label, self.emotion.intensity).astype(np.float32)

    @property
    def lookahead(self) -> float:
        """Seconds of audio after a frame that the frame depends on."""
        return prosody.LOOKAHEAD

    def set_emotion(self, emotion: Emotion) -> None:
        self.emotion = emotion
        self._recipe = recipe_vector(emotion.label, emotion.intensity).astype(np.float32)

    def values(self, times: np.ndarray, features: AudioFeatures | None = None) -> np.ndarray:
        """float32 (T, 58) motion at ``times`` (s from the utterance start), clipped to the motion space."""
        cfg, emo = self.config, self.emotion
        times = np.asarray(times, np.float64)
        mouth, closure = blend(times, self._segs, self.table, lead_on=cfg.lead_on, lead_off=cfg.lead_off,
                               exponent=cfg.exponent, closure_tau=cfg.closure_tau, min_closure=cfg.min_closure)
        out = np.tile(NEUTRAL_VECTOR, (times.size, 1)).astype(np.float32)
        out[:, _MOUTH_SPEECH] += mouth[:, _MOUTH_SPEECH] * _style(emo, "articulation")
        if features is not None:
            emphasis, rise, activity = prosody.from_features(times, features)
        else:
            emphasis, rise, activity = prosody.from_phonemes(times, self.phonemes)
        brows = _style(emo, "brows")
        out[:, CHANNEL_INDEX["browInnerUp"]] += brows * (cfg.brow_inner * rise + cfg.brow_emphasis * emphasis)
        for side in ("Left", "Right"):
            out[:, CHANNEL_INDEX[f"browOuterUp{side}"]] += brows * cfg.brow_outer * rise
        out[:, CHANNEL_INDEX["pitch"]] += _style(emo, "nods") * cfg.nod_deg * emphasis
        sway_gain = _style(emo, "sway") * (1.0 + (cfg.speaking_sway - 1.0) * activity)
        out += self._life.frame_values(times, sway_gain)
        self._add_recipe(out)
        # Lips meet at a closing phone's span, whatever the jaw does
        # (neighbouring open vowels, an emotion's dropped jaw): mouthClose takes up the gap.
        c = np.clip((closure - 0.2) / 0.6, 0.0, 1.0)
        c = c * c * (3 - 2 * c)
        out[:, _C] += c * np.maximum(out[:, _J] - out[:, _C], 0.0)
        # At rest the lips are together: mouthClose at least the jaw (and never under REST_CLOSE, so a
        # portrait shot with parted lips seals too; the renderer reads mouthClose relative to jawOpen).
        r = self._rest(times)
        out[:, _C] = np.maximum(out[:, _C], r * np.maximum(out[:, _J], cfg.rest_close))
        return np.clip(out, MOTION_LOW, MOTION_HIGH)

    def _rest(self, times: np.ndarray) -> np.ndarray:
        """0..1: how far the mouth is at rest: 1 inside a pause of at least REST_PAUSE s (and before
        the first / after the last phone) from REST_IN s after it starts to REST_OUT s before it ends,
        smooth ramps of REST_RAMP s; 0 elsewhere, so no spoken phone is touched."""
        spoken = [p for p in self.phonemes if p.symbol not in SILENT]
        out = np.zeros(times.size)
        if not spoken:
            return out + 1.0
        gaps = [(None, spoken[0])] + [(a, b) for a, b in zip(spoken, spoken[1:])
                                      if b.start - a.end >= REST_PAUSE] + [(spoken[-1], None)]
        for before, after in gaps:
            a = -np.inf if before is None else before.end
            b = np.inf if after is None else after.start
            # Next to an M/B/P the lips stay together: its own closure takes over at its edge.
            if before is not None and before.symbol in BILABIAL:
                up = (times >= a).astype(np.float64)
            else:
                up = np.clip((times - a - REST_IN) / REST_RAMP, 0.0, 1.0)
            if after is not None and after.symbol in BILABIAL:
                down = (times < b).astype(np.float64)
            else:
                down = np.clip((b - REST_OUT - times) / REST_RAMP, 0.0, 1.0)
            w = np.minimum(up, down)
            out = np.maximum(out, w * w * (3 - 2 * w))
        return out

    def _add_recipe(self, out: np.ndarray) -> None:
        rounding = np.clip(out[:, _ROUND].sum(axis=1), 0, 1)
        add = np.tile(self._recipe, (out.shape[0], 1))
        add[:, _SMILES] *= (1.0 - rounding)[:, None]  # a smile cannot survive lip rounding
        out += add

    def blink_onsets(self, until: float) -> np.ndarray:
        return self._life.blink_onsets(until)


def teach(phonemes: Sequence[Phoneme], *, fps: float = 30.0, duration: float | None = None,
          features: AudioFeatures | None = None, emotion: Emotion | None = None, seed: int = 0,
          config: TeacherConfig | None = None) -> MotionTrack:
    """The motion track for an utterance: frame i at i/fps s; ``duration`` defaults to the last phone's end."""
    if duration is None:
        duration = max((p.end for p in phonemes), default=0.0)
        if features is not None and len(features):
            duration = max(duration, features.t + len(features) / features.frame_rate)
    n = int(np.ceil(duration * fps - 1e-9))
    teacher = Teacher(phonemes, seed=seed, emotion=emotion, config=config)
    return MotionTrack(fps, teacher.values(np.arange(n) / fps, features))
