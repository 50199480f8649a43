"""The typed boundaries between pipeline stages.

AudioSource -AudioChunk-> FeatureExtractor -AudioFeatures-> MotionGenerator -MotionFrame->
ControlMixer -MotionFrame-> Renderer -VideoFrame-> sinks. Shapes and units live here, once;
no string-keyed dicts travel between stages.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Iterable, Mapping

import numpy as np

from .motion_space import (
    ALL_CHANNELS,
    ARKIT_BLENDSHAPES,
    BLENDSHAPE_INDEX,
    BLENDSHAPE_RANGE,
    CHANNEL_INDEX,
    EMOTIONS,
    NEUTRAL_POSE,
    POSE_CHANNELS,
    POSE_RANGES,
    check_channel,
)

N_BLENDSHAPES = len(ARKIT_BLENDSHAPES)
N_CHANNELS = len(ALL_CHANNELS)


@dataclass(frozen=True)
class Clamp:
    """One value that was outside its channel's range and was clamped."""

    channel: str
    requested: float
    applied: float


@dataclass(frozen=True, eq=False)
class MotionFrame:
    """Head pose and the 52 ARKit blendshapes at one instant.

    pitch/yaw/roll: degrees (pitch + = looking down, yaw + = turning to the subject's left,
    roll + = clockwise in the image). tx/ty: face widths (+ = image right/down). scale: factor.
    blendshapes: float32 (52,) in ARKIT_BLENDSHAPES order, each 0..1.
    t: presentation time in seconds on the pipeline clock.
    Frames are immutable; use ``replace`` / ``with_channels`` to derive new ones.
    """

    pitch: float = 0.0
    yaw: float = 0.0
    roll: float = 0.0
    tx: float = 0.0
    ty: float = 0.0
    scale: float = 1.0
    blendshapes: np.ndarray = field(default_factory=lambda: np.zeros(N_BLENDSHAPES, np.float32))
    t: float = 0.0

    def __post_init__(self) -> None:
        bs = np.asarray(self.blendshapes, dtype=np.float32)
        if bs.shape != (N_BLENDSHAPES,):
            raise ValueError(f"blendshapes shape {bs.shape}, expected ({N_BLENDSHAPES},) in ARKit order")
        bs = bs.copy()
        bs.flags.writeable = False
        object.__setattr__(self, "blendshapes", bs)

    # --- access by name ---------------------------------------------------------------
    def __getitem__(self, name: str) -> float:
        check_channel(name)
        if name in NEUTRAL_POSE:
            return float(getattr(self, name))
        return float(self.blendshapes[BLENDSHAPE_INDEX[name]])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MotionFrame):
            return NotImplemented
        return self.t == other.t and np.array_equal(self.to_vector(), other.to_vector())

    def __hash__(self) -> int:
        return hash((self.t, self.to_vector().tobytes()))

    def replace(self, **changes: object) -> "MotionFrame":
        return dataclasses.replace(self, **changes)

    def with_channels(self, values: Mapping[str, float]) -> "MotionFrame":
        """A copy with the named channels set (names checked, values not clamped)."""
        vec = self.to_vector()
        for name, value in values.items():
            vec[CHANNEL_INDEX[check_channel(name)]] = float(value)
        return MotionFrame.from_vector(vec, t=self.t)

    # --- flat vector form (pose then blendshapes), used by tracks and generators ------
    def to_vector(self) -> np.ndarray:
        """float32 (58,): pitch, yaw, roll, tx, ty, scale, then the 52 blendshapes."""
        out = np.empty(N_CHANNELS, np.float32)
        out[:6] = (self.pitch, self.yaw, self.roll, self.tx, self.ty, self.scale)
        out[6:] = self.blendshapes
        return out

    @classmethod
    def from_vector(cls, vec: np.ndarray, t: float = 0.0) -> "MotionFrame":
        vec = np.asarray(vec, dtype=np.float32)
        if vec.shape != (N_CHANNELS,):
            raise ValueError(f"motion vector shape {vec.shape}, expected ({N_CHANNELS},)")
        p = [float(x) for x in vec[:6]]
        return cls(p[0], p[1], p[2], p[3], p[4], p[5], vec[6:], t)

    # --- dict form (sparse: absent channels take their neutral value) ---------------
    def to_dict(self, *, nonzero_only: bool = False) -> dict[str, float]:
        vec = self.to_vector()
        out = {}
        for name, value in zip(ALL_CHANNELS, vec.tolist()):
            neutral = NEUTRAL_POSE.get(name, 0.0)
            if nonzero_only and value == neutral:
                continue
            out[name] = round(value, 6)
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, float], t: float = 0.0) -> "MotionFrame":
        """Unknown names raise UnknownChannelError (listing the valid ones); no clamping."""
        return cls(t=t).with_channels(values)

    def clamped(self) -> tuple["MotionFrame", list[Clamp]]:
        """This frame clamped to the motion space, with a report of every value that moved."""
        vec = self.to_vector()
        lo, hi = MOTION_LOW, MOTION_HIGH
        bad = np.flatnonzero(~np.isfinite(vec) | (vec < lo) | (vec > hi))
        if bad.size == 0:
            return self, []
        new = vec.copy()
        neutral = NEUTRAL_VECTOR
        new = np.where(np.isfinite(new), new, neutral)
        new = np.clip(new, lo, hi)
        report = [Clamp(ALL_CHANNELS[i], float(vec[i]), float(new[i])) for i in bad]
        return MotionFrame.from_vector(new, t=self.t), report


