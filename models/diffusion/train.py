"""Training loop for the motion diffusion model: seeded, resumable, time-bounded, EMA weights.

Loss: x0 regression on the unknown entries (Ramesh et al. 2022 / Tevet et al. MDM 2023 predict x0 too:
it samples better in few steps than epsilon prediction) plus a velocity term that punishes jitter.
Trade-off: windows are sampled with replacement from RAM (no epochs), simple and reproducible.
"""

from __future__ import annotations

import copy
import csv
import json
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from marionette.core.generators.diffusion import FORMAT_NAME, alpha_bar
from marionette.core.types import N_CHANNELS

from .data import (DataConfig, Stats, Utterance, WindowSampler, compute_stats, mel_norm_config, normalise_speakers,
                   speech_mel_mean)
from .network import MotionDenoiser, NetConfig


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    steps: int = 3000
    batch: int = 128
    lr: float = 1e-3
    warmup: int = 200
    weight_decay: float = 0.01
    ema: float = 0.998
    n_steps: int = 1000  # diffusion steps of the noise schedule
    p_drop_audio: float = 0.1  # classifier-free guidance: condition dropout
    p_drop_emotion: float = 0.1
    velocity_weight: float = 1.0
    mouth_weight: float = 1.0  # loss weight of ARTICULATION_CHANNELS (others 1)
    eval_every: int = 250
    ckpt_every: int = 250
    seed: int = 0
    max_minutes: float = 60.0
    threads: int = 2


@dataclass(frozen=True, kw_only=True)
class RuntimeDefaults:
    hop: int = 2
    steps: int = 4
    guidance: float = 1.0


def _batch_tensors(batch, rng: np.random.Generator, cfg: TrainConfig):
    b = batch.target.shape[0]
    x0 = torch.from_numpy(batch.target)
    mask = torch.from_numpy(batch.mask)
    step = rng.integers(0, cfg.n_steps, b)
    ab = torch.from_numpy(alpha_bar(step, cfg.n_steps).astype(np.float32))[:, None, None]
    eps = torch.from_numpy(rng.standard_normal(batch.target.shape).astype(np.float32))
    known = torch.from_numpy(batch.known)
    # Known entries are noised from their (slightly perturbed) known values, as the sampler does.
    clean = mask * known + (1 - mask) * x0
    x_t = ab.sqrt() * clean + (1 - ab).sqrt() * eps
    t = torch.from_numpy((step / cfg.n_steps).astype(np.float32))
    audio_keep = torch.from_numpy((rng.random(b) >= cfg.p_drop_audio).astype(np.float32))
    emo_keep = torch.from_numpy((rng.random(b) >= cfg.p_drop_emotion).astype(np.float32))
    inputs = (x_t, known, mask, t, torch.from_numpy(batch.audio), torch.from_numpy(batch.emotion), audio_keep, emo_keep)
    return inputs, x0, mask


# Channels that carry lip sync. Blinks, gaze and head sway are drawn at random by the teacher, so the
# audio cannot predict them and their error dominates an unweighted loss; weighting these channels
# (TrainConfig.mouth_weight) spends the small network on what the audio does determine.
ARTICULATION_CHANNELS = ("jawOpen", "mouthClose", "mouthPressLeft", "mouthPressRight", "mouthFunnel", "mouthPucker",
                         "mouthRollLower", "mouthRollUpper", "mouthLowerDownLeft", "mouthLowerDownRight",
                         "mouthUpperUpLeft", "mouthUpperUpRight", "mouthStretchLeft", "mouthStretchRight")


def channel_weights(mouth_weight: float) -> torch.Tensor:
    from marionette.core.motion_space import CHANNEL_INDEX

    w = torch.ones(N_CHANNELS)
    for name in ARTICULATION_CHANNELS:
        w[CHANNEL_INDEX[name]] = mouth_weight
    return w


def loss_fn(pred: torch.Tensor, x0: torch.Tensor, mask: torch.Tensor, velocity_weight: float,
            weights: torch.Tensor | None = None) -> torch.Tensor:
    """x0 MSE over the unknown entries plus the MSE of frame-to-frame change, channels weighted."""
    free = 1 - mask
    if weights is not None:
        free = free * weights
    mse = ((pred - x0) ** 2 * free).sum() / free.sum().clamp(min=1)
    dv = (pred[:, 1:] - pred[:, :-1]) - (x0[:, 1:] - x0[:, :-1])
    vfree = free[:, 1:] * free[:, :-1]
    vel = (dv**2 * vfree).sum() / vfree.sum().clamp(min=1)
    return mse + velocity_weight * vel


