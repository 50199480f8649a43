"""The `envelope` baseline: loudness -> jaw, plus idle life. What most VTuber tools do.

An attack/release follower on the loudness (dBFS) opens the jaw with the voice and closes it in
silence; a little funnel and lower-lip drop follow the jaw so the mouth is not a hinge. Causal with
no lookahead, so it suits a live microphone; it cannot close the lips for an M inside a word or
round them for an OO (that is what the teacher and the diffusion model are for).
"""

from __future__ import annotations

import numpy as np

from ..motion_space import CHANNEL_INDEX
from ..teacher.life import Life, LifeConfig
from ..types import MOTION_HIGH, MOTION_LOW, NEUTRAL_VECTOR, AudioFeatures
from .base import BufferedGenerator

FLOOR_DB, RANGE_DB = -50.0, 38.0  # -50 dBFS = closed, -12 dBFS = fully open
ATTACK, RELEASE = 0.55, 0.22  # one-pole coefficients per 10 ms feature frame
MOUTH = {"jawOpen": 0.55, "mouthFunnel": 0.08, "mouthLowerDownLeft": 0.15, "mouthLowerDownRight": 0.15,
         "mouthStretchLeft": 0.05, "mouthStretchRight": 0.05}


class EnvelopeGenerator(BufferedGenerator):
    lookahead = 0.0

    def __init__(self, fps: float = 30.0, seed: int = 0, life: LifeConfig | None = None) -> None:
        self._seed = seed
        self._life_config = life or LifeConfig()
        super().__init__(fps)

    def _on_reset(self) -> None:
        self._level = np.zeros(0)  # smoothed 0..1 level per buffered feature frame
        self._level_start = 0  # segment feature index of self._level[0]
        self._state = 0.0
        self._life = Life(self._seed, self._life_config)

    def _ingest(self, features: AudioFeatures, first_index: int) -> None:
        # Sequential on purpose: the same float operations in the same order whatever the chunking.
        target = np.clip((np.asarray(features.loudness, np.float64) - FLOOR_DB) / RANGE_DB, 0.0, 1.0)
        new = np.empty(target.size)
        state = self._state
        for i, x in enumerate(target.tolist()):
            state += (ATTACK if x > state else RELEASE) * (x - state)
            new[i] = state
        self._state = state
        # Keep only what frames not yet emitted can read (they look at most one frame back).
        keep_from = max(0, int(np.floor(self._next / self.fps * 100.0)) - 2 - self._level_start)
        self._level = np.concatenate([self._level[keep_from:], new])
        self._level_start += keep_from

    def _values(self, times: np.ndarray, features: AudioFeatures) -> np.ndarray:
        j = np.floor(times * 100.0 + 1e-6).astype(np.int64) - self._level_start
        lv = self._level[np.clip(j, 0, self._level.size - 1)]
        out = np.tile(NEUTRAL_VECTOR, (times.size, 1)).astype(np.float32)
        for name, gain in MOUTH.items():
            out[:, CHANNEL_INDEX[name]] = gain * lv
        out += self._life.frame_values(times, 1.0 + 0.5 * lv)
        return np.clip(out, MOTION_LOW, MOTION_HIGH)


def create(fps: float = 30.0, seed: int = 0, **kwargs) -> EnvelopeGenerator:
    return EnvelopeGenerator(fps=fps, seed=seed, **kwargs)
