"""BlazeFace face detection (mediapipe's short- and full-range models) at any image size.

The networks see 128 or 192 pixels, so a face must fill a fair part of what they are shown:
the whole picture is tried first (also padded, for tight crops), then, only if nothing is
found, overlapping tiles at finer scales, which finds a 64 px face in a 24 MP photo in well under
a second. Anchor decoding and weighted NMS follow mediapipe's SSD calculators.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from .landmarks import MIN_FACE_PX, FaceBox
from .tflite import TfliteModel


@dataclass(frozen=True)
class DetectorSpec:
    file: str
    # (stride, anchors per cell) of each feature map, in the model's output order.
    layers: tuple[tuple[int, int], ...]
    min_score: float


SHORT_RANGE = DetectorSpec("face_detection_short_range.tflite", ((8, 2), (16, 6)), 0.5)
FULL_RANGE = DetectorSpec("face_detection_full_range_sparse.tflite", ((4, 1),), 0.6)

NMS_IOU = 0.3
FULL_RANGE_MIN_FRACTION = 0.07  # measured: the full-range model finds faces from 6 % of its input
LEVEL_FACTOR = 2.5  # window shrink between tile levels (the model spans about 10x in face size)


def make_anchors(size: int, layers: tuple[tuple[int, int], ...]) -> np.ndarray:
    """(N, 2) anchor centres in 0..1. mediapipe uses fixed-size anchors, so only centres matter."""
    out = []
    for stride, per_cell in layers:
        n = math.ceil(size / stride)
        ys, xs = np.mgrid[0:n, 0:n]
        centres = np.stack([(xs + 0.5) / n, (ys + 0.5) / n], axis=-1).reshape(-1, 1, 2)
        out.append(np.repeat(centres, per_cell, axis=1).reshape(-1, 2))
    return np.concatenate(out).astype(np.float32)


@dataclass(frozen=True)
class _Candidate:
    box: np.ndarray  # (4,) x0, y0, x1, y1 image pixels
    keypoints: np.ndarray  # (6, 2) image pixels
    score: float


class BlazeFace:
    """One BlazeFace network plus its anchors; detect_window() runs it on one square window."""

    def __init__(self, model: TfliteModel, spec: DetectorSpec) -> None:
        self.model = model
        self.spec = spec
        self.size = model.input_size[0]
        self.anchors = make_anchors(self.size, spec.layers)

    @classmethod
    def load(cls, spec: DetectorSpec) -> "BlazeFace":
        return cls(TfliteModel.load(spec.file), spec)

    def detect_window(self, image: np.ndarray, x0: float, y0: float, side: float) -> list[_Candidate]:
        """Faces inside the square window (x0, y0, side) of image (pixels; may reach outside the
        image, which reads as black). image: uint8 RGB. Candidates come back in image pixels."""
        tensor = window_tensor(image, x0, y0, side, self.size)
        outs = self.model.run(tensor[None])
        # Output order differs between the two files; the box regressors are the 16-wide one.
        regs = next(o for o in outs if o.shape[-1] == 16).reshape(-1, 16)
        scores = next(o for o in outs if o.shape[-1] == 1)
        raw_scores = np.clip(scores.reshape(-1).astype(np.float64), -100.0, 100.0)
        probs = 1.0 / (1.0 + np.exp(-raw_scores))
        keep = np.flatnonzero(probs >= self.spec.min_score)
        out = []
        k = side / self.size
        for i in keep:
            r = regs[i]
            ax, ay = self.anchors[i] * self.size
            cx, cy, w, h = r[0] + ax, r[1] + ay, r[2], r[3]
            box = np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]) * k + [x0, y0, x0, y0]
            kps = (r[4:16].reshape(6, 2) + [ax, ay]) * k + [x0, y0]
            out.append(_Candidate(box.astype(np.float64), kps.astype(np.float32), float(probs[i])))
        return out


def window_tensor(image: np.ndarray, x0: float, y0: float, side: float, size: int) -> np.ndarray:
    """float32 (size, size, 3) in -1..1 of the square window; outside the image is black (-1)."""
    h, w = image.shape[:2]
    k = size / side
    # Intersection of window and image, in image pixels.
    ix0, iy0 = max(int(math.floor(x0)), 0), max(int(math.floor(y0)), 0)
    ix1, iy1 = min(int(math.ceil(x0 + side)), w), min(int(math.ceil(y0 + side)), h)
    canvas = np.zeros((size, size, 3), np.uint8)
    if ix1 > ix0 and iy1 > iy0:
        ox0, oy0 = (ix0 - x0) * k, (iy0 - y0) * k
        tw = max(1, min(size, round((ix1 - ix0) * k)))
        th = max(1, min(size, round((iy1 - iy0) * k)))
        interp = cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR
        patch = cv2.resize(image[iy0:iy1, ix0:ix1], (tw, th), interpolation=interp)
        px, py = max(0, min(size - tw, round(ox0))), max(0, min(size - th, round(oy0)))
        canvas[py:py + th, px:px + tw] = patch
    return canvas.astype(np.float32) * (2.0 / 255.0) - 1.0


def weighted_nms(cands: list[_Candidate], iou_threshold: float = NMS_IOU) -> list[FaceBox]:
    """mediapipe's WEIGHTED non-max suppression: overlapping detections are averaged by score,
    which steadies the box more than keeping the single best one."""
    remaining = sorted(cands, key=lambda c: -c.score)
    faces: list[FaceBox] = []
    while remaining:
        best = remaining[0]
        ious = np.array([_iou(best.box, c.box) for c in remaining])
        group = [c for c, v in zip(remaining, ious) if v > iou_threshold]
        remaining = [c for c, v in zip(remaining, ious) if v <= iou_threshold]
        wts = np.array([c.score for c in group])
        box = np.sum([c.box * s for c, s in zip(group, wts)], axis=0) / wts.sum()
        kps = np.sum([c.keypoints * s for c, s in zip(group, wts)], axis=0) / wts.sum()
        faces.append(FaceBox(tuple(float(v) for v in box), best.score, kps.astype(np.float32)))
    return faces


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class FaceDetector:
    """Both BlazeFace models and the search over windows that makes them work at any size."""

    def __init__(self, short: BlazeFace, full: BlazeFace) -> None:
        self.short = short
        self.full = full

    @classmethod
    def load(cls) -> "FaceDetector":
        return cls(BlazeFace.load(SHORT_RANGE), BlazeFace.load(FULL_RANGE))

    def detect(self, image: np.ndarray, confirm: Callable[[FaceBox], bool] | None = None) -> list[FaceBox]:
        """Faces found, largest first. The search goes from the whole picture to finer tiles and
        stops at the first stage that yields a face ``confirm`` accepts (a second opinion, e.g.
        the mesh model's face flag), so a false detection cannot end the search early.
        Faces much smaller than the largest one may therefore go unlisted."""
        small, f = _reduced(image, self.full.size)
        h, w = small.shape[:2]
        side = float(max(w, h))
        cx, cy = w / 2.0, h / 2.0

        def accepted(cands: list[_Candidate]) -> list[FaceBox]:
            if f != 1:
                cands = [_Candidate(c.box * f, c.keypoints * f, c.score) for c in cands]
            return _accepted(cands, confirm)

        image = small
        # 1. The whole picture centred in a square, and padded to 1.6x because the short-range
        #    model misses a face that fills its whole input (tight crops); plus the full-range
        #    model (3x slower), which reaches faces down to about 1/15 of the picture, so that
        #    a second, smaller face is listed beside a large one.
        cands = self.short.detect_window(image, cx - side / 2, cy - side / 2, side)
        cands += self.short.detect_window(image, cx - 0.8 * side, cy - 0.8 * side, 1.6 * side)
        cands += self.full.detect_window(image, cx - side / 2, cy - side / 2, side)
        faces = accepted(cands)
        if faces:
            return faces
        # 2. Overlapping tiles, coarse to fine, down to windows where a MIN_FACE_PX face is still
        #    FULL_RANGE_MIN_FRACTION of the tile. The picture is shrunk once per level, so every
        #    tile is a plain crop at the network's resolution.
        for win, step in _tile_levels(side * f):
            faces = accepted(self._tile_level(image, win / f, step / f))
            if faces:
                return faces
        return []

    def _tile_level(self, image: np.ndarray, win: float, step: float) -> list[_Candidate]:
        h, w = image.shape[:2]
        size = self.full.size
        k = size / win
        small = cv2.resize(image, (max(1, round(w * k)), max(1, round(h * k))), interpolation=cv2.INTER_AREA)
        sh, sw = small.shape[:2]
        stride = max(1, round(step * k))
        found: list[_Candidate] = []
        for ty in _starts(sh, size, stride):
            for tx in _starts(sw, size, stride):
                for c in self.full.detect_window(small, tx, ty, size):
                    found.append(_Candidate(c.box / k, c.keypoints / k, c.score))
        return found



def _reduced(image: np.ndarray, net_size: int) -> tuple[np.ndarray, int]:
    """The picture shrunk by an integer factor (OpenCV's fast path for area averaging) to no less
    than the finest tile level needs; every detection pass then reads this smaller copy."""
    h, w = image.shape[:2]
    side = max(w, h)
    need = max(1024, math.ceil(side * net_size / (MIN_FACE_PX / FULL_RANGE_MIN_FRACTION)))
    f = max(1, side // need)
    if f == 1:
        return image, 1
    hh, ww = (h // f) * f, (w // f) * f
    return cv2.resize(image[:hh, :ww], (ww // f, hh // f), interpolation=cv2.INTER_AREA), f


def _tile_levels(side: float) -> list[tuple[float, float]]:
    """(window, step) of each tile level, coarse to fine; empty when the whole picture suffices."""
    smallest = MIN_FACE_PX / FULL_RANGE_MIN_FRACTION
    if side <= smallest:
        return []
    n = math.ceil(math.log(side / smallest) / math.log(LEVEL_FACTOR))
    factor = (side / smallest) ** (1.0 / n)
    levels = []
    for i in range(1, n + 1):
        win = side / factor**i
        # A face larger than FULL_RANGE_MIN_FRACTION * factor of this window was the coarser
        # level's to find, so tiles only need to overlap by that much.
        overlap = min(0.5, 1.3 * FULL_RANGE_MIN_FRACTION * factor)
        levels.append((win, win * (1.0 - overlap)))
    return levels


def _accepted(cands: list[_Candidate], confirm: Callable[[FaceBox], bool] | None) -> list[FaceBox]:
    faces = weighted_nms(cands)
    if confirm is not None:
        faces = [f for f in faces if confirm(f)]
    return sorted(faces, key=lambda f: -f.size)


def _starts(length: int, size: int, step: int) -> list[int]:
    if length <= size:
        return [0]
    starts = list(range(0, length - size, step))
    starts.append(length - size)
    return starts