MOTION_LOW = np.array([POSE_RANGES[c][0] for c in POSE_CHANNELS] + [BLENDSHAPE_RANGE[0]] * N_BLENDSHAPES, np.float32)
MOTION_HIGH = np.array([POSE_RANGES[c][1] for c in POSE_CHANNELS] + [BLENDSHAPE_RANGE[1]] * N_BLENDSHAPES, np.float32)
NEUTRAL_VECTOR = np.array([NEUTRAL_POSE[c] for c in POSE_CHANNELS] + [0.0] * N_BLENDSHAPES, np.float32)


@dataclass(frozen=True, eq=False)
class VideoFrame:
    """One rendered picture. image: uint8 (H, W, 3) RGB. t: presentation time (s). index: frame number."""

    image: np.ndarray
    t: float
    index: int

    def __post_init__(self) -> None:
        img = self.image
        if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            shape = getattr(img, "shape", None)
            dtype = getattr(img, "dtype", type(img).__name__)
            raise TypeError(f"VideoFrame image {dtype} {shape}, expected uint8 (H, W, 3) RGB")

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])


@dataclass(frozen=True, eq=False)
class AudioChunk:
    """A piece of audio. samples: float32 (N,) mono in -1..1. sample_rate: Hz. t: time of the first sample (s)."""

    samples: np.ndarray
    sample_rate: int
    t: float = 0.0

    @property
    def duration(self) -> float:
        return len(self.samples) / float(self.sample_rate)


@dataclass(frozen=True, eq=False)
class AudioFeatures:
    """Per-frame audio features at ``frame_rate`` Hz (100 Hz: 10 ms hop, 25 ms window, 16 kHz).

    mel: float32 (T, 80) log-mel. loudness: float32 (T,) dBFS. f0: float32 (T,) Hz, 0 where unvoiced.
    vad: float32 (T,) speech probability 0..1. t: time of the first frame's centre (s).
    """

    mel: np.ndarray
    loudness: np.ndarray
    f0: np.ndarray
    vad: np.ndarray
    frame_rate: float = 100.0
    t: float = 0.0

    def __len__(self) -> int:
        return int(self.mel.shape[0])


@dataclass(frozen=True)
class Phoneme:
    """One phone with its timing. symbol: ARPAbet without stress digits ("AA", "M", "SIL").
    start/end: seconds from the start of the utterance."""

    symbol: str
    start: float
    end: float


@dataclass(frozen=True)
class Emotion:
    """One of Ditto's 8 emotion labels with an intensity 0..1."""

    label: str = "neutral"
    intensity: float = 1.0

    def __post_init__(self) -> None:
        if self.label not in EMOTIONS:
            raise ValueError(f"unknown emotion {self.label!r}; expected one of {', '.join(EMOTIONS)}")
        if not (0.0 <= float(self.intensity) <= 1.0):
            raise ValueError(f"emotion intensity {self.intensity}, expected 0..1")


def neutral_frames(n: int, fps: float) -> Iterable[MotionFrame]:
    for i in range(n):
        yield MotionFrame(t=i / fps)


@dataclass(frozen=True)
class Conditions:
    """What the controls ask of the generator, handed forward by the frame loop each tick.

    emotion: the emotion to speak with (the generator shows it: recipe and talking style), blended
    in over emotion_blend seconds from the next frame it generates.
    held: channels fixed by a control (name -> value in motion-space units) that the generator
    keeps as given (inpainting) so generation and control agree instead of fighting."""

    emotion: Emotion = Emotion()
    held: Mapping[str, float] = field(default_factory=dict)
    emotion_blend: float = 0.5  # s over which a new emotion blends in (the control's transition)


@dataclass(frozen=True)
class TimedPhonemes:
    """The phones of one utterance we play.

    t: clock time (s) at which the utterance's first sample is released to the pipeline.
    duration: seconds of its audio. phonemes: timings in seconds from the utterance's first sample.
    label: the speech segment it belongs to (for logs)."""

    t: float
    duration: float
    phonemes: tuple[Phoneme, ...]
    label: str = ""


@dataclass(frozen=True)
class SpeechMark:
    """An utterance we play starts or ends. t: clock time; a source stamps the moment the sample
    is released, the engine re-stamps it with the moment it is heard (with the picture that shows it)."""

    t: float
    kind: str  # "start" | "end"
    label: str = ""
