"""The named motion space: ARKit's 52 blendshapes plus head pose, with ranges.

Names are ARKit's exactly, so motion moves in and out of the VTuber/VMC/Live Link ecosystem
unchanged. Ranges are the motion space's; a renderer may support less and says so.
"""

from __future__ import annotations

from .errors import InputError

# Apple ARFaceAnchor.BlendShapeLocation, in the order ARKit documents them.
ARKIT_BLENDSHAPES: tuple[str, ...] = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft",
    "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
    "eyeSquintRight", "eyeWideRight",
    "jawForward", "jawLeft", "jawRight", "jawOpen",
    "mouthClose", "mouthFunnel", "mouthPucker", "mouthLeft", "mouthRight",
    "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthUpperUpLeft", "mouthUpperUpRight",
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight",
    "noseSneerLeft", "noseSneerRight",
    "tongueOut",
)
assert len(ARKIT_BLENDSHAPES) == 52

# Head pose channels: rotation in degrees, translation in face widths, scale as a factor.
POSE_CHANNELS: tuple[str, ...] = ("pitch", "yaw", "roll", "tx", "ty", "scale")

# Every channel of a MotionFrame, pose first; this is also the column order of CSV tracks
# and of the flat vector the generator works on.
ALL_CHANNELS: tuple[str, ...] = POSE_CHANNELS + ARKIT_BLENDSHAPES

BLENDSHAPE_INDEX: dict[str, int] = {n: i for i, n in enumerate(ARKIT_BLENDSHAPES)}
CHANNEL_INDEX: dict[str, int] = {n: i for i, n in enumerate(ALL_CHANNELS)}

# (low, high) of the motion space. Pitch positive = chin down (looking down), yaw positive =
# the face turns to the subject's left (image right), roll positive = head tilts clockwise in
# the image. tx/ty positive = image right/down.
POSE_RANGES: dict[str, tuple[float, float]] = {
    "pitch": (-30.0, 30.0),
    "yaw": (-45.0, 45.0),
    "roll": (-45.0, 45.0),
    "tx": (-0.5, 0.5),
    "ty": (-0.5, 0.5),
    "scale": (0.5, 1.5),
}
BLENDSHAPE_RANGE: tuple[float, float] = (0.0, 1.0)
NEUTRAL_POSE: dict[str, float] = {"pitch": 0.0, "yaw": 0.0, "roll": 0.0, "tx": 0.0, "ty": 0.0, "scale": 1.0}

EMOTIONS: tuple[str, ...] = (
    "neutral", "happy", "sad", "angry", "surprised", "fearful", "disgusted", "contempt",
)


def channel_range(name: str) -> tuple[float, float]:
    """Range of one channel; raises UnknownChannelError for a name outside the motion space."""
    check_channel(name)
    return POSE_RANGES.get(name, BLENDSHAPE_RANGE)


class UnknownChannelError(InputError, KeyError):
    """A channel name that is not in the motion space; the message lists the valid names."""

    def __init__(self, name: str) -> None:
        self.name = name
        close = [n for n in ALL_CHANNELS if n.lower() == str(name).lower()]
        hint = f" Did you mean {close[0]!r}?" if close else ""
        super().__init__(
            f"unknown motion channel {name!r}.{hint} Valid channels: pose {', '.join(POSE_CHANNELS)}; "
            f"ARKit blendshapes {', '.join(ARKIT_BLENDSHAPES)}"
        )

    def __str__(self) -> str:  # KeyError quotes its message otherwise
        return str(self.args[0])


def check_channel(name: str) -> str:
    if name not in CHANNEL_INDEX:
        raise UnknownChannelError(name)
    return name
