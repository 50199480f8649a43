"""Streaming motion generator: the small motion-space diffusion model (models/diffusion) under onnxruntime.

Audio features arrive at 100 Hz; every ``hop`` motion frames, once the audio ``lookahead`` behind the
last of them has arrived, one window of ``window`` frames is denoised in a few DDIM steps, the earlier
frames of the window being the ones already emitted (inpainted as known, so windows join without a
seam). Trade-off: a short hop keeps the first-frame delay low at the price of more model calls per frame.
No torch here: the schedule, sampler and feature gathering are numpy and are reused by training.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from ..errors import InputError
from ..motion_space import CHANNEL_INDEX, EMOTIONS, check_channel
from ..types import MOTION_HIGH, MOTION_LOW, N_CHANNELS, AudioFeatures, Conditions, Emotion, MotionFrame, Phoneme

FORMAT_NAME = "marionette.diffusion"
AUDIO_RATE = 100.0  # AudioFeatures frame rate the model was trained on
N_AUDIO = 84  # per 10 ms: 80 log-mel, loudness, log-f0 (0 unvoiced), voiced flag, vad
N_EMOTION = len(EMOTIONS)


def _shipped_dir() -> Path:
    # The weights ship in the marionette.models package (models/diffusion in the repository), which
    # resolves the same way in an editable checkout and in an installed wheel.
    from importlib.resources import files

    return Path(str(files("marionette.models"))) / "diffusion"


DEFAULT_DIR = _shipped_dir()


# ----------------------------------------------------------------------------- schedule
def alpha_bar(t: np.ndarray, n_steps: int) -> np.ndarray:
    """Cosine schedule (Nichol & Dhariwal 2021, eq. 17): signal fraction at integer step t of n_steps."""
    s = 0.008
    f = lambda u: np.cos((u / n_steps + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
    return np.clip(f(np.asarray(t, np.float64)) / f(0.0), 1e-5, 1.0)


def ddim_timesteps(steps: int, n_steps: int) -> list[int]:
    """Evenly spaced steps from the noisiest down; the last one is not 0 because the model predicts x0
    directly, so the final prediction is the output (1 step = one x0 prediction from pure noise)."""
    if steps < 1:
        raise ValueError(f"sampling steps {steps}, expected >= 1")
    return [n_steps * (steps - i) // steps - 1 for i in range(steps)]


def audio_vector(features: AudioFeatures) -> np.ndarray:
    """(T, 84) float32 raw per-10ms vector the model reads: mel, loudness, log2(f0/100) or 0, voiced, vad."""
    f0 = np.asarray(features.f0, np.float32)
    voiced = f0 > 0
    logf0 = np.where(voiced, np.log2(np.maximum(f0, 1.0) / 100.0), 0.0)
    out = np.concatenate(
        [
            np.asarray(features.mel, np.float32).reshape(len(features), 80),
            np.asarray(features.loudness, np.float32)[:, None],
            logf0[:, None].astype(np.float32),
            voiced[:, None].astype(np.float32),
            np.asarray(features.vad, np.float32)[:, None],
        ],
        axis=1,
    )
    # NaN/inf never reach the model: a broken frame becomes a very quiet one.
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=-100.0)


def gather_context(rows: np.ndarray, positions: np.ndarray, silence: np.ndarray) -> np.ndarray:
    """Linear interpolation of ``rows`` (M, F) at fractional row ``positions`` (...,), silence outside.

    Used for both training and streaming so the model sees identical inputs. Positions before the
    first row or after the last read as ``silence`` (F,).
    """
    m = rows.shape[0]
    lo = np.floor(positions).astype(np.int64)
    w = (positions - lo).astype(np.float32)[..., None]
    def take(idx: np.ndarray) -> np.ndarray:
        inside = (idx >= 0) & (idx < m)
        got = rows[np.clip(idx, 0, max(m - 1, 0))] if m else np.broadcast_to(silence, idx.shape + silence.shape)
        return np.where(inside[..., None], got, silence)
    return take(lo) * (1.0 - w) + take(lo + 1) * w


@dataclass(frozen=True)
class MelNormConfig:
    """Running spectral mean normalisation of the log-mel rows (cepstral mean normalisation's idea):
    each row is shifted by (prior - running mean of the speech rows so far), so a voice or microphone
    whose average spectrum differs from the training data's reaches the model looking like it.

    prior: (80,) mean log-mel of speech in the training corpus; prior_frames: how many rows of speech
    the prior counts as at the start (a short start is trusted less); max_frames: the running mean
    forgets beyond this many rows of speech, so a new voice is followed within about that long."""

    prior: np.ndarray
    prior_frames: float = 50.0
    max_frames: float = 3000.0
    vad_threshold: float = 0.5

    def to_json(self) -> dict:
        return {"prior": [round(float(x), 5) for x in self.prior], "prior_frames": self.prior_frames,
                "max_frames": self.max_frames, "vad_threshold": self.vad_threshold}

    @classmethod
    def from_json(cls, doc: Mapping) -> "MelNormConfig":
        prior = np.asarray(doc["prior"], np.float32)
        if prior.shape != (80,):
            raise InputError(f"mel_norm prior of shape {prior.shape}, expected (80,)")
        return cls(prior, float(doc["prior_frames"]), float(doc["max_frames"]), float(doc.get("vad_threshold", 0.5)))


class MelMeanNormaliser:
    """Stateful and causal: rows are normalised in arrival order with only the rows before them, so
    training (whole utterances, fresh state) and streaming (chunks) see identical values."""

    def __init__(self, cfg: MelNormConfig) -> None:
        self.cfg = cfg
        self.reset()

    def reset(self) -> None:
        self._mean = self.cfg.prior.astype(np.float64).copy()
        self._weight = float(self.cfg.prior_frames)

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        """(T, 84) audio vectors -> the same with their 80 log-mel columns shifted."""
        out = np.array(rows, np.float32, copy=True)
        prior, cap, thr = self.cfg.prior, self.cfg.max_frames, self.cfg.vad_threshold
        for i in range(len(out)):
            if out[i, 83] > thr:  # only speech updates the mean: silence says nothing about the voice
                self._weight = min(self._weight + 1.0, cap)
                self._mean += (out[i, :80] - self._mean) / self._weight
            out[i, :80] += (prior - self._mean).astype(np.float32)
        return out


def emotion_vector(emotion: Emotion) -> np.ndarray:
    v = np.zeros(N_EMOTION, np.float32)
    v[EMOTIONS.index(emotion.label)] = float(emotion.intensity)
    return v


# ----------------------------------------------------------------------------- model files
@dataclass(frozen=True)
class DiffusionSpec:
    """What the runtime needs from the config next to the weights (models/diffusion/diffusion.json)."""

    fps: float
    window: int
    hop: int
    audio_offsets: tuple[float, ...]  # seconds relative to each motion frame, ascending
    n_steps: int
    steps: int
    guidance: float
    centre_offset: float  # time of audio feature row 0's centre after the audio start (s)
    motion_mean: np.ndarray
    motion_std: np.ndarray
    audio_mean: np.ndarray
    audio_std: np.ndarray
    audio_silence: np.ndarray  # raw audio vector of silence, used to pad outside the stream
    mel_norm: MelNormConfig | None = None  # speaker normalisation of the features, when trained with it

    @property
    def lookahead(self) -> float:
        return max(0.0, self.audio_offsets[-1])

    @classmethod
    def from_json(cls, doc: Mapping) -> "DiffusionSpec":
        if doc.get("format") != FORMAT_NAME:
            raise InputError(f"diffusion config format {doc.get('format')!r}, expected {FORMAT_NAME!r}")
        rt, st = doc["runtime"], doc["stats"]
        arr = lambda k: np.asarray(st[k], np.float32)  # noqa: E731
        return cls(
            fps=float(rt["fps"]), window=int(rt["window"]), hop=int(rt["hop"]),
            audio_offsets=tuple(float(x) for x in rt["audio_offsets"]), n_steps=int(rt["n_steps"]),
            steps=int(rt["steps"]), guidance=float(rt["guidance"]), centre_offset=float(rt["centre_offset"]),
            motion_mean=arr("motion_mean"), motion_std=arr("motion_std"), audio_mean=arr("audio_mean"),
            audio_std=arr("audio_std"), audio_silence=arr("audio_silence"),
            mel_norm=MelNormConfig.from_json(rt["mel_norm"]) if rt.get("mel_norm") else None,
        )


def default_model_dir() -> Path:
    return DEFAULT_DIR


def model_available(model_dir: str | Path | None = None) -> bool:
    d = Path(model_dir) if model_dir else DEFAULT_DIR
    return (d / "diffusion.json").exists() and (d / "diffusion.onnx").exists()


class DiffusionModel:
    """The ONNX denoiser plus its spec; one x0 prediction per call, batch 1 or 2 (guidance)."""

    def __init__(self, spec: DiffusionSpec, session) -> None:
        self.spec = spec
        self._session = session

    @classmethod
    def load(cls, model_dir: str | Path | None = None, *, providers: list[str] | None = None) -> "DiffusionModel":
        import onnxruntime as ort

        d = Path(model_dir) if model_dir else DEFAULT_DIR
        cfg, onnx = d / "diffusion.json", d / "diffusion.onnx"
        if not (cfg.exists() and onnx.exists()):
            raise InputError(
                f"diffusion model not found: expected {cfg.name} and {onnx.name} in {d}; "
                "train one with `marionette train --corpus DIR --out DIR` or pick another generator"
            )
        spec = DiffusionSpec.from_json(json.loads(cfg.read_text()))
        opts = ort.SessionOptions()
        # One thread: the renderer owns the other core; the graph is small so threads would only add sync.
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(str(onnx), sess_options=opts, providers=providers or ["CPUExecutionProvider"])
        return cls(spec, session)

    def predict_x0(self, x_t, known, mask, t, audio, emotion, audio_keep, emo_keep) -> np.ndarray:
        feeds = {
            "x_t": x_t.astype(np.float32), "known": known.astype(np.float32), "mask": mask.astype(np.float32),
            "t": t.astype(np.float32), "audio": audio.astype(np.float32), "emotion": emotion.astype(np.float32),
            "audio_keep": audio_keep.astype(np.float32), "emo_keep": emo_keep.astype(np.float32),
        }
        return self._session.run(["x0"], feeds)[0]


def sample_window(
    predict, known: np.ndarray, mask: np.ndarray, audio: np.ndarray, emotion: np.ndarray, *,
    steps: int, n_steps: int, guidance: float, rng: np.random.Generator,
) -> np.ndarray:
    """DDIM (eta 0, Song et al. 2021 eq. 12) with x0 prediction and inpainting of ``mask``ed entries.

    known/mask: (N, C) normalised values and 1 where fixed (past frames, held channels); audio
    (N, K, F) normalised; emotion (N, 8). ``predict`` has DiffusionModel.predict_x0's signature.
    Classifier-free guidance (Ho & Salimans 2022) on audio and emotion together when guidance != 1.
    Returns (N, C) normalised x0.
    """
    n, c = known.shape
    x = rng.standard_normal((n, c)).astype(np.float32)
    ts = ddim_timesteps(steps, n_steps)
    guided = guidance != 1.0
    b = 2 if guided else 1
    rep = lambda a: np.repeat(a[None], b, axis=0)  # noqa: E731
    kn, mk, au, em = rep(known * mask), rep(mask), rep(audio), rep(emotion)
    keep = np.array([1.0, 0.0][:b], np.float32)
    x0 = known
    for i, step in enumerate(ts):
        ab = float(alpha_bar(step, n_steps))
        # Known entries enter at the same noise level as the rest (replacement inpainting).
        eps_known = rng.standard_normal((n, c)).astype(np.float32)
        x = np.where(mask > 0, math.sqrt(ab) * known + math.sqrt(1 - ab) * eps_known, x)
        out = predict(rep(x), kn, mk, np.full(b, step / n_steps, np.float32), au, em, keep, keep)
        x0 = out[0] if not guided else out[1] + guidance * (out[0] - out[1])
        x0 = np.where(mask > 0, known, x0)
        if i + 1 < len(ts):
            eps = (x - math.sqrt(ab) * x0) / math.sqrt(1 - ab)
            ab_next = float(alpha_bar(ts[i + 1], n_steps))
            x = (math.sqrt(ab_next) * x0 + math.sqrt(1 - ab_next) * eps).astype(np.float32)
    return x0.astype(np.float32)


# ----------------------------------------------------------------------------- streaming generator
class DiffusionGenerator:
    """MotionGenerator: AudioFeatures -> MotionFrames at ``fps`` with ``lookahead`` s of audio delay.

    set_emotion() blends a new emotion in over ``blend`` seconds from the next generated frame;
    set_held() fixes named channels to values (inpainting) for frames generated from then on.
    Deterministic for a seed: reset() restarts the noise sequence.
    """

    def __init__(self, model: DiffusionModel, *, fps: float | None = None, seed: int = 0,
                 steps: int | None = None, guidance: float | None = None, hop: int | None = None) -> None:
        spec = model.spec
        self.model = model
        self.spec = spec
        self.out_fps = float(fps) if fps else spec.fps
        self.steps = int(steps or spec.steps)
        self.guidance = float(spec.guidance if guidance is None else guidance)
        self.hop = int(hop or spec.hop)
        if not 1 <= self.hop < spec.window:
            raise InputError(f"diffusion hop {self.hop}, expected 1..{spec.window - 1} (window {spec.window})")
        self.seed = int(seed)
        self._offsets = np.asarray(spec.audio_offsets, np.float64)
        self._emotion = np.zeros(N_EMOTION, np.float32)
        self._emotion[0] = 1.0
        self._held: dict[int, float] = {}
        self.reset()

    @classmethod
    def load(cls, model_dir: str | Path | None = None, *, fps: float | None = None, seed: int = 0,
             providers: list | None = None, **kwargs) -> "DiffusionGenerator":
        """kwargs: steps, guidance, hop (defaults from the model's config); providers: onnxruntime's
        execution providers (CPU by default; docs/tensorrt.md for the NVIDIA path)."""
        return cls(DiffusionModel.load(model_dir, providers=providers), fps=fps, seed=seed, **kwargs)

    # -- MotionGenerator protocol ------------------------------------------------------------
    @property
    def fps(self) -> float:
        return self.out_fps

    @property
    def lookahead(self) -> float:
        """Audio that must arrive after a frame's time before it can be emitted (s): the model's
        audio lookahead plus the rest of its hop, plus output resampling when fps differs."""
        extra = 1.0 / self.spec.fps if self.out_fps != self.spec.fps else 0.0
        return self.spec.lookahead + (self.hop - 1) / self.spec.fps + extra

    def reset(self) -> None:
        self._rng = np.random.default_rng(self.seed)
        # The speaker's running spectrum outlives segments (flush): the voice is still the same one.
        self._mel_norm = MelMeanNormaliser(self.spec.mel_norm) if self.spec.mel_norm else None
        self._hist = np.zeros((0, N_CHANNELS), np.float32)  # normalised frames already emitted (model rate)
        self._emo_hist = np.zeros((0, N_EMOTION), np.float32)
        self._emo_from = self._emotion.copy()
        self._emo_ramp = (0, 1)  # (start frame, length) of the current emotion blend
        self._new_segment()

    def set_phonemes(self, phonemes: list[Phoneme]) -> None:
        """Audio-only model: a transcript is not used."""

    def set_emotion(self, emotion: Emotion, blend: float = 0.5) -> None:
        self._emo_from = self._emotion_at(self._next)
        self._emotion = emotion_vector(emotion)
        self._emo_ramp = (self._next, max(1, int(round(blend * self.spec.fps))))

    def set_conditions(self, conditions: Conditions) -> None:
        """core.stages.Conditioned: the controls' emotion (blended in from the next frame) and
        held channels (inpainted), handed forward by the live engine when they change."""
        if not np.array_equal(emotion_vector(conditions.emotion), self._emotion):
            self.set_emotion(conditions.emotion, blend=conditions.emotion_blend)
        self.set_held(conditions.held)

    def set_held(self, values: Mapping[str, float] | None) -> None:
        """Channels (name -> value in motion-space units) kept fixed in the frames generated next."""
        self._held = {CHANNEL_INDEX[check_channel(k)]: float(v) for k, v in (values or {}).items()}

    def push(self, features: AudioFeatures) -> list[MotionFrame]:
        if len(features) == 0:
            return []
        if abs(features.frame_rate - AUDIO_RATE) > 1e-6:
            raise InputError(f"audio features at {features.frame_rate} Hz, expected {AUDIO_RATE:g} Hz")
        if self._origin is None:
            self._origin = float(features.t) - self.spec.centre_offset
        rows = audio_vector(features)
        if self._mel_norm is not None:
            rows = self._mel_norm(rows)
        self._rows = np.concatenate([self._rows, rows]) if len(self._rows) else rows
        return self._run(final=False)

    def flush(self) -> list[MotionFrame]:
        frames = self._run(final=True) if self._origin is not None else []
        self._new_segment()
        return frames

    # -- internals ---------------------------------------------------------------------------
    def _new_segment(self) -> None:
        self._rows = np.zeros((0, N_AUDIO), np.float32)
        self._row0 = 0  # absolute index of self._rows[0]
        self._origin: float | None = None
        self._next = 0  # next model-rate frame to generate in this segment
        self._model_frames: list[np.ndarray] = []  # denormalised frames not yet resampled out
        self._model_t0 = 0  # model-rate index of _model_frames[0]
        self._out_next = 0  # next output-rate frame index

    def _emotion_at(self, i: int) -> np.ndarray:
        start, length = self._emo_ramp
        a = min(1.0, max(0.0, (i - start + 1) / length))
        # A squared cross-fade, not a linear one: the model was trained on intensities 0.3-1 of one
        # label at a time and its response rises steeply at low intensity, so a linear ramp showed as
        # a jump early in the blend (brows 0.3 in one hop); weighting each side by the square of its
        # share spreads the visible change (max step 0.30 -> 0.17 for neutral -> surprised).
        return ((1 - a) ** 2 * self._emo_from + a * a * self._emotion).astype(np.float32)

    def _positions(self, frames: np.ndarray) -> np.ndarray:
        """Fractional absolute audio row of each (frame, offset) pair."""
        t = frames[:, None] / self.spec.fps + self._offsets[None, :]
        return (t - self.spec.centre_offset) * AUDIO_RATE

    def _ready_frames(self, final: bool) -> int:
        """How many model-rate frames of this segment the audio so far allows."""
        n_rows = self._row0 + len(self._rows)
        duration = (n_rows - 1) / AUDIO_RATE + self.spec.centre_offset
        if final:
            return int(math.floor(duration * self.spec.fps + 1e-6)) + 1
        # Frame i needs its last context position (interpolated) inside the rows we have.
        last = (duration - self.spec.lookahead) * self.spec.fps
        return int(math.floor(last + 1e-6)) + 1 if last >= 0 else 0

    def _run(self, final: bool) -> list[MotionFrame]:
        spec = self.spec
        ready = self._ready_frames(final)
        while ready - self._next >= self.hop or (final and ready > self._next):
            self._step()
        out = self._emit(ready if final else None)
        # Audio rows older than the earliest context of the window's first frame are never read again.
        keep_from = int(math.floor(self._positions(np.array([self._next - spec.window]))[0, 0])) - 1
        if keep_from > self._row0:
            self._rows = self._rows[keep_from - self._row0:]
            self._row0 = keep_from
        return out

    def _step(self) -> None:
        spec = self.spec
        n, h = spec.window, self.hop
        held = self._held  # one snapshot: set_held() may be called from the control thread meanwhile
        first = self._next + h - n  # model-rate index of the window's first frame (may be < 0)
        frames = np.arange(first, first + n)
        audio = gather_context(self._rows, self._positions(frames) - self._row0, spec.audio_silence)
        audio = (audio - spec.audio_mean) / spec.audio_std
        past = min(len(self._hist), n - h)
        known = np.zeros((n, N_CHANNELS), np.float32)
        mask = np.zeros((n, N_CHANNELS), np.float32)
        if past:
            known[n - h - past:n - h] = self._hist[-past:]
            mask[n - h - past:n - h] = 1.0
        for c, v in held.items():
            known[n - h:, c] = (v - spec.motion_mean[c]) / spec.motion_std[c]
            mask[n - h:, c] = 1.0
        emo_new = np.stack([self._emotion_at(i) for i in range(self._next, self._next + h)])
        emotion = np.concatenate([self._emo_hist[-(n - h):], emo_new]) if len(self._emo_hist) else emo_new
        emotion = np.concatenate([np.repeat(emotion[:1], n - len(emotion), axis=0), emotion])
        x0 = sample_window(self.model.predict_x0, known, mask, audio, emotion, steps=self.steps,
                           n_steps=spec.n_steps, guidance=self.guidance, rng=self._rng)
        new = x0[n - h:]
        self._hist = np.concatenate([self._hist, new])[-(n - 1):]
        self._emo_hist = np.concatenate([self._emo_hist, emo_new])[-(n - 1):]
        values = np.clip(new * spec.motion_std + spec.motion_mean, MOTION_LOW, MOTION_HIGH)
        for c, v in held.items():
            values[:, c] = v
        self._model_frames.extend(values)
        self._next += h

    def _emit(self, limit: int | None) -> list[MotionFrame]:
        """Model-rate frames -> output-rate MotionFrames (linear interpolation when the rates differ)."""
        out = []
        ratio = self.spec.fps / self.out_fps
        have = self._model_t0 + len(self._model_frames)
        end = have if limit is None else min(have, limit)
        while True:
            pos = self._out_next * ratio  # model-rate position of the next output frame
            lo = int(math.floor(pos + 1e-9))
            frac = pos - lo
            if lo + (1 if frac > 1e-9 else 0) >= end:
                if limit is None or lo >= end:
                    break
                frac = 0.0  # last frame of a flushed segment: no right neighbour to blend with
            a = self._model_frames[lo - self._model_t0]
            vec = a if frac <= 1e-9 else (1 - frac) * a + frac * self._model_frames[lo + 1 - self._model_t0]
            out.append(MotionFrame.from_vector(vec, t=self._origin + self._out_next / self.out_fps))
            self._out_next += 1
        drop = int(math.floor(self._out_next * ratio)) - self._model_t0
        if drop > 0:
            del self._model_frames[:drop]
            self._model_t0 += drop
        return out


def load_generator(fps: float | None = None, seed: int = 0, model_dir: str | Path | None = None,
                   **kwargs) -> DiffusionGenerator:
    """Factory for the generator registry (`diffusion`)."""
    return DiffusionGenerator.load(model_dir, fps=fps, seed=seed, **kwargs)
