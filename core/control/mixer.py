"""The ControlMixer: generated motion in, controlled motion out, once per frame.

Controls (agents, the panel, OBS hotkeys) only write into this object's state under a lock; the
frame loop calls apply(). Four layers, applied in this order: the emotion recipe (additive), the
gaze target (overrides the eyeLook channels, turns the head a little), channel overrides (blend
from generated to a fixed value), then channel offsets and gestures (additive). Every change is a
smoothstep from the current value, so controls blend with generated motion instead of fighting it.
The trade-off: a command retargets a channel's ramp from where it is; nothing is queued.

Time: ramps are stamped on the frame timeline, i.e. at the t of the last frame applied (before the
first frame, at clock.now()). apply(frame, t) must therefore use one clock throughout; a jump of
more than a second (a paused loop, another time base) shifts every control with it.
"""

from __future__ import annotations

import logging
import math
import threading
from typing import Callable, Iterable, Literal

import numpy as np

from ..clock import Clock
from ..errors import InputError
from ..motion_space import ALL_CHANNELS, CHANNEL_INDEX, EMOTIONS, check_channel
from ..types import MOTION_HIGH, MOTION_LOW, N_CHANNELS, NEUTRAL_VECTOR, Clamp, Conditions, Emotion, MotionFrame
from .curves import Ramps
from .emotions import recipe_vector
from .gestures import (
    GAZE_EYE_CHANNELS,
    GAZE_HEAD_PITCH_DEG,
    GAZE_HEAD_YAW_DEG,
    GESTURES,
    ActiveGesture,
    gaze_channels,
)

MAX_TRANSITION = 10.0  # s; longer ramps are clamped (a typo of 200 should not freeze a channel for minutes)
MAX_HOLD = 3600.0  # s
MAX_GESTURE_DURATION = 10.0  # s
MAX_ACTIVE_GESTURES = 16  # older ones are dropped; a flood of gestures must not grow without bound
TIME_JUMP = 1.0  # s; a frame time this far from the previous one shifts every control with it

_LOW = MOTION_LOW.astype(np.float64)
_HIGH = MOTION_HIGH.astype(np.float64)
_SPAN = _HIGH - _LOW
_NEUTRAL = NEUTRAL_VECTOR.astype(np.float64)
_EYE_IDX = np.array([CHANNEL_INDEX[c] for c in GAZE_EYE_CHANNELS], np.intp)
_YAW, _PITCH = CHANNEL_INDEX["yaw"], CHANNEL_INDEX["pitch"]

Mode = Literal["set", "add"]
log = logging.getLogger(__name__)


