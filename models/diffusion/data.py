"""Training windows for the motion diffusion model: corpus utterances -> normalised numpy batches.

Windows are cut at random from whole utterances (audio context gathered exactly as the runtime does,
via core.generators.diffusion.gather_context) and given a random known prefix and random held channels,
so one network learns streaming continuation and control inpainting. Numpy only; torch sees arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from marionette.core.generators.diffusion import AUDIO_RATE, N_AUDIO, N_EMOTION, gather_context
from marionette.core.types import MOTION_HIGH, MOTION_LOW, N_CHANNELS


@dataclass
class Utterance:
    """One training example. audio: (M, 84) raw audio vectors at 100 Hz, row 0 centred at
    ``centre_offset`` s after the audio start. motion: (T, 58) teacher track at ``fps``, frame 0 at the
    audio start. emotion: (8,) one-hot * intensity."""

    name: str
    audio: np.ndarray
    motion: np.ndarray
    emotion: np.ndarray
    fps: float
    centre_offset: float = 0.0


@dataclass(frozen=True, kw_only=True)
class DataConfig:
    fps: float = 25.0
    window: int = 20
    context_before: float = 0.16  # s of audio before each frame the model hears
    lookahead: float = 0.12  # s of audio after each frame (lips move before the sound)
    context_step: float = 0.01
    p_no_prefix: float = 0.15  # windows with no known past (stream start)
    p_held: float = 0.2  # windows with random channels held fixed
    known_noise: float = 0.02  # noise on known values so generated (imperfect) pasts are familiar
    # Level and colour augmentation of the audio the model hears: voices and microphones differ in
    # gain and spectral tilt, and the mouth should not depend on either.
    gain_db: float = 6.0  # uniform +-, on loudness and log-mel together
    tilt: float = 0.5  # uniform +-, natural-log units from the lowest to the highest mel band
    # Speaker normalisation (core.generators.diffusion.MelNormConfig): rows of speech the prior counts
    # as (0 = off) and the running mean's memory. Applied to whole utterances before windowing, from a
    # fresh state, exactly as the runtime meets a stream.
    mel_norm_frames: float = 0.0
    mel_norm_max: float = 3000.0

    @property
    def offsets(self) -> np.ndarray:
        n = int(round((self.context_before + self.lookahead) / self.context_step)) + 1
        return np.round(-self.context_before + self.context_step * np.arange(n), 6)


@dataclass
class Stats:
    motion_mean: np.ndarray
    motion_std: np.ndarray
    audio_mean: np.ndarray
    audio_std: np.ndarray
    audio_silence: np.ndarray
    mel_prior: np.ndarray | None = None  # (80,) mean log-mel of the speech rows (speaker normalisation)

    def to_json(self) -> dict:
        return {k: [round(float(x), 6) for x in getattr(self, k)] for k in self.__dataclass_fields__
                if getattr(self, k) is not None}

    @classmethod
    def from_json(cls, doc: dict) -> "Stats":
        return cls(**{k: np.asarray(v, np.float32) for k, v in doc.items()})


def speech_mel_mean(utts: list[Utterance]) -> np.ndarray:
    """Mean raw log-mel over the rows the VAD calls speech: the speaker normaliser's prior."""
    total, n = np.zeros(80), 0
    for u in utts:
        speech = u.audio[:, 83] > 0.5
        total += u.audio[speech, :80].sum(0)
        n += int(speech.sum())
    return (total / max(n, 1)).astype(np.float32)


def mel_norm_config(cfg: DataConfig, stats: Stats):
    """The runtime's MelNormConfig for a data config, or None when normalisation is off."""
    from marionette.core.generators.diffusion import MelNormConfig

    if cfg.mel_norm_frames <= 0 or stats.mel_prior is None:
        return None
    return MelNormConfig(np.asarray(stats.mel_prior, np.float32), cfg.mel_norm_frames, cfg.mel_norm_max)


def normalise_speakers(utts: list[Utterance], norm) -> list[Utterance]:
    """Each utterance's audio through a fresh MelMeanNormaliser (None: unchanged)."""
    from marionette.core.generators.diffusion import MelMeanNormaliser

    if norm is None:
        return utts
    return [replace(u, audio=MelMeanNormaliser(norm)(u.audio)) for u in utts]


def compute_stats(utts: list[Utterance]) -> Stats:
    motion = np.concatenate([u.motion for u in utts]).astype(np.float64)
    audio = np.concatenate([u.audio for u in utts]).astype(np.float64)
    # A floor of 0.5 % of each channel's range: a channel the teacher never moves stays exactly at its mean,
    # and a rarely moved one cannot dominate the loss through a tiny std.
    floor = 0.005 * (MOTION_HIGH - MOTION_LOW)
    silence = np.percentile(audio, 1, axis=0)
    silence[81:] = 0.0  # log-f0, voiced and vad are 0 in silence
    return Stats(
        motion_mean=motion.mean(0).astype(np.float32),
        motion_std=np.maximum(motion.std(0), floor).astype(np.float32),
        audio_mean=audio.mean(0).astype(np.float32),
        audio_std=np.maximum(audio.std(0), 1e-3).astype(np.float32),
        audio_silence=silence.astype(np.float32),
    )


