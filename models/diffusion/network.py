"""MotionDenoiser: a small diffusion transformer over a window of motion frames, predicting x0.

Tokens are frames. Each token sees its noisy motion, the known values and mask (past frames, held
channels: inpainting the network is trained for, not only a sampler trick), its audio context and its
emotion; the diffusion step modulates every block (adaLN as in DiT, Peebles & Xie 2023, sec. 3.2).
Trade-off: the audio encoder is a per-frame MLP over a short 100 Hz context (cheap, fixed lookahead)
instead of a speech model; attention across the window supplies longer context.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from marionette.core.generators.diffusion import N_AUDIO, N_EMOTION
from marionette.core.types import N_CHANNELS


@dataclass(frozen=True, kw_only=True)
class NetConfig:
    window: int = 20  # frames per window (tokens)
    n_context: int = 25  # audio rows per frame (offsets), set by the data config
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    d_ff: int = 256
    d_audio_row: int = 24  # per-10ms projection before the per-frame audio MLP

    def to_dict(self) -> dict:
        return asdict(self)


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of t in [0, 1] (Vaswani et al. 2017, sec. 3.5, scaled to 1000 steps)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = (t * 1000.0)[:, None] * freqs[None, :]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class Block(nn.Module):
    """Pre-norm transformer block with adaLN-Zero modulation from the step embedding (DiT sec. 3.2)."""

    def __init__(self, cfg: NetConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.n_heads = cfg.n_heads
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.norm2 = nn.LayerNorm(d, elementwise_affine=False)
        self.ff = nn.Sequential(nn.Linear(d, cfg.d_ff), nn.GELU(), nn.Linear(cfg.d_ff, d))
        self.mod = nn.Linear(d, 6 * d)
        nn.init.zeros_(self.mod.weight)
        nn.init.zeros_(self.mod.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        # x: (B, N, d); c: (B, d) step embedding
        b, n, d = x.shape
        s1, b1, g1, s2, b2, g2 = self.mod(c)[:, None, :].chunk(6, dim=-1)
        h = self.norm1(x) * (1 + s1) + b1
        q, k, v = self.qkv(h).reshape(b, n, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d // self.n_heads), dim=-1)  # (B, H, N, N)
        h = (att @ v).transpose(1, 2).reshape(b, n, d)
        x = x + g1 * self.proj(h)
        h = self.norm2(x) * (1 + s2) + b2
        return x + g2 * self.ff(h)


class MotionDenoiser(nn.Module):
    """x0 = f(x_t, known*mask, mask, t, audio, emotion); shapes in forward()."""

    def __init__(self, cfg: NetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.audio_row = nn.Linear(N_AUDIO, cfg.d_audio_row)
        self.audio_mlp = nn.Sequential(
            nn.GELU(), nn.Linear(cfg.n_context * cfg.d_audio_row, d), nn.GELU(), nn.Linear(d, d)
        )
        self.audio_null = nn.Parameter(torch.zeros(d))  # the "no audio" condition for guidance
        self.emotion = nn.Linear(N_EMOTION, d)
        self.emotion_null = nn.Parameter(torch.zeros(d))
        self.motion_in = nn.Linear(3 * N_CHANNELS, d)
        self.pos = nn.Parameter(torch.randn(cfg.window, d) * 0.02)
        self.step = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, d))
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm_out = nn.LayerNorm(d, elementwise_affine=False)
        self.out = nn.Linear(d, N_CHANNELS)

    def forward(self, x_t, known, mask, t, audio, emotion, audio_keep, emo_keep):
        # x_t, known, mask: (B, N, C) normalised motion; t: (B,) step / n_steps in [0, 1]
        # audio: (B, N, K, 84) normalised context rows; emotion: (B, N, 8) one-hot * intensity
        # audio_keep, emo_keep: (B,) 1 = use the condition, 0 = drop it (classifier-free guidance)
        b, n, k, f = audio.shape
        a = self.audio_mlp(self.audio_row(audio).reshape(b, n, k * self.cfg.d_audio_row))  # (B, N, d)
        ak = audio_keep[:, None, None]
        a = ak * a + (1 - ak) * self.audio_null
        ek = emo_keep[:, None, None]
        e = ek * self.emotion(emotion) + (1 - ek) * self.emotion_null
        m = self.motion_in(torch.cat([x_t, known * mask, mask], dim=-1))
        h = m + a + e + self.pos[None, :n]
        c = self.step(timestep_embedding(t, self.cfg.d_model))
        for blk in self.blocks:
            h = blk(h, c)
        return self.out(self.norm_out(h))  # (B, N, C) predicted x0