def _finite(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise InputError(f"{name} is {type(value).__name__} {value!r}, expected a number")
    v = float(value)
    if not math.isfinite(v):
        raise InputError(f"{name} is {v}, expected a finite number")
    return v


def _clamp(name: str, value: float, lo: float, hi: float, clamps: list[Clamp]) -> float:
    if value < lo or value > hi:
        applied = min(max(value, lo), hi)
        clamps.append(Clamp(name, value, applied))
        return applied
    return value


class ControlMixer:
    """Thread-safe control state plus the per-frame mix. See the module docstring for the layers."""

    def __init__(self, *, clock: Clock, emotion_recipes: bool = True) -> None:
        # emotion_recipes=False when the generator is itself conditioned on the emotion and
        # already shows it; then set_emotion() only records the label for the generator.
        self._clock = clock
        self._emotion_recipes = emotion_recipes
        self._lock = threading.Lock()
        self._last_t: float | None = None
        self.version = 0  # bumped on every change; the frame loop and benchmarks read it
        self.applied_version = 0  # the version the last apply() saw
        self.frames_mixed = 0
        self.frame_interval = 1.0 / 30.0  # s, smoothed over recent frames
        self._held_listeners: list[Callable[[dict[str, float]], None]] = []
        self._held_last: dict[str, float] = {}
        self._held_version = -1
        self._held_dirty = False
        self._held_force = False
        self._init_state()

    def _init_state(self) -> None:
        self._ov_w = Ramps(N_CHANNELS, 0.0)
        self._ov_v = Ramps(N_CHANNELS, 0.0)
        self._ov_release = np.full(N_CHANNELS, np.inf)
        self._ov_release_dur = np.zeros(N_CHANNELS)
        self._off = Ramps(N_CHANNELS, 0.0)
        self._off_release = np.full(N_CHANNELS, np.inf)
        self._off_release_dur = np.zeros(N_CHANNELS)
        self._next_release = math.inf  # earliest hold release: apply() skips the check until then
        self._emo = Ramps(N_CHANNELS, 0.0)
        self._emotion = Emotion("neutral", 1.0)
        self._emotion_blend = 0.5
        self._gaze = Ramps(3, 0.0)  # x, y, weight
        self._gestures: list[ActiveGesture] = []

    # --- time ----------------------------------------------------------------------------
    def _now(self) -> float:
        return self._last_t if self._last_t is not None else self._clock.now()

    def _shift(self, dt: float) -> None:
        for r in (self._ov_w, self._ov_v, self._off, self._emo, self._gaze):
            r.t0 += dt
            r.busy_until += dt
        self._ov_release += dt
        self._off_release += dt
        self._next_release += dt
        for g in self._gestures:
            g.start += dt
            if g.fade_start is not None:
                g.fade_start += dt

    # --- controls (any thread) ---------------------------------------------------------------
    def set_channels(self, values: dict[str, float], *, mode: Mode = "set", transition: float = 0.2,
                     hold: float | None = None) -> list[Clamp]:
        """Override (mode='set') or offset (mode='add') named channels; returns what was clamped.

        transition: seconds to blend in (and out when the hold ends). hold: seconds at full value
        before releasing by itself; None keeps it until cleared.
        """
        if mode not in ("set", "add"):
            raise InputError(f"mode {mode!r}, expected 'set' (override) or 'add' (offset)")
        if not isinstance(values, dict):
            raise InputError(f"channel values are {type(values).__name__}, expected an object of channel -> number")
        clamps: list[Clamp] = []
        transition = _clamp("transition", _finite("transition", transition), 0.0, MAX_TRANSITION, clamps)
        if hold is not None:
            hold = _clamp("hold", _finite("hold", hold), 0.0, MAX_HOLD, clamps)
        targets: list[tuple[int, float]] = []
        for name, value in values.items():
            i = CHANNEL_INDEX[check_channel(name)]
            v = _finite(name, value)
            lo, hi = (_LOW[i], _HIGH[i]) if mode == "set" else (-_SPAN[i], _SPAN[i])
            targets.append((i, _clamp(name, v, float(lo), float(hi), clamps)))
        with self._lock:
            now = self._now()
            release = math.inf if hold is None else now + transition + hold
            self._next_release = min(self._next_release, release)
            # Per channel in plain Python: a command touches a handful of channels, and numpy's
            # per-call overhead would dominate (this runs for every message of every client).
            for i, v in targets:
                if mode == "set":
                    # A channel not yet overridden takes its value at once and only fades in its
                    # weight; one already overridden glides from its current value to the new one.
                    fresh = self._ov_w.value(i, now) <= 1e-6
                    self._ov_v.retarget_one(i, v, now, transition, jump=fresh)
                    self._ov_w.retarget_one(i, 1.0, now, transition)
                    self._ov_release[i] = release
                    self._ov_release_dur[i] = transition
                else:
                    self._off.retarget_one(i, v, now, transition)
                    self._off_release[i] = release
                    self._off_release_dur[i] = transition
            self.version += 1
        return clamps

    def clear_channels(self, names: Iterable[str] | None = None, transition: float = 0.2) -> None:
        """Release overrides and offsets of ``names`` (all when None) back to generated motion."""
        transition = min(max(_finite("transition", transition), 0.0), MAX_TRANSITION)
        mask = np.ones(N_CHANNELS, bool)
        if names is not None:
            mask[:] = False
            for name in names:
                mask[CHANNEL_INDEX[check_channel(name)]] = True
        with self._lock:
            now = self._now()
            self._ov_w.retarget(mask, 0.0, now, transition)
            self._off.retarget(mask, 0.0, now, transition)
            self._ov_release[mask] = np.inf
            self._off_release[mask] = np.inf
            self.version += 1

    def set_emotion(self, label: str, intensity: float = 1.0, transition: float = 0.5) -> list[Clamp]:
        if label not in EMOTIONS:
            raise InputError(f"unknown emotion {label!r}; expected one of {', '.join(EMOTIONS)}")
        clamps: list[Clamp] = []
        intensity = _clamp("intensity", _finite("intensity", intensity), 0.0, 1.0, clamps)
        transition = _clamp("transition", _finite("transition", transition), 0.0, MAX_TRANSITION, clamps)
        vec = recipe_vector(label, intensity)
        with self._lock:
            now = self._now()
            self._emo.retarget(np.ones(N_CHANNELS, bool), vec, now, transition)
            self._emotion = Emotion(label, intensity)
            self._emotion_blend = transition
            self.version += 1
        return clamps

    @property
    def last_frame_t(self) -> float | None:
        """Frame time of the last apply() (None before the first): tells controls how far behind the loop is."""
        return self._last_t

    @property
    def emotion(self) -> Emotion:
        """The current emotion label, for generators conditioned on it."""
        return self._emotion

    def gesture(self, name: str, intensity: float = 1.0, duration: float | None = None, *,
                side: str | None = None, target: tuple[float, float] | None = None) -> list[Clamp]:
        """Start a timed gesture now. side: 'left'/'right' (tilt, wink); target: (x, y) for look_at.

        A new gesture of the same name fades the running one out quickly instead of doubling it.
        """
        spec = GESTURES.get(name)
        if spec is None:
            raise InputError(f"unknown gesture {name!r}; expected one of {', '.join(GESTURES)}")
        clamps: list[Clamp] = []
        intensity = _clamp("intensity", _finite("intensity", intensity), 0.0, 1.0, clamps)
        if duration is None:
            duration = spec.duration
        duration = _clamp("duration", _finite("duration", duration), 0.05, MAX_GESTURE_DURATION, clamps)
        if target is not None:
            target = self._gaze_target(target, clamps)
        with self._lock:
            now = self._now()
            g = ActiveGesture(name, now, duration, intensity, side=side, target=target)
            for old in self._gestures:
                if old.name == name and old.fade_start is None:
                    old.fade_start = now
            self._gestures.append(g)
            del self._gestures[:-MAX_ACTIVE_GESTURES]
            self.version += 1
        return clamps

    @staticmethod
    def _gaze_target(target: tuple[float, float], clamps: list[Clamp]) -> tuple[float, float]:
        if not isinstance(target, (tuple, list)) or len(target) != 2:
            raise InputError(f"look target {target!r}, expected (x, y) with x, y in -1..1")
        x = _clamp("x", _finite("x", target[0]), -1.0, 1.0, clamps)
        y = _clamp("y", _finite("y", target[1]), -1.0, 1.0, clamps)
        return x, y

    def look_at(self, x: float, y: float, transition: float = 0.3) -> list[Clamp]:
        """Hold the gaze on a normalised target (x + = image right, y + = up, -1..1; 0, 0 = the camera).

        Sets the eyeLook* channels (overriding generated eye motion) and turns the head a little.
        """
        clamps: list[Clamp] = []
        x, y = self._gaze_target((x, y), clamps)
        transition = _clamp("transition", _finite("transition", transition), 0.0, MAX_TRANSITION, clamps)
        with self._lock:
            now = self._now()
            gazing = self._gaze.at(now)[2] > 1e-6
            xy = np.array([True, True, False])
            self._gaze.retarget(xy, np.array([x, y, 0.0]), now, transition if gazing else 0.0)
            self._gaze.retarget(~xy, 1.0, now, transition)
            self.version += 1
        return clamps

    def clear_gaze(self, transition: float = 0.3) -> None:
        transition = min(max(_finite("transition", transition), 0.0), MAX_TRANSITION)
        with self._lock:
            self._gaze.retarget(np.array([False, False, True]), 0.0, self._now(), transition)
            self.version += 1

    def reset(self, transition: float = 0.0) -> None:
        """Everything back to generated motion: overrides, offsets, gaze, emotion (to neutral), gestures."""
        transition = min(max(_finite("transition", transition), 0.0), MAX_TRANSITION)
        with self._lock:
            if transition == 0.0:
                self._init_state()
            else:
                now = self._now()
                every = np.ones(N_CHANNELS, bool)
                self._ov_w.retarget(every, 0.0, now, transition)
                self._off.retarget(every, 0.0, now, transition)
                self._emo.retarget(every, 0.0, now, transition)
                self._gaze.retarget(np.array([False, False, True]), 0.0, now, transition)
                self._ov_release[:] = np.inf
                self._off_release[:] = np.inf
                self._emotion = Emotion("neutral", 1.0)
                self._emotion_blend = transition
                for g in self._gestures:
                    g.fade_start = now if g.fade_start is None else g.fade_start
            self.version += 1

    # --- what the generator and get_state read ------------------------------------------------
    def _held_mask(self, now: float) -> np.ndarray:
        mask = (self._ov_w.a1 >= 1.0) & (self._ov_release > now)
        return mask

    def held_channels(self) -> frozenset[str]:
        """Channels fixed by a control; the diffusion generator keeps them fixed while sampling."""
        with self._lock:
            now = self._now()
            names = {ALL_CHANNELS[i] for i in np.flatnonzero(self._held_mask(now))}
            if self._gaze.a1[2] >= 1.0:
                names.update(GAZE_EYE_CHANNELS)
        return frozenset(names)

    def held_values(self) -> dict[str, float]:
        """Target values of the held channels (what inpainting should pin them to)."""
        with self._lock:
            now = self._now()
            out = {ALL_CHANNELS[i]: float(self._ov_v.a1[i]) for i in np.flatnonzero(self._held_mask(now))}
            if self._gaze.a1[2] >= 1.0:
                for k, v in gaze_channels(float(self._gaze.a1[0]), float(self._gaze.a1[1])).items():
                    out.setdefault(k, v)
        return out

    def state(self) -> dict:
        """A JSON-ready snapshot of every active control (for get_state and the control panel)."""
        with self._lock:
            now = self._now()
            held = self._held_mask(now)
            overrides = {ALL_CHANNELS[i]: round(float(self._ov_v.a1[i]), 6) for i in np.flatnonzero(held)}
            offsets = {ALL_CHANNELS[i]: round(float(self._off.a1[i]), 6)
                       for i in np.flatnonzero((self._off.a1 != 0.0) & (self._off_release > now))}
            gaze = None
            if self._gaze.a1[2] >= 1.0:
                gaze = {"x": round(float(self._gaze.a1[0]), 6), "y": round(float(self._gaze.a1[1]), 6)}
            return {
                "t": round(now, 6),
                "emotion": {"label": self._emotion.label, "intensity": round(self._emotion.intensity, 6)},
                "overrides": overrides,
                "offsets": offsets,
                "gaze": gaze,
                "gestures": [g.describe(now) for g in self._gestures if g.end > now],
                "held_channels": sorted(overrides) + ([] if gaze is None else sorted(set(GAZE_EYE_CHANNELS) - set(overrides))),
                "frames_mixed": self.frames_mixed,
                "version": self.version,
            }

    def on_held_change(self, callback: Callable[[dict[str, float]], None]) -> Callable[[], None]:
        """Call ``callback(values)`` (from apply, on the frame-loop thread) whenever the channels a
        generator should pin change: overridden channels once fully blended in (so the blend-in stays
        smooth), released as soon as their release starts. For MotionGenerators with set_held()."""
        self._held_listeners.append(callback)
        self._held_force = True  # tell the newcomer on the next frame
        return lambda: self._held_listeners.remove(callback) if callback in self._held_listeners else None

    def conditions(self) -> Conditions:
        """The state a Conditioned generator takes (core.stages.ConditionSource): the emotion, and
        the held channels settled at the last frame (once fully blended in, so the blend-in stays
        smooth; released as soon as their release starts). The frame loop reads it and hands it on."""
        with self._lock:
            return Conditions(self._emotion, self._settled_held(self._now()), self._emotion_blend)

    @property
    def shows_emotion_recipes(self) -> bool:
        """False when the generator shows the emotion itself (see __init__)."""
        return self._emotion_recipes

    def _settled_held(self, t: float) -> dict[str, float]:
        w = self._ov_w
        settled = (w.a1 >= 1.0) & (t >= w.t0 + w.dur) & (self._ov_release > t)
        out = {ALL_CHANNELS[i]: float(self._ov_v.a1[i]) for i in np.flatnonzero(settled)}
        g = self._gaze
        if g.a1[2] >= 1.0 and t >= g.t0[2] + g.dur[2] and t >= g.t0[0] + g.dur[0]:
            for k, v in gaze_channels(float(g.a1[0]), float(g.a1[1])).items():
                out.setdefault(k, v)
        return out

    # --- the per-frame mix (frame-loop thread) -----------------------------------------------
    def apply(self, frame: MotionFrame, t: float) -> MotionFrame:
        """Generated motion in, controlled motion out (clamped to the motion space, t kept)."""
        gen = frame.to_vector().astype(np.float64)
        gen = np.where(np.isfinite(gen), gen, _NEUTRAL)
        with self._lock:
            prev = self._last_t if self._last_t is not None else self._clock.now()
            if abs(t - prev) > TIME_JUMP:
                self._shift(t - prev)
            self._release_due(t)
            out = gen
            if self._emotion_recipes and not self._emo.idle_zero(t):
                out = out + self._emo.at(t)
            gx, gy, gw = (0.0, 0.0, 0.0) if self._gaze.idle_zero(t) else self._gaze.at(t)
            if gw > 0.0:
                eyes = np.array([max(gx, 0), max(gx, 0), max(-gx, 0), max(-gx, 0),
                                 max(gy, 0), max(gy, 0), max(-gy, 0), max(-gy, 0)])
                out[_EYE_IDX] = (1.0 - gw) * out[_EYE_IDX] + gw * eyes
                out[_YAW] += gw * GAZE_HEAD_YAW_DEG * gx
                out[_PITCH] -= gw * GAZE_HEAD_PITCH_DEG * gy
            if not self._ov_w.idle_zero(t):
                w = self._ov_w.at(t)
                out = (1.0 - w) * out + w * self._ov_v.at(t)
            if not self._off.idle_zero(t):
                out = out + self._off.at(t)
            if self._gestures:
                self._gestures = [g for g in self._gestures if g.end > t]
                for g in self._gestures:
                    g.add_to(out, t)
            if self._last_t is not None and 0.0 < t - self._last_t < TIME_JUMP:
                # smoothed frame period, so controls can tell a late loop from a slow frame rate
                self.frame_interval = 0.9 * self.frame_interval + 0.1 * (t - self._last_t)
            self._last_t = t
            self.frames_mixed += 1
            self.applied_version = self.version
            notify = None
            if self._held_listeners and (self._held_dirty or self._held_force or self.version != self._held_version):
                self._held_version = self.version
                held = self._settled_held(t)
                # still blending in: look again next frame
                self._held_dirty = t < self._ov_w.busy_until or t < self._gaze.busy_until
                if held != self._held_last or self._held_force:
                    self._held_last = notify = held
                    self._held_force = False
            listeners = list(self._held_listeners) if notify is not None else ()
        for cb in listeners:
            try:
                cb(dict(notify))
            except Exception:  # a listener's bug must not stop the frame  # noqa: BLE001
                log.exception("held-channel listener failed")
        np.clip(out, _LOW, _HIGH, out=out)
        return MotionFrame.from_vector(out.astype(np.float32), t=frame.t)

    def _release_due(self, t: float) -> None:
        if t < self._next_release:
            return
        due = self._ov_release <= t
        if due.any():
            self._ov_w.retarget(due, 0.0, self._ov_release, self._ov_release_dur)
            self._ov_release[due] = np.inf
            self._held_dirty = True
        due = self._off_release <= t
        if due.any():
            self._off.retarget(due, 0.0, self._off_release, self._off_release_dur)
            self._off_release[due] = np.inf
        self._next_release = min(float(self._ov_release.min()), float(self._off_release.min()))