@dataclass
class Batch:
    target: np.ndarray  # (B, N, C) normalised x0
    known: np.ndarray  # (B, N, C) normalised known values (0 where unknown)
    mask: np.ndarray  # (B, N, C) 1 = known
    audio: np.ndarray  # (B, N, K, 84) normalised
    emotion: np.ndarray  # (B, N, 8)


@dataclass
class WindowSampler:
    utts: list[Utterance]
    stats: Stats
    cfg: DataConfig
    _weights: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        lengths = np.array([len(u.motion) for u in self.utts], np.float64)
        self._weights = lengths / lengths.sum()

    def windows(self, rng: np.random.Generator, b: int) -> Batch:
        cfg, st = self.cfg, self.stats
        n = cfg.window
        offsets = cfg.offsets
        target = np.empty((b, n, N_CHANNELS), np.float32)
        audio = np.empty((b, n, len(offsets), N_AUDIO), np.float32)
        emotion = np.empty((b, n, N_EMOTION), np.float32)
        for i, u in enumerate(rng.choice(len(self.utts), size=b, p=self._weights)):
            utt = self.utts[u]
            t_len = len(utt.motion)
            # Windows may start up to half a window before the audio (stream start: silence before).
            start = int(rng.integers(-(n // 2), max(t_len - n, 0) + 1))
            frames = np.arange(start, start + n)
            target[i] = utt.motion[np.clip(frames, 0, t_len - 1)]
            pos = ((frames[:, None] / utt.fps + offsets[None, :]) - utt.centre_offset) * AUDIO_RATE
            audio[i] = gather_context(utt.audio, pos, st.audio_silence)
            emotion[i] = utt.emotion
        if cfg.gain_db > 0 or cfg.tilt > 0:
            gain = rng.uniform(-cfg.gain_db, cfg.gain_db, b).astype(np.float32)
            tilt = rng.uniform(-cfg.tilt, cfg.tilt, b).astype(np.float32)
            bands = np.linspace(-1.0, 1.0, 80, dtype=np.float32)
            # dB of power -> natural log of power: x 0.1 ln 10.
            audio[..., :80] += (gain[:, None] * 0.2302585 + tilt[:, None] * bands[None, :])[:, None, None, :]
            audio[..., 80] += gain[:, None, None]
        target = (target - st.motion_mean) / st.motion_std
        audio = (audio - st.audio_mean) / st.audio_std
        mask = np.zeros_like(target)
        # Known past: mostly the runtime's case (all but the last 1-4 frames), sometimes any length.
        runtime_like = rng.random(b) < 0.5
        prefix = np.where(runtime_like, n - rng.integers(1, 5, b), rng.integers(1, n, b))
        prefix[rng.random(b) < cfg.p_no_prefix] = 0
        mask[np.arange(n)[None, :] < prefix[:, None]] = 1.0
        held = rng.random(b) < cfg.p_held
        chans = (rng.random((b, N_CHANNELS)) < 0.15) & held[:, None]
        mask = np.maximum(mask, chans[:, None, :].astype(np.float32))
        known = (target + cfg.known_noise * rng.standard_normal(target.shape).astype(np.float32)) * mask
        return Batch(target, known.astype(np.float32), mask, audio, emotion)


def synthetic_corpus(n: int, seed: int, fps: float = 25.0, seconds: float = 6.0) -> list[Utterance]:
    """Toy utterances where jawOpen follows loudness 80 ms later and emotion lifts mouthSmile: enough
    to test that the model, sampler and runtime learn and carry a signal, no corpus needed."""
    from marionette.core.motion_space import CHANNEL_INDEX

    rng = np.random.default_rng(seed)
    utts = []
    for k in range(n):
        m = int(seconds * AUDIO_RATE)
        env = np.convolve(rng.random(m) < 0.03, np.hanning(25), mode="same")
        env = np.clip(env, 0, 1) * (rng.random() * 0.5 + 0.5)
        audio = np.zeros((m, N_AUDIO), np.float32)
        audio[:, :80] = -15 + 12 * env[:, None] + 0.3 * rng.standard_normal((m, 80))
        audio[:, 80] = -80 + 60 * env
        audio[:, 83] = env > 0.1
        t = int(seconds * fps)
        motion = np.zeros((t, N_CHANNELS), np.float32)
        motion[:, 5] = 1.0
        frame_t = np.arange(t) / fps
        motion[:, CHANNEL_INDEX["jawOpen"]] = np.interp(frame_t + 0.08, np.arange(m) / AUDIO_RATE, env) * 0.8
        motion[:, CHANNEL_INDEX["yaw"]] = 3 * np.sin(2 * np.pi * (0.3 * frame_t + rng.random()))
        emo = np.zeros(N_EMOTION, np.float32)
        label = int(rng.integers(0, 2))  # neutral or happy
        emo[label] = 1.0
        motion[:, CHANNEL_INDEX["mouthSmileLeft"]] = 0.6 * label
        motion[:, CHANNEL_INDEX["mouthSmileRight"]] = 0.6 * label
        utts.append(Utterance(f"synthetic{k}", audio, motion, emo, fps))
    return utts
