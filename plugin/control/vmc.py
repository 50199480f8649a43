"""VMC protocol (OSC over UDP) in and out, so VSeeFace/VTube-Studio-style tools can drive Marionette
or be driven by it.

In: ``/VMC/Ext/Blend/Val name value`` messages are collected and applied on ``/VMC/Ext/Blend/Apply``
as one streamed motion frame (override, released ``timeout`` seconds after the last frame), plus
``/VMC/Ext/Bone/Pos "Head" px py pz qx qy qz qw`` as head pose. Names are ARKit's (any case, as
"perfect sync" senders use) or the VRM presets A/I/U/E/O/Blink/Blink_L/Blink_R/Joy.
Out: each frame's controlled motion as the 52 ARKit names, Apply, and the head bone, at a chosen rate.
Head rotation <-> quaternion uses Euler order yaw (y), pitch (x), roll (z) in degrees; in and out are
inverses of each other. Trade-off: UDP, so a lost packet is a skipped frame, never a stall.
"""

from __future__ import annotations

import logging
import math
import threading
from typing import Any, Callable

import numpy as np

from ...core.clock import Clock
from ...core.control import ControlMixer, MotionEvent
from ...core.errors import MarionetteError
from ...core.motion_space import ARKIT_BLENDSHAPES, POSE_RANGES
from ...core.types import MotionFrame
from .ratelimit import TokenBucket

log = logging.getLogger(__name__)

VMC_IN_PORT = 39539  # the port VMC performers (receivers of motion) listen on by convention
VMC_OUT_PORT = 39540
_ARKIT_LOWER = {n.lower(): n for n in ARKIT_BLENDSHAPES}
_VRM_PRESETS: dict[str, dict[str, float]] = {
    "a": {"jawOpen": 0.8}, "i": {"jawOpen": 0.25, "mouthStretchLeft": 0.5, "mouthStretchRight": 0.5},
    "u": {"jawOpen": 0.2, "mouthPucker": 0.8}, "e": {"jawOpen": 0.45, "mouthStretchLeft": 0.3, "mouthStretchRight": 0.3},
    "o": {"jawOpen": 0.6, "mouthFunnel": 0.7}, "blink": {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0},
    "blink_l": {"eyeBlinkLeft": 1.0}, "blink_r": {"eyeBlinkRight": 1.0},
    "joy": {"mouthSmileLeft": 0.8, "mouthSmileRight": 0.8, "cheekSquintLeft": 0.4, "cheekSquintRight": 0.4},
}


def _osc():
    try:
        from pythonosc import dispatcher, osc_bundle_builder, osc_message_builder, osc_server, udp_client
    except ImportError as e:
        raise MarionetteError(f"VMC needs python-osc: pip install python-osc ({e})") from None
    return dispatcher, osc_bundle_builder, osc_message_builder, osc_server, udp_client


def pose_to_quaternion(pitch: float, yaw: float, roll: float) -> tuple[float, float, float, float]:
    from scipy.spatial.transform import Rotation

    x, y, z, w = Rotation.from_euler("YXZ", [yaw, pitch, roll], degrees=True).as_quat()
    return float(x), float(y), float(z), float(w)


def quaternion_to_pose(x: float, y: float, z: float, w: float) -> tuple[float, float, float]:
    """(pitch, yaw, roll) in degrees from a unit quaternion (normalised here)."""
    from scipy.spatial.transform import Rotation

    q = np.array([x, y, z, w], np.float64)
    n = float(np.linalg.norm(q))
    if not math.isfinite(n) or n < 1e-9:
        raise ValueError("degenerate quaternion")
    yaw, pitch, roll = Rotation.from_quat(q / n).as_euler("YXZ", degrees=True)
    return float(pitch), float(yaw), float(roll)


