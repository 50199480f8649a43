"""A varied, deterministic motion for benchmarks and demos: speech-like jaw and lips, smiles,
blinks, gaze shifts and head motion across the renderer's pose range."""

from __future__ import annotations

import numpy as np

from marionette.core.track import MotionTrack
from marionette.core.types import MotionFrame


def varied_motion(n: int = 300, fps: float = 25.0) -> MotionTrack:
    t = np.arange(n) / fps
    frames = []
    for i, s in enumerate(t):
        blink = max(0.0, 1.0 - abs((s % 3.1) - 1.5) / 0.09)  # a blink every 3.1 s
        v = {
            "jawOpen": 0.35 * (1 + np.sin(2 * np.pi * 3.1 * s)) * (0.5 + 0.5 * np.sin(2 * np.pi * 0.4 * s) ** 2),
            "mouthFunnel": 0.3 * max(0.0, np.sin(2 * np.pi * 1.3 * s)),
            "mouthClose": 0.1 * max(0.0, np.cos(2 * np.pi * 2.2 * s)),
            "mouthSmileLeft": 0.4 * (1 + np.sin(2 * np.pi * 0.23 * s)) / 2,
            "mouthSmileRight": 0.4 * (1 + np.sin(2 * np.pi * 0.23 * s + 0.3)) / 2,
            "mouthLowerDownLeft": 0.2 * max(0.0, np.sin(2 * np.pi * 2.7 * s)),
            "mouthLowerDownRight": 0.2 * max(0.0, np.sin(2 * np.pi * 2.7 * s)),
            "browInnerUp": 0.5 * max(0.0, np.sin(2 * np.pi * 0.31 * s)),
            "eyeBlinkLeft": blink,
            "eyeBlinkRight": blink,
            "eyeLookOutLeft": 0.5 * max(0.0, np.sin(2 * np.pi * 0.17 * s)),
            "eyeLookInRight": 0.5 * max(0.0, np.sin(2 * np.pi * 0.17 * s)),
            "eyeLookInLeft": 0.5 * max(0.0, -np.sin(2 * np.pi * 0.17 * s)),
            "eyeLookOutRight": 0.5 * max(0.0, -np.sin(2 * np.pi * 0.17 * s)),
            "yaw": 10 * np.sin(2 * np.pi * 0.13 * s),
            "pitch": 6 * np.sin(2 * np.pi * 0.21 * s + 1),
            "roll": 8 * np.sin(2 * np.pi * 0.09 * s + 2),
        }
        frames.append(MotionFrame.from_dict({k: float(x) for k, x in v.items()}, t=float(s)))
    return MotionTrack.from_frames(frames, fps)
