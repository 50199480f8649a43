"""The 8 emotion labels as FACS-based blendshape recipes (the "recipe" half of an emotion; the other half is the generator's condition).

Each recipe is the ARKit-channel reading of the Action Units that define the prototypical
expression (Ekman & Friesen's EMFACS prototypes); values are at intensity 1 and scale linearly.
Deliberately moderate (no channel above 0.7) so that an emotion added on top of speech motion
colours it without saturating the mouth.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

import numpy as np

from ..motion_space import CHANNEL_INDEX, EMOTIONS
from ..types import N_CHANNELS


def _both(name: str, value: float) -> dict[str, float]:
    return {f"{name}Left": value, f"{name}Right": value}


# AU -> ARKit: AU1 browInnerUp, AU2 browOuterUp*, AU4 browDown*, AU5 eyeWide*, AU6 cheekSquint*,
# AU7 eyeSquint*, AU9 noseSneer*, AU10 mouthUpperUp*, AU12 mouthSmile*, AU14 mouthDimple*,
# AU15 mouthFrown*, AU17 mouthShrugLower, AU20 mouthStretch*, AU23/24 mouthPress*, AU26 jawOpen.
_RECIPES: dict[str, dict[str, float]] = {
    "neutral": {},
    # AU6 + AU12 (Duchenne smile)
    "happy": {**_both("mouthSmile", 0.65), **_both("cheekSquint", 0.45), **_both("eyeSquint", 0.2)},
    # AU1 + AU4 + AU15 (+ AU17), head slightly down
    "sad": {"browInnerUp": 0.6, **_both("browDown", 0.2), **_both("mouthFrown", 0.5),
            "mouthShrugLower": 0.25, "pitch": 3.0},
    # AU4 + AU5 + AU7 + AU23/24
    "angry": {**_both("browDown", 0.7), **_both("eyeWide", 0.15), **_both("eyeSquint", 0.35),
              **_both("mouthPress", 0.5), **_both("noseSneer", 0.15)},
    # AU1 + AU2 + AU5 + AU26
    "surprised": {"browInnerUp": 0.7, **_both("browOuterUp", 0.7), **_both("eyeWide", 0.6), "jawOpen": 0.25},
    # AU1 + AU2 + AU4 + AU5 + AU20 + AU26
    "fearful": {"browInnerUp": 0.7, **_both("browOuterUp", 0.35), **_both("browDown", 0.25),
                **_both("eyeWide", 0.55), **_both("mouthStretch", 0.45), "jawOpen": 0.12},
    # AU9 + AU10 + AU15 (+ AU4)
    "disgusted": {**_both("noseSneer", 0.6), **_both("mouthUpperUp", 0.4), **_both("mouthFrown", 0.3),
                  **_both("browDown", 0.35), **_both("cheekSquint", 0.25)},
    # unilateral AU12 + AU14 (right side), a slight head tilt back
    "contempt": {"mouthSmileRight": 0.35, "mouthDimpleRight": 0.5, "eyeSquintRight": 0.1, "pitch": -2.0},
}
assert set(_RECIPES) == set(EMOTIONS)

EMOTION_RECIPES: Mapping[str, Mapping[str, float]] = MappingProxyType(
    {k: MappingProxyType(v) for k, v in _RECIPES.items()}
)


def recipe_vector(label: str, intensity: float = 1.0) -> np.ndarray:
    """float64 (58,) additive offset in ALL_CHANNELS order (pose as offsets, so neutral is zeros)."""
    if label not in EMOTION_RECIPES:
        raise ValueError(f"unknown emotion {label!r}; expected one of {', '.join(EMOTIONS)}")
    vec = np.zeros(N_CHANNELS, np.float64)
    for name, value in EMOTION_RECIPES[label].items():
        vec[CHANNEL_INDEX[name]] = value * float(intensity)
    return vec
