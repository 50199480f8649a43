"""Peer lip-sync tools from PyPI, scored with the same yardstick (optional: `pip install
marionette[peers]`). Each is run as its documentation says and its output read in ARKit names:

- ``openfacefx``: openfacefx 0.24 (MIT) on the transcript's forced alignment (the phones the
  teacher gets), its default coarticulation, retargeted with its own ``arkit`` preset.
- ``openfacefx-energy``: the same tool from loudness alone (``generate_from_energy``), no words.

Trade-off: we use each tool's defaults, not a tuned setting; a tool that needs something we do not
have (a GPU, a model hub) is not listed.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

from marionette.core.errors import InputError
from marionette.core.motion_space import CHANNEL_INDEX
from marionette.core.types import NEUTRAL_VECTOR, AudioFeatures

from . import metrics
from .phones import SILENCES

INSTALL = "pip install openfacefx==0.24.0 (or marionette[peers])"
PEERS = ("openfacefx", "openfacefx-energy")


def _import():
    try:
        import openfacefx
        from openfacefx.edits import sample
        from openfacefx.retarget import PRESETS, retarget
    except ImportError:
        raise InputError(f"the peer generators need openfacefx; {INSTALL}") from None
    return openfacefx, sample, PRESETS, retarget


def _to_array(track, n: int) -> np.ndarray:
    _, sample, presets, retarget = _import()
    arkit = retarget(track, presets["arkit"])
    grid = np.arange(n) / metrics.FPS
    out = np.tile(NEUTRAL_VECTOR, (n, 1)).astype(np.float32)
    for ch in arkit.channels:
        if ch.name in CHANNEL_INDEX:
            out[:, CHANNEL_INDEX[ch.name]] = np.clip(sample(ch, grid), 0.0, 1.0)
    return out


def predictor(name: str):
    if name not in PEERS:
        raise InputError(f"unknown peer {name!r}; expected one of {', '.join(PEERS)}")
    ofx = _import()[0]

    if name == "openfacefx":
        def predict(u, features: AudioFeatures, n: int) -> np.ndarray:
            segs = [ofx.PhonemeSegment("sil" if p.symbol in SILENCES else p.symbol, p.start, p.end) for p in u.phones]
            return _to_array(ofx.generate_from_alignment(segs, fps=metrics.FPS), n)

        predict.takes_phones = True
        return predict

    def predict_energy(u, features: AudioFeatures, n: int) -> np.ndarray:
        import soundfile as sf

        fd, path = tempfile.mkstemp(suffix=".wav")
        os.close(fd)
        try:
            sf.write(path, np.asarray(u.audio.samples, np.float32), u.audio.sample_rate)
            return _to_array(ofx.generate_from_energy(path, fps=metrics.FPS), n)
        finally:
            os.unlink(path)

    predict_energy.takes_phones = False
    return predict_energy
