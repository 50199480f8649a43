"""From a photo (path, array or nothing = the default portrait) to a ready PortraitRenderer.

Analysis (face detection and landmarks) runs once here; the renderer then needs no model at all.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .background import BackgroundSpec
from .face_frame import face_frame
from .framing import DEFAULT_SHOT, crop_matrix
from .renderer import PortraitRenderer
from .upscale import UPSCALE_FROM, UpscaledRenderer


@dataclass(frozen=True)
class LoadTimes:
    """Seconds spent per portrait: landmark analysis, renderer precomputation."""

    analysis: float
    precompute: float


def load_renderer(portrait: str | Path | np.ndarray | None = None, size: tuple[int, int] = (512, 512),
                  *, face_index: int = 0, shot: str = DEFAULT_SHOT,
                  background: BackgroundSpec | str | None = None
                  ) -> tuple[PortraitRenderer | UpscaledRenderer, LoadTimes]:
    """Analyse ``portrait`` (default: the bundled one) and build its renderer (framing ``shot``,
    background mode ``background``: see PortraitRenderer.load). A shot that enlarges the photo
    by UPSCALE_FROM or more is rendered at the photo's resolution and scaled up
    (core/render/upscale.py)."""
    from ..face import FaceAnalyzer, default_portrait_path, load_image

    image = load_image(default_portrait_path() if portrait is None else portrait)
    analyzer = FaceAnalyzer.load()
    t0 = time.perf_counter()
    landmarks = analyzer.analyze(image, face_index=face_index)
    t1 = time.perf_counter()
    renderer = _build(image, landmarks, size, shot, background)
    t2 = time.perf_counter()
    return renderer, LoadTimes(t1 - t0, t2 - t1)


def _build(image: np.ndarray, landmarks, size: tuple[int, int], shot: str,
           background: BackgroundSpec | str | None) -> PortraitRenderer | UpscaledRenderer:
    frame = face_frame(np.asarray(landmarks.points, np.float64))
    s = float(crop_matrix(frame.origin[:2], frame.scale, (image.shape[1], image.shape[0]), size, shot)[0, 0])
    if s < UPSCALE_FROM:
        return PortraitRenderer.load(image, landmarks, size, shot=shot, background=background)
    work = (max(64, round(size[0] / s / 2) * 2), max(64, round(size[1] / s / 2) * 2))
    inner = PortraitRenderer.load(image, landmarks, work, shot=shot, background=background)
    return UpscaledRenderer(inner, size)