def train(train_utts: list[Utterance], val_utts: list[Utterance], out: Path, *, train_cfg: TrainConfig,
          data_cfg: DataConfig, net_cfg: NetConfig | None = None, resume: Path | None = None,
          progress: bool = True, stop_after: int | None = None, init_from: Path | None = None) -> Path:
    """Train (or resume) and write out/diffusion.pt, loss.csv and loss.png; returns the checkpoint path.

    stop_after: end at this step as an interruption would (the schedule still plans train_cfg.steps).
    init_from: a fresh run (new optimiser, schedule and data config, e.g. another lookahead) whose
    weights and statistics start from this checkpoint (`warm_start`).
    """
    from tqdm import tqdm

    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(train_cfg.threads)
    torch.manual_seed(train_cfg.seed)
    net_cfg = replace(net_cfg or NetConfig(), window=data_cfg.window, n_context=len(data_cfg.offsets))
    ckpt_path = out / "diffusion.pt"
    state = torch.load(resume, weights_only=False) if resume else None
    if state:
        # The resumed run keeps its own configs and statistics: mixing them would silently change the
        # model. Speaker normalisation is the one deliberate exception: it may be switched on to
        # fine-tune an existing model (mel_norm_on_resume), with its prior from this corpus.
        net_cfg, wanted = NetConfig(**state["net"]), data_cfg
        data_cfg = DataConfig(**state["data"])
        train_cfg = replace(TrainConfig(**state["train"]), steps=train_cfg.steps, max_minutes=train_cfg.max_minutes)
        stats = Stats.from_json(state["stats"])
        if wanted.mel_norm_frames > 0 and data_cfg.mel_norm_frames <= 0:
            data_cfg = replace(data_cfg, mel_norm_frames=wanted.mel_norm_frames, mel_norm_max=wanted.mel_norm_max)
            stats = replace(stats, mel_prior=speech_mel_mean(train_utts))
    elif init_from is not None:
        donor = torch.load(init_from, weights_only=False)
        # The donor's normalisation statistics and network shape are kept (its weights mean nothing
        # under others); only the audio context (the lookahead) may change, and speaker normalisation
        # stays as the donor had it.
        old_data = DataConfig(**donor["data"])
        data_cfg = replace(data_cfg, mel_norm_frames=old_data.mel_norm_frames, mel_norm_max=old_data.mel_norm_max,
                           context_before=old_data.context_before, context_step=old_data.context_step)
        net_cfg = replace(NetConfig(**donor["net"]), window=data_cfg.window, n_context=len(data_cfg.offsets))
        stats = Stats.from_json(donor["stats"])
    else:
        stats = compute_stats(train_utts)
        if data_cfg.mel_norm_frames > 0:
            stats = replace(stats, mel_prior=speech_mel_mean(train_utts))
    norm = mel_norm_config(data_cfg, stats)
    train_utts, val_utts = normalise_speakers(train_utts, norm), normalise_speakers(val_utts, norm)
    model = MotionDenoiser(net_cfg)
    ema = copy.deepcopy(model).requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=train_cfg.lr, weight_decay=train_cfg.weight_decay)
    step, history, elapsed0 = 0, [], 0.0
    rng = np.random.default_rng(train_cfg.seed)
    if state:
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
        step, history, elapsed0 = state["step"], state["history"], state["elapsed"]
        rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
    elif init_from is not None:
        warm_start(model, donor["ema"], DataConfig(**donor["data"]).offsets, data_cfg.offsets)
        ema.load_state_dict(model.state_dict())
    sampler = WindowSampler(train_utts, stats, data_cfg)
    val_batch = WindowSampler(val_utts or train_utts, stats, data_cfg).windows(np.random.default_rng(1234), 256)
    val_rng_seed = 4321

    def lr_at(s: int) -> float:
        if s < train_cfg.warmup:
            return train_cfg.lr * (s + 1) / train_cfg.warmup
        p = (s - train_cfg.warmup) / max(1, train_cfg.steps - train_cfg.warmup)
        return train_cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, p))))

    def save() -> None:
        torch.save({
            "format": FORMAT_NAME, "model": model.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(),
            "step": step, "history": history, "running": running, "elapsed": elapsed0 + time.monotonic() - t_start,
            "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
            "net": net_cfg.to_dict(), "data": asdict(data_cfg), "train": asdict(train_cfg),
            "stats": stats.to_json(),
        }, ckpt_path)
        write_curves(history, out)

    weights = channel_weights(train_cfg.mouth_weight) if train_cfg.mouth_weight != 1.0 else None
    t_start = time.monotonic()
    bar = tqdm(total=train_cfg.steps, initial=step, disable=not progress, desc="train", unit="step")
    running = state.get("running") if state else None
    while step < min(train_cfg.steps, stop_after or train_cfg.steps):
        if (elapsed0 + time.monotonic() - t_start) / 60 > train_cfg.max_minutes:
            bar.write(f"stopping at step {step}: the {train_cfg.max_minutes:g} minute budget is spent")
            break
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        inputs, x0, mask = _batch_tensors(sampler.windows(rng, train_cfg.batch), rng, train_cfg)
        loss = loss_fn(model(*inputs), x0, mask, train_cfg.velocity_weight, weights)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            d = min(train_cfg.ema, (1 + step) / (10 + step))  # EMA warm-up: early weights are noise
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.lerp_(pm, 1 - d)
        step += 1
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        bar.update(1)
        bar.set_postfix(loss=f"{running:.4f}")
        if step % train_cfg.eval_every == 0 or step == train_cfg.steps:
            with torch.no_grad():
                vin, vx0, vmask = _batch_tensors(val_batch, np.random.default_rng(val_rng_seed), train_cfg)
                val = loss_fn(ema(*vin), vx0, vmask, train_cfg.velocity_weight, weights).item()
            history.append({"step": step, "train_loss": round(running, 5), "val_loss": round(val, 5),
                            "lr": lr_at(step), "minutes": round((elapsed0 + time.monotonic() - t_start) / 60, 2)})
        if step % train_cfg.ckpt_every == 0:
            save()
    bar.close()
    save()
    return ckpt_path


