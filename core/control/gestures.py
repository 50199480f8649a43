"""Timed gestures (nod, shake, tilt, blink, wink, smile flash, brow raise, look-at glance).

A gesture is a handful of channel offsets, each an amplitude times a shape over the gesture's
phase u in [0, 1]. Every shape starts and ends at zero with zero slope, so a gesture blends in
and out of whatever the generator is doing instead of snapping; the trade-off is that gestures
are additive only (a blink adds 1 to eyeBlink and relies on the mixer's clamp).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import InputError
from ..motion_space import CHANNEL_INDEX
from ..types import N_CHANNELS
from .curves import smoothstep

Shape = Callable[[float], float]


def _plateau(rise: float, fall: float) -> Shape:
    """Up over the first ``rise`` of the phase, hold, down over the last ``fall``."""

    def f(u: float) -> float:
        return float(smoothstep(u / rise)) * (1.0 - float(smoothstep((u - (1.0 - fall)) / fall)))

    return f


def _nod(u: float) -> float:
    # Two dips down (pitch + = chin down), the second smaller: sin^2 has zero slope at the ends.
    return math.sin(2.0 * math.pi * u) ** 2 * (1.0 - 0.4 * u)


def _shake(u: float) -> float:
    # Two left-right cycles under a sin window so it starts and ends at rest.
    return math.sin(4.0 * math.pi * u) * math.sin(math.pi * u)


def _blink(u: float) -> float:
    # Lids close fast (35 % of the time) and open slower, as real blinks do.
    return float(smoothstep(u / 0.35)) if u < 0.35 else 1.0 - float(smoothstep((u - 0.35) / 0.65))


@dataclass(frozen=True)
class GestureSpec:
    """One gesture's default duration (s) and what its parameters mean."""

    name: str
    duration: float
    description: str
    uses_side: bool = False
    uses_target: bool = False


GESTURES: dict[str, GestureSpec] = {
    g.name: g
    for g in (
        GestureSpec("nod", 0.9, "two nods down and up (agreement)"),
        GestureSpec("shake", 1.0, "head shakes left-right twice (disagreement)"),
        GestureSpec("tilt", 1.5, "head tilts toward one shoulder, holds, returns", uses_side=True),
        GestureSpec("blink", 0.22, "both eyes blink once"),
        GestureSpec("wink", 0.6, "one eye winks with a half smile", uses_side=True),
        GestureSpec("smile_flash", 1.2, "a brief smile"),
        GestureSpec("brow_raise", 0.8, "eyebrows flash up (greeting, emphasis)"),
        GestureSpec("look_at", 1.2, "a glance toward a target point and back", uses_target=True),
    )
}

# Head motion that goes with a gaze target: the head turns a little toward where the eyes look.
GAZE_HEAD_YAW_DEG = 6.0
GAZE_HEAD_PITCH_DEG = 4.0


def gaze_channels(x: float, y: float) -> dict[str, float]:
    """Eye blendshapes for a normalised gaze target (x + = image right, y + = up, both -1..1).

    Image right is the subject's left: the left eye looks out and the right eye looks in.
    """
    right, left = max(x, 0.0), max(-x, 0.0)
    up, down = max(y, 0.0), max(-y, 0.0)
    return {
        "eyeLookOutLeft": right, "eyeLookInRight": right,
        "eyeLookInLeft": left, "eyeLookOutRight": left,
        "eyeLookUpLeft": up, "eyeLookUpRight": up,
        "eyeLookDownLeft": down, "eyeLookDownRight": down,
    }


GAZE_EYE_CHANNELS: tuple[str, ...] = tuple(gaze_channels(0.0, 0.0))


def _side(side: str | None, default: str = "left") -> str:
    side = default if side is None else side
    if side not in ("left", "right"):
        raise InputError(f"gesture side {side!r}, expected 'left' or 'right' (the subject's own side)")
    return side


def _components(name: str, side: str | None, target: tuple[float, float] | None) -> list[tuple[dict[str, float], Shape]]:
    """(channel amplitudes at intensity 1, shape) pairs for one gesture."""
    if name == "nod":
        return [({"pitch": 7.0}, _nod)]
    if name == "shake":
        return [({"yaw": 9.0}, _shake)]
    if name == "tilt":
        # roll + = clockwise in the image = the head leans toward the subject's left shoulder.
        return [({"roll": 9.0 if _side(side) == "left" else -9.0}, _plateau(0.25, 0.3))]
    if name == "blink":
        return [({"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0}, _blink)]
    if name == "wink":
        s = "Left" if _side(side) == "left" else "Right"
        return [({f"eyeBlink{s}": 1.0}, _plateau(0.25, 0.4)),
                ({f"cheekSquint{s}": 0.4, f"mouthSmile{s}": 0.35}, _plateau(0.3, 0.4))]
    if name == "smile_flash":
        return [({"mouthSmileLeft": 0.7, "mouthSmileRight": 0.7, "cheekSquintLeft": 0.4,
                  "cheekSquintRight": 0.4, "eyeSquintLeft": 0.15, "eyeSquintRight": 0.15}, _plateau(0.25, 0.35))]
    if name == "brow_raise":
        return [({"browInnerUp": 0.8, "browOuterUpLeft": 0.7, "browOuterUpRight": 0.7,
                  "eyeWideLeft": 0.2, "eyeWideRight": 0.2}, _plateau(0.2, 0.4))]
    if name == "look_at":
        x, y = target if target is not None else (0.7, 0.0)
        amps = gaze_channels(x, y)
        amps["yaw"] = GAZE_HEAD_YAW_DEG * x
        amps["pitch"] = -GAZE_HEAD_PITCH_DEG * y
        return [(amps, _plateau(0.2, 0.3))]
    raise InputError(f"unknown gesture {name!r}; expected one of {', '.join(GESTURES)}")


class ActiveGesture:
    """A gesture in progress: start time, duration, intensity; sampled as a (58,) offset vector."""

    FADE = 0.15  # seconds to fade out a gesture replaced by a new one of the same name

    def __init__(self, name: str, start: float, duration: float, intensity: float,
                 side: str | None = None, target: tuple[float, float] | None = None) -> None:
        self.name, self.start, self.duration, self.intensity = name, start, duration, intensity
        self.side, self.target = side, target
        self.fade_start: float | None = None
        self._parts = []
        for amps, shape in _components(name, side, target):
            idx = np.array([CHANNEL_INDEX[c] for c in amps], np.intp)
            amp = np.array(list(amps.values()), np.float64) * intensity
            self._parts.append((idx, amp, shape))

    @property
    def end(self) -> float:
        end = self.start + self.duration
        if self.fade_start is not None:
            end = min(end, self.fade_start + self.FADE)
        return end

    def add_to(self, vec: np.ndarray, t: float) -> None:
        if t <= self.start or t >= self.end:
            return
        u = (t - self.start) / self.duration
        gain = 1.0
        if self.fade_start is not None and t > self.fade_start:
            gain = 1.0 - float(smoothstep((t - self.fade_start) / self.FADE))
        for idx, amp, shape in self._parts:
            vec[idx] += amp * (shape(u) * gain)

    def describe(self, t: float) -> dict:
        return {"name": self.name, "intensity": round(self.intensity, 4),
                "elapsed": round(max(0.0, t - self.start), 4), "duration": round(self.duration, 4)}


def gesture_vector(g: ActiveGesture, t: float) -> np.ndarray:
    vec = np.zeros(N_CHANNELS, np.float64)
    g.add_to(vec, t)
    return vec
