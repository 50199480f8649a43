"""Rendering a zoomed-in shot at the photo's own resolution, then scaling the frame up.

Camera-like framing zooms into a photo that is smaller than the shot (core/render/framing.py): a
512x512 portrait in a 1280x720 frame is enlarged 2.5 times. Warping and layering the enlarged
picture costs in proportion to its pixels and adds no detail the photo had, so the portrait is
rendered at the size where one output pixel is one photo pixel and the finished frame is scaled up
once (cv2.resize, about a millisecond at 1280x720). Trade-off: the drawn layers (lid edges, teeth)
are as soft as the photo around them, which is what a camera would show.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..types import Clamp, MotionFrame
from .renderer import PortraitRenderer

UPSCALE_FROM = 1.2  # output px per photo px from which the frame is rendered small and scaled up


class UpscaledRenderer:
    """Implements core.stages.Renderer around a PortraitRenderer built at a smaller working size;
    every picture and coordinate it hands out is at the output size."""

    def __init__(self, inner: PortraitRenderer, size: tuple[int, int]) -> None:
        self.inner = inner
        self.size = (int(size[0]), int(size[1]))
        w, h = inner.size
        self.factor = (self.size[0] / w, self.size[1] / h)
        self.supported_channels = inner.supported_channels
        self.unsupported_channels = inner.unsupported_channels
        self.pose_range = inner.pose_range
        self.bases, self.authored_bases = inner.bases, inner.authored_bases
        self.mouth, self.shot = inner.mouth, inner.shot
        self.base = self._up(inner.base)
        sx, sy = self.factor
        self.landmarks = inner.landmarks * np.array([sx, sy, sx], np.float32)
        self.face_width_px = inner.face_width_px * sx
        x0, y0, x1, y1 = inner.face_box
        self.face_box = (int(x0 * sx), int(y0 * sy), int(np.ceil(x1 * sx)), int(np.ceil(y1 * sy)))
        self.last_alpha: np.ndarray | None = None

    def _up(self, image: np.ndarray) -> np.ndarray:
        return cv2.resize(image, self.size, interpolation=cv2.INTER_LINEAR)

    @property
    def last_stats(self):
        return self.inner.last_stats

    @property
    def background(self):
        return self.inner.background

    def set_background(self, background) -> None:
        self.inner.set_background(background)

    def clamp(self, motion: MotionFrame) -> tuple[MotionFrame, list[Clamp]]:
        return self.inner.clamp(motion)

    def view(self) -> "UpscaledRenderer":
        """Shares the precomputation, renders on its own scratch (PortraitRenderer.view, plugin/serve)."""
        import copy

        out = copy.copy(self)
        out.inner = self.inner.view()
        out.last_alpha = None
        return out

    def render(self, motion: MotionFrame) -> np.ndarray:
        out = self._up(self.inner.render(motion))
        alpha = self.inner.last_alpha
        self.last_alpha = None if alpha is None else self._up(alpha)
        return out
