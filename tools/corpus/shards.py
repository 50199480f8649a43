"""Corpus shards on disk: one .npz per ~10 minutes of audio, utterances concatenated with offsets.

A shard holds, per utterance: audio features at 100 Hz (mel as float16, loudness/f0/vad float32),
the teacher's motion track (float32 (T, 58) at the corpus fps), the phones (symbol, start, end) and
a JSON metadata record (source, voice, speed, pitch, text, emotion, augmentation, split). Plain
numpy arrays and JSON, so training code needs neither this package nor pickle to read it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from marionette.core.track import MotionTrack
from marionette.core.types import AudioFeatures, Emotion, Phoneme

SHARD_FORMAT = "marionette.corpus.shard"
SHARD_VERSION = 1


@dataclass
class CorpusUtterance:
    """One example: what the model hears (features of the augmented audio) and what it should do."""

    uid: str
    features: AudioFeatures
    motion: MotionTrack
    phonemes: list[Phoneme]
    meta: dict = field(default_factory=dict)

    @property
    def emotion(self) -> Emotion:
        e = self.meta.get("emotion") or {}
        return Emotion(e.get("label", "neutral"), float(e.get("intensity", 1.0)))

    @property
    def duration(self) -> float:
        return len(self.features) / self.features.frame_rate


def write_shard(path: Path, utts: list[CorpusUtterance]) -> None:
    feat_off = np.cumsum([0] + [len(u.features) for u in utts]).astype(np.int64)
    mot_off = np.cumsum([0] + [len(u.motion) for u in utts]).astype(np.int64)
    ph_off = np.cumsum([0] + [len(u.phonemes) for u in utts]).astype(np.int64)
    phones = [p for u in utts for p in u.phonemes]
    fps = {u.motion.fps for u in utts}
    if len(fps) > 1:
        raise ValueError(f"one shard, one motion fps; got {sorted(fps)}")
    header = {"format": SHARD_FORMAT, "version": SHARD_VERSION, "motion_fps": fps.pop() if fps else 0.0,
              "feature_rate": 100.0, "utterances": [{"uid": u.uid, **u.meta} for u in utts]}
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(
        tmp,
        header=np.frombuffer(json.dumps(header).encode(), np.uint8),
        mel=np.concatenate([u.features.mel for u in utts]).astype(np.float16),
        loudness=np.concatenate([u.features.loudness for u in utts]).astype(np.float32),
        f0=np.concatenate([u.features.f0 for u in utts]).astype(np.float32),
        vad=np.concatenate([u.features.vad for u in utts]).astype(np.float32),
        motion=np.concatenate([u.motion.values for u in utts]).astype(np.float32),
        phone_symbols=np.array([p.symbol for p in phones], dtype="U4"),
        phone_times=np.array([[p.start, p.end] for p in phones], np.float64).reshape(-1, 2),
        feature_offsets=feat_off, motion_offsets=mot_off, phone_offsets=ph_off,
    )
    tmp.replace(path)  # a half-written shard never carries the final name


def read_shard(path: str | Path) -> Iterator[CorpusUtterance]:
    with np.load(path) as z:
        header = json.loads(z["header"].tobytes().decode())
        if header.get("format") != SHARD_FORMAT:
            raise ValueError(f"{path}: not a marionette corpus shard")
        fo, mo, po = z["feature_offsets"], z["motion_offsets"], z["phone_offsets"]
        mel, loud, f0, vad, motion = z["mel"], z["loudness"], z["f0"], z["vad"], z["motion"]
        syms, times = z["phone_symbols"], z["phone_times"]
        fps = float(header["motion_fps"])
        for i, meta in enumerate(header["utterances"]):
            a, b = fo[i], fo[i + 1]
            feats = AudioFeatures(mel[a:b].astype(np.float32), loud[a:b], f0[a:b], vad[a:b], 100.0, 0.0)
            phones = [Phoneme(str(s), float(t[0]), float(t[1])) for s, t in zip(syms[po[i]:po[i + 1]], times[po[i]:po[i + 1]])]
            meta = dict(meta)
            uid = meta.pop("uid")
            yield CorpusUtterance(uid, feats, MotionTrack(fps, motion[mo[i]:mo[i + 1]]), phones, meta)


def load_corpus(directory: str | Path, split: str = "train") -> Iterator[CorpusUtterance]:
    """Every utterance of a split ("train" or "heldout") of a built corpus, shard by shard."""
    directory = Path(directory)
    manifest = directory / "manifest.json"
    if not manifest.is_file():
        from marionette.core.errors import InputError

        raise InputError(f"{directory} has no manifest.json; build a corpus with `marionette corpus build --out {directory}`")
    for name in json.loads(manifest.read_text())["shards"][split]:
        yield from read_shard(directory / name)
