"""Who drives the face: the camera, the audio's lips, agent controls, in the combinations users ask
for. CameraDrive sits where the engine's control mixer sits (core.engine.loop.MotionMixer), so the
frame loop is unchanged: it hands over generated motion with idle life, gets the face to render.

Modes:
- ``camera``: the tracked face drives every channel; agent and panel controls are kept by the
  ControlMixer (its timeline runs on) but not shown: the person in front of the camera performs.
- ``camera+audio``: the lips and jaw come from the audio's generated motion (speech we synthesize
  or the microphone), every other channel from the camera.
- ``camera+controls``: the camera's motion is the "generated" motion under the ControlMixer, so
  its rules hold as for audio: overrides replace a channel, offsets, emotion and gestures add.
A camera that goes quiet (no face, unplugged) fades to the motion handed in, which carries the
engine's idle life, over FADE seconds; when it returns it fades back in.
"""

from __future__ import annotations

import math
import threading
from typing import Callable

import numpy as np

from ..control.mixer import ControlMixer
from ..engine.stats import Rolling
from ..errors import InputError
from ..motion_space import ALL_CHANNELS
from ..types import MotionFrame
from .tracker import TrackedFrame

MODES = ("camera", "camera+audio", "camera+controls")
STALE = 0.25  # s: a tracked frame older than this counts as gone (the camera delivers every 33 ms)
FADE = 0.3  # s: fade between the camera and idle life when the face goes or comes back
# Channels the audio drives in camera+audio: the jaw, the lips, cheeks puffing, the tongue.
MOUTH_CHANNELS = tuple(n for n in ALL_CHANNELS if n.startswith(("jaw", "mouth")) or n in ("cheekPuff", "tongueOut"))
_MOUTH = np.array([ALL_CHANNELS.index(n) for n in MOUTH_CHANNELS])


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise InputError(f"drive mode {mode!r}, expected one of {', '.join(MODES)}")
    return mode


class CameraDrive:
    """MotionMixer for the engine: combines the newest tracked frame with generated motion and
    the ControlMixer as ``mode`` says. ``latest`` returns the newest TrackedFrame (or None);
    it is called once per engine frame and must be quick. Thread-safe set_mode()."""

    def __init__(self, mixer: ControlMixer, latest: Callable[[], TrackedFrame | None], mode: str = "camera") -> None:
        self.mixer = mixer
        self._latest = latest
        self._mode = check_mode(mode)
        self._lock = threading.Lock()
        self._weight = 0.0  # how much of the camera is shown now (0..1)
        self._last_tick: float | None = None
        self._last_motion: np.ndarray | None = None
        self.used_capture_t: float | None = None  # capture time of the camera frame in the last tick
        self.latency = Rolling(300)  # s: camera frame captured -> avatar frame out (frame_out())
        self.camera_frames = 0
        self.source_status: Callable[[], dict] | None = None
        self._seen_t: float | None = None

    def __getattr__(self, name: str):
        # Whatever else the engine asks of its control mixer (the state it hands a conditioned
        # generator, held channels...) is the ControlMixer's: the drive only changes apply().
        if name == "mixer":
            raise AttributeError(name)
        return getattr(self.mixer, name)

    @property
    def mode(self) -> str:
        return self._mode

    def set_mode(self, mode: str) -> None:
        with self._lock:
            self._mode = check_mode(mode)

    @property
    def camera_weight(self) -> float:
        return self._weight

    def apply(self, frame: MotionFrame, t: float) -> MotionFrame:
        mode = self._mode
        sample = self._latest()
        fresh = sample is not None and sample.motion is not None and t - sample.t <= STALE
        dt = 0.0 if self._last_tick is None else max(0.0, min(t - self._last_tick, 0.5))
        self._last_tick = t
        step = 1.0 if FADE <= 0 else dt / FADE
        self._weight = min(1.0, self._weight + step) if fresh else max(0.0, self._weight - step)
        self.used_capture_t = None
        if fresh:
            self._last_motion = sample.motion.to_vector()
            self.used_capture_t = sample.t
            if sample.t != self._seen_t:
                self._seen_t = sample.t
                self.camera_frames += 1
        mixed = frame
        if self._weight > 0.0 and self._last_motion is not None:
            gen = frame.to_vector()
            w = np.float32(0.5 - 0.5 * math.cos(math.pi * self._weight))  # eased in and out
            out = (1.0 - w) * gen + w * self._last_motion
            if mode == "camera+audio":
                out[_MOUTH] = gen[_MOUTH]
            mixed = MotionFrame.from_vector(out.astype(np.float32), t=frame.t)
        # The mixer runs in every mode, so its timeline, releases and held-channel listeners go
        # on; only camera+controls shows its result.
        controlled = self.mixer.apply(mixed, t)
        return controlled if mode == "camera+controls" else mixed

    def frame_out(self, now: float) -> None:
        """Call on the engine's thread right after each frame (Engine.on_frame) with the clock
        time: records the camera-frame-to-avatar-frame latency of frames the camera drove."""
        if self.used_capture_t is not None:
            self.latency.add(max(0.0, now - self.used_capture_t))

    def status(self) -> dict:
        """JSON-ready: mode, how much of the camera is shown, frames taken, latency, plus what
        ``source_status`` (set by whoever opened the camera) says about capture and tracking."""
        p50, p95 = self.latency.percentile(50), self.latency.percentile(95)
        out = {"mode": self._mode, "camera_weight": round(self._weight, 3), "camera_frames": self.camera_frames,
               "latency_p50_ms": None if p50 is None else round(p50 * 1e3, 1),
               "latency_p95_ms": None if p95 is None else round(p95 * 1e3, 1)}
        if self.source_status is not None:
            out.update(self.source_status())
        return out

