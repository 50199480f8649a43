"""The viseme table (visemes.json) as arrays: phone -> viseme class(es) -> ARKit targets and dominance.

Data, not code, so a language is added by adding its phone table. Loading validates it: every
ARPAbet phone mapped, every target a real ARKit channel in 0..1. The blend itself lives in
coarticulation.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..motion_space import BLENDSHAPE_INDEX, CHANNEL_INDEX, check_channel
from ..types import N_CHANNELS

TABLE_FILE = "visemes.json"


@dataclass(frozen=True, eq=False)
class VisemeTable:
    """classes: names. targets: float32 (K, 58) per class in ALL_CHANNELS order (pose columns 0).
    alpha, tau_before, tau_after: (K,) dominance magnitude and spread (s). phones: phone -> class
    indices (two for a diphthong). channels: the columns the blend owns."""

    language: str
    classes: tuple[str, ...]
    targets: np.ndarray
    alpha: np.ndarray
    tau_before: np.ndarray
    tau_after: np.ndarray
    phones: dict[str, tuple[int, ...]]
    channels: tuple[int, ...]

    def classes_of(self, phone: str) -> tuple[int, ...]:
        if phone not in self.phones:
            raise InputError(f"phone {phone!r} is not in the {self.language} viseme table; expected one of "
                             f"{', '.join(sorted(self.phones))}")
        return self.phones[phone]

    def class_index(self, name: str) -> int:
        return self.classes.index(name)


def parse_table(doc: dict, language: str, source: str = TABLE_FILE) -> VisemeTable:
    channels = [check_channel(c) for c in doc["channels"]]
    names = tuple(doc["classes"])
    targets = np.zeros((len(names), N_CHANNELS), np.float32)
    alpha, tb, ta = (np.zeros(len(names), np.float32) for _ in range(3))
    for k, name in enumerate(names):
        spec = doc["classes"][name]
        alpha[k], tb[k], ta[k] = spec["alpha"], spec["tau_before"], spec["tau_after"]
        for ch, v in spec["targets"].items():
            if ch not in BLENDSHAPE_INDEX:
                raise InputError(f"{source}: class {name!r} targets {ch!r}, not an ARKit blendshape")
            if ch not in channels:
                raise InputError(f"{source}: class {name!r} targets {ch!r}, which is not in 'channels'")
            if not 0.0 <= float(v) <= 1.0:
                raise InputError(f"{source}: class {name!r} {ch} = {v}, expected 0..1")
            targets[k, CHANNEL_INDEX[ch]] = float(v)
    if (alpha <= 0).any() or (tb <= 0).any() or (ta <= 0).any():
        raise InputError(f"{source}: alpha and tau must be positive for every class")
    langs = doc["languages"]
    if language not in langs:
        raise InputError(f"no viseme table for language {language!r}; available: {', '.join(langs)}")
    phones: dict[str, tuple[int, ...]] = {}
    for phone, cls in langs[language]["phones"].items():
        seq = [cls] if isinstance(cls, str) else list(cls)
        for c in seq:
            if c not in names:
                raise InputError(f"{source}: {language} phone {phone!r} -> unknown class {c!r}")
        phones[phone] = tuple(names.index(c) for c in seq)
    return VisemeTable(language, names, targets, alpha, tb, ta, phones,
                       tuple(CHANNEL_INDEX[c] for c in channels))


@lru_cache(maxsize=None)
def load_table(language: str = "en", path: str | None = None) -> VisemeTable:
    """The packaged table (or one at ``path``) for a language."""
    text = Path(path).read_text() if path else files(__package__).joinpath(TABLE_FILE).read_text()
    return parse_table(json.loads(text), language, source=path or TABLE_FILE)


def lip_gap(values: np.ndarray) -> np.ndarray:
    """Opening between the lips from (T, 58) motion: jawOpen minus mouthClose (ARKit's mouthClose
    brings the lips together against an open jaw). 0 = lips touching."""
    v = np.asarray(values)
    return v[..., CHANNEL_INDEX["jawOpen"]] - v[..., CHANNEL_INDEX["mouthClose"]]
