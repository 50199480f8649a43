"""Corpus shards (`marionette corpus build`) -> training Utterances for the diffusion model.

Reads through tools.corpus.shards so the on-disk format has one owner; converts features to the
model's 84-wide audio vectors once, up front (the whole corpus fits in RAM: ~0.3 GB per 2 hours).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from marionette.tools.corpus.shards import load_corpus as read_split
from marionette.core.generators.diffusion import audio_vector, emotion_vector

from .data import Utterance


@dataclass
class CorpusData:
    train: list[Utterance]
    heldout: list[Utterance]
    fps: float
    centre_offset: float  # shard features: row 0 centred on the audio start

    @property
    def train_minutes(self) -> float:
        return sum(len(u.motion) for u in self.train) / self.fps / 60


def _convert(split_iter) -> list[Utterance]:
    out = []
    for cu in split_iter:
        if len(cu.motion) < 2 or len(cu.features) < 2:
            continue
        out.append(Utterance(cu.uid, audio_vector(cu.features), np.asarray(cu.motion.values, np.float32),
                             emotion_vector(cu.emotion), float(cu.motion.fps), float(cu.features.t)))
    return out


def load_corpus(directory: str | Path) -> CorpusData:
    directory = Path(directory)
    train = _convert(read_split(directory, "train"))
    heldout = _convert(read_split(directory, "heldout"))
    fps = {u.fps for u in train + heldout}
    if len(fps) > 1:
        raise ValueError(f"corpus {directory} mixes motion frame rates {sorted(fps)}; expected one")
    return CorpusData(train, heldout, fps.pop() if fps else 25.0, 0.0)