def warm_start(model: MotionDenoiser, donor: dict, donor_offsets: np.ndarray, offsets: np.ndarray) -> None:
    """Load a donor's weights into ``model``, whose audio context may span other offsets.

    The per-frame audio MLP's first layer reads the context rows side by side (row k's 24 projected
    features at columns 24k..24k+23); a row at an offset the donor also heard takes the donor's
    columns, a new row starts at zero (silent until trained), a dropped row's columns are discarded.
    Every other tensor has the same shape and is copied."""
    own = model.state_dict()
    d_row = model.cfg.d_audio_row
    key = "audio_mlp.1.weight"
    for name, value in donor.items():
        if name == key:
            w = torch.zeros_like(own[key])
            where = {round(float(o), 4): i for i, o in enumerate(donor_offsets)}
            for j, o in enumerate(offsets):
                i = where.get(round(float(o), 4))
                if i is not None:
                    w[:, j * d_row:(j + 1) * d_row] = value[:, i * d_row:(i + 1) * d_row]
            own[key] = w
        elif own[name].shape == value.shape:
            own[name] = value.clone()
        else:
            raise ValueError(f"warm start: {name} is {tuple(value.shape)} in the donor, {tuple(own[name].shape)} here")
    model.load_state_dict(own)


def write_curves(history: list[dict], out: Path) -> None:
    """loss.csv and loss.png (drawn with OpenCV: no plotting dependency for one chart)."""
    if not history:
        return
    with open(out / "loss.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(history[0]))
        w.writeheader()
        w.writerows(history)
    import cv2

    w_px, h_px, pad = 640, 360, 50
    img = np.full((h_px, w_px, 3), 255, np.uint8)
    steps = np.array([h["step"] for h in history], np.float64)
    series = {"train": (np.array([h["train_loss"] for h in history]), (200, 80, 0)),
              "val": (np.array([h["val_loss"] for h in history]), (0, 0, 200))}
    lo = min(s.min() for s, _ in series.values())
    hi = max(s.max() for s, _ in series.values())
    lo, hi = math.log10(max(lo, 1e-6)), math.log10(max(hi, 1e-6)) + 1e-9
    x = lambda s: int(pad + (s - steps.min()) / max(1.0, steps.max() - steps.min()) * (w_px - 2 * pad))  # noqa: E731
    y = lambda v: int(h_px - pad - (math.log10(max(v, 1e-6)) - lo) / (hi - lo) * (h_px - 2 * pad))  # noqa: E731
    cv2.rectangle(img, (pad, pad), (w_px - pad, h_px - pad), (0, 0, 0), 1)
    for k, (name, (vals, color)) in enumerate(series.items()):
        pts = np.array([[x(s), y(v)] for s, v in zip(steps, vals)], np.int32)
        cv2.polylines(img, [pts], False, color, 2)
        cv2.putText(img, f"{name} {vals[-1]:.4f}", (pad + 10, pad + 20 + 20 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.5, color, 1)
    cv2.putText(img, f"loss (log scale) {10**hi:.3g} .. {10**lo:.3g}; steps {int(steps.min())}..{int(steps.max())}",
                (pad, pad - 15), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
    cv2.imwrite(str(out / "loss.png"), img)


def runtime_config(state: dict, runtime: RuntimeDefaults, centre_offset: float) -> dict:
    """The JSON the runtime reads (core.generators.diffusion.DiffusionSpec), from a checkpoint."""
    data = DataConfig(**state["data"])
    norm = mel_norm_config(data, Stats.from_json(state["stats"]))
    doc = {
        "format": FORMAT_NAME,
        "version": 1,
        "runtime": {
            "fps": data.fps, "window": data.window, "hop": runtime.hop,
            "audio_offsets": [float(x) for x in data.offsets], "n_steps": state["train"]["n_steps"],
            "steps": runtime.steps, "guidance": runtime.guidance, "centre_offset": centre_offset,
        },
        "stats": state["stats"],
        "net": state["net"],
        "data": state["data"],
        "train": state["train"],
        "trained_steps": state["step"],
        "trained_minutes": round(state["elapsed"] / 60, 1),
    }
    if norm is not None:
        doc["runtime"]["mel_norm"] = norm.to_json()
    return doc


def write_json(path: Path, doc: dict) -> None:
    path.write_text(json.dumps(doc, indent=1))