class VmcReceiver:
    """Listens for VMC on UDP and writes frames into a ControlMixer (thread-safe) as streamed motion."""

    def __init__(self, mixer: ControlMixer, *, clock: Clock, host: str = "127.0.0.1", port: int = VMC_IN_PORT,
                 timeout: float = 0.3, max_hz: float = 120.0) -> None:
        dispatcher, _, _, osc_server, _ = _osc()
        self.mixer, self.timeout = mixer, timeout
        self._pending: dict[str, float] = {}
        self._bucket = TokenBucket(max_hz, max_hz / 4, clock)
        self._pose_bucket = TokenBucket(max_hz, max_hz / 4, clock)
        self.frames = 0
        self.poses = 0
        self.ignored_names: set[str] = set()
        d = dispatcher.Dispatcher()
        d.map("/VMC/Ext/Blend/Val", self._on_val)
        d.map("/VMC/Ext/Blend/Apply", self._on_apply)
        d.map("/VMC/Ext/Bone/Pos", self._on_bone)
        d.set_default_handler(lambda *a: None)  # other VMC traffic (root, other bones) is not ours
        self._server = osc_server.BlockingOSCUDPServer((host, port), d)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="vmc-in", daemon=True)

    def start(self) -> "VmcReceiver":
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def _on_val(self, address: str, *args: Any) -> None:
        if len(args) != 2 or not isinstance(args[0], str) or isinstance(args[1], bool) \
                or not isinstance(args[1], (int, float)) or not math.isfinite(args[1]):
            return
        name, value = args[0], float(args[1])
        arkit = _ARKIT_LOWER.get(name.lower())
        if arkit is not None:
            self._pending[arkit] = min(max(value, 0.0), 1.0)
            return
        preset = _VRM_PRESETS.get(name.lower())
        if preset is None:
            if len(self.ignored_names) < 256:
                self.ignored_names.add(name[:64])
            return
        for ch, w in preset.items():
            self._pending[ch] = max(self._pending.get(ch, 0.0), min(max(value, 0.0), 1.0) * w)

    def _on_bone(self, address: str, *args: Any) -> None:
        if len(args) != 8 or args[0] != "Head":
            return
        try:
            pitch, yaw, roll = quaternion_to_pose(*(float(a) for a in args[4:8]))
        except (TypeError, ValueError):
            return
        # Bones are applied as they come (senders order bones and Apply differently).
        if not self._pose_bucket.take():
            return
        pose = {"pitch": pitch, "yaw": yaw, "roll": roll}
        pose = {ch: min(max(v, POSE_RANGES[ch][0]), POSE_RANGES[ch][1]) for ch, v in pose.items()}
        self.mixer.set_channels(pose, mode="set", transition=0.05, hold=self.timeout)
        self.poses += 1

    def _on_apply(self, address: str, *args: Any) -> None:
        values, self._pending = self._pending, {}
        if not values or not self._bucket.take():
            return
        self.mixer.set_channels(values, mode="set", transition=0.05, hold=self.timeout)
        self.frames += 1


class VmcSender:
    """Sends the engine's controlled motion as VMC (one OSC bundle per frame) at up to ``rate`` Hz."""

    def __init__(self, subscribe: Callable[[Callable[[Any], None]], Callable[[], None]], *, clock: Clock,
                 host: str = "127.0.0.1", port: int = VMC_OUT_PORT, rate: float = 30.0) -> None:
        _, self._bundle, self._msg, _, udp_client = _osc()
        self._client = udp_client.UDPClient(host, port)
        self._clock, self._period = clock, 1.0 / rate
        self._last = -math.inf
        self.sent = 0
        self._unsubscribe = subscribe(self._on_event)

    def _on_event(self, event: Any) -> None:
        frame = event.frame if isinstance(event, MotionEvent) else event if isinstance(event, MotionFrame) else None
        if frame is None:
            return
        now = self._clock.now()
        if now - self._last < 0.95 * self._period:
            return
        self._last = now
        try:
            self.send(frame)
        except OSError as e:  # nobody listening yet, network down: the next frame tries again
            log.debug("VMC send failed: %s", e)

    def send(self, frame: MotionFrame) -> None:
        bundle = self._bundle.OscBundleBuilder(self._bundle.IMMEDIATELY)
        for name, value in zip(ARKIT_BLENDSHAPES, frame.blendshapes.tolist()):
            bundle.add_content(self._message("/VMC/Ext/Blend/Val", name, float(value)))
        qx, qy, qz, qw = pose_to_quaternion(frame.pitch, frame.yaw, frame.roll)
        bundle.add_content(self._message("/VMC/Ext/Bone/Pos", "Head", 0.0, 0.0, 0.0, qx, qy, qz, qw))
        bundle.add_content(self._message("/VMC/Ext/Blend/Apply"))
        bundle.add_content(self._message("/VMC/Ext/OK", 1))
        self._client.send(bundle.build())
        self.sent += 1

    def _message(self, address: str, *args: Any):
        m = self._msg.OscMessageBuilder(address=address)
        for a in args:
            m.add_arg(a)
        return m.build()

    def close(self) -> None:
        self._unsubscribe()
