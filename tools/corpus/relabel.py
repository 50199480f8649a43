"""Relabel a built corpus with the current teacher's mouth, without synthesizing anything again.

A corpus build spends its time on speech synthesis, augmentation and features; the teacher is cheap.
When the teacher's articulation changes, only its mouth channels are recomputed from the stored phones
(exactly as the build taught them: the same emotion and seed), and the other channels (brows, nods,
blinks, gaze: prosody and life, which the build computed from the clean audio that shards do not keep)
stay as they were.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from marionette.core.errors import InputError
from marionette.core.motion_space import CHANNEL_INDEX
from marionette.tools.corpus.shards import read_shard, write_shard

MOUTH_CHANNELS = tuple(c for c in CHANNEL_INDEX if c.startswith(("jaw", "mouth", "tongue")))


def relabel(src: str | Path, out: str | Path, *, progress: bool = True) -> dict:
    """Copy corpus ``src`` to ``out`` with every utterance's mouth channels re-taught; returns a summary."""
    from tqdm import tqdm

    from marionette.core.teacher import teach

    src, out = Path(src), Path(out)
    manifest_path = src / "manifest.json"
    if not manifest_path.is_file():
        raise InputError(f"{src} has no manifest.json; pass a directory made by `marionette corpus build`")
    if out.resolve() == src.resolve():
        raise InputError("--out must differ from the source corpus (the source stays as it was)")
    out.mkdir(parents=True, exist_ok=True)
    if any(out.glob("*.npz")):
        raise InputError(f"{out} already holds shards; pass an empty or new --out directory")
    manifest = json.loads(manifest_path.read_text())
    names = [n for split in ("train", "heldout") for n in manifest["shards"][split]]
    idx = np.array([CHANNEL_INDEX[c] for c in MOUTH_CHANNELS])
    changed, n_utts = 0.0, 0
    for name in tqdm(names, desc="relabel", unit="shard", disable=not progress):
        utts = list(read_shard(src / name))
        for u in utts:
            # Exactly the stored track's frames (the build's duration rounds the same way).
            fresh = teach(u.phonemes, fps=u.motion.fps, duration=len(u.motion) / u.motion.fps,
                          features=u.features, emotion=u.emotion, seed=int(u.meta.get("seed", 0)))
            values = u.motion.values.copy()
            changed += float(np.abs(values[:, idx] - fresh.values[:, idx]).mean())
            values[:, idx] = fresh.values[:, idx]
            u.motion = type(u.motion)(u.motion.fps, values)
            n_utts += 1
        write_shard(out / name, utts)
    manifest["relabelled_from"] = str(src)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    for extra in src.iterdir():  # caches and notes the build left beside the shards
        if extra.is_file() and extra.suffix not in (".npz",) and extra.name != "manifest.json":
            shutil.copy2(extra, out / extra.name)
    return {"utterances": n_utts, "shards": len(names), "mean_abs_mouth_change": round(changed / max(n_utts, 1), 4)}
