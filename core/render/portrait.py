"""From a photo (path, array or nothing = the default portrait) to a ready PortraitRenderer.

Analysis (face detection and landmarks) runs once here; the renderer then needs no model at all.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .background import BackgroundSpec
from .framing import DEFAULT_SHOT
from .renderer import PortraitRenderer


@dataclass(frozen=True)
class LoadTimes:
    """Seconds spent per portrait: landmark analysis, renderer precomputation."""

    analysis: float
    precompute: float


def load_renderer(portrait: str | Path | np.ndarray | None = None, size: tuple[int, int] = (512, 512),
                  *, face_index: int = 0, shot: str = DEFAULT_SHOT,
                  background: BackgroundSpec | str | None = None) -> tuple[PortraitRenderer, LoadTimes]:
    """Analyse ``portrait`` (default: the bundled one) and build its renderer (framing ``shot``,
    background mode ``background``: see PortraitRenderer.load)."""
    from ..face import FaceAnalyzer, default_portrait_path, load_image

    image = load_image(default_portrait_path() if portrait is None else portrait)
    analyzer = FaceAnalyzer.load()
    t0 = time.perf_counter()
    landmarks = analyzer.analyze(image, face_index=face_index)
    t1 = time.perf_counter()
    renderer = PortraitRenderer.load(image, landmarks, size, shot=shot, background=background)
    t2 = time.perf_counter()
    return renderer, LoadTimes(t1 - t0, t2 - t1)
