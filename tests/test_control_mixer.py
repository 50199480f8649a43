"""ControlMixer: override, offset, gesture, gaze and emotion blend with generated motion."""

import threading

import numpy as np
import pytest

from marionette.core.clock import FakeClock
from marionette.core.control import EMOTION_RECIPES, GESTURES, ControlMixer
from marionette.core.errors import InputError
from marionette.core.motion_space import EMOTIONS, UnknownChannelError
from marionette.core.types import MotionFrame

FPS = 30.0


def run(mixer, seconds, gen=lambda t: MotionFrame(t=t), start=0.0):
    """Mix `seconds` of frames starting at `start`; returns the output frames."""
    n = int(round(seconds * FPS))
    return [mixer.apply(gen(start + i / FPS), start + i / FPS) for i in range(n)]


def speech(t):
    # generated motion: the jaw moving with speech
    return MotionFrame.from_dict({"jawOpen": 0.3 + 0.2 * np.sin(2 * np.pi * 3 * t), "yaw": 2.0}, t=t)


def test_no_controls_passes_generated_motion_through():
    m = ControlMixer(clock=FakeClock())
    for f_in in (speech(i / FPS) for i in range(30)):
        f_out = m.apply(f_in, f_in.t)
        assert np.allclose(f_out.to_vector(), f_in.to_vector(), atol=1e-6) and f_out.t == f_in.t


def test_override_blends_in_smoothly_then_replaces_generated():
    m = ControlMixer(clock=FakeClock())
    run(m, 0.5, speech)
    m.set_channels({"jawOpen": 1.0}, mode="set", transition=0.2)
    out = run(m, 1.0, speech, start=0.5)
    jaw = np.array([f["jawOpen"] for f in out])
    # no jump on the first frame, fully replaced after the transition
    assert abs(jaw[0] - speech(0.5)["jawOpen"]) < 0.1
    assert np.all(np.abs(np.diff(jaw[:8])) < 0.25)
    assert np.allclose(jaw[8:], 1.0)
    # other channels still follow the generator
    assert all(abs(f.yaw - 2.0) < 1e-5 for f in out)
    assert m.held_channels() == frozenset({"jawOpen"})


def test_offset_adds_to_generated_and_clear_releases():
    m = ControlMixer(clock=FakeClock())
    run(m, 0.1, speech)
    m.set_channels({"yaw": 10.0, "mouthSmileLeft": 0.5}, mode="add", transition=0.1)
    out = run(m, 0.5, speech, start=0.1)
    assert abs(out[-1].yaw - 12.0) < 1e-4 and abs(out[-1]["mouthSmileLeft"] - 0.5) < 1e-4
    assert m.held_channels() == frozenset()  # offsets do not pin channels
    m.clear_channels(["yaw"], transition=0.1)
    out = run(m, 0.5, speech, start=0.6)
    assert abs(out[-1].yaw - 2.0) < 1e-4 and abs(out[-1]["mouthSmileLeft"] - 0.5) < 1e-4


def test_hold_releases_by_itself():
    m = ControlMixer(clock=FakeClock())
    run(m, 0.1)
    m.set_channels({"browInnerUp": 0.8}, transition=0.1, hold=0.5)
    out = run(m, 1.5, start=0.1)
    vals = np.array([f["browInnerUp"] for f in out])
    assert vals.max() == pytest.approx(0.8, abs=1e-5)
    assert vals[-1] == 0.0
    assert "browInnerUp" not in m.held_channels()


def test_retarget_glides_from_current_value():
    m = ControlMixer(clock=FakeClock())
    run(m, 0.1)
    m.set_channels({"pitch": 10.0}, transition=0.2)
    run(m, 0.5, start=0.1)
    m.set_channels({"pitch": -10.0}, transition=0.3)
    out = run(m, 0.6, start=0.6)
    pitch = np.array([f.pitch for f in out])
    assert pitch[0] > 9.0 and pitch[-1] == pytest.approx(-10.0) and np.all(np.abs(np.diff(pitch)) < 4.0)


def test_values_are_validated_and_clamped():
    m = ControlMixer(clock=FakeClock())
    clamps = m.set_channels({"jawOpen": 3.0, "yaw": -100.0}, transition=50)
    assert {c.channel for c in clamps} == {"jawOpen", "yaw", "transition"}
    out = run(m, 0.5)[-1]
    assert out["jawOpen"] <= 1.0 and out.yaw >= -45.0
    with pytest.raises(UnknownChannelError):
        m.set_channels({"jawopen": 1.0})
    with pytest.raises(InputError):
        m.set_channels({"jawOpen": float("nan")})
    with pytest.raises(InputError):
        m.set_channels({"jawOpen": "1"})
    with pytest.raises(InputError):
        m.set_channels({"jawOpen": 1.0}, mode="replace")
    with pytest.raises(InputError):
        m.set_emotion("bored", 1.0)
    with pytest.raises(InputError):
        m.gesture("wave")
    # offsets on top of an override still end inside the motion space
    m.set_channels({"jawOpen": 1.0}, mode="add", transition=0)
    assert run(m, 0.1, start=0.5)[-1]["jawOpen"] == 1.0


def test_generated_nan_becomes_neutral_not_nan():
    m = ControlMixer(clock=FakeClock())
    bad = MotionFrame.from_vector(np.full(58, np.nan, np.float32))
    out = m.apply(bad, 0.0)
    assert np.all(np.isfinite(out.to_vector())) and out.scale == 1.0


@pytest.mark.parametrize("label", EMOTIONS)
def test_emotion_recipe_shows_and_is_scaled(label):
    m = ControlMixer(clock=FakeClock())
    run(m, 0.1)
    m.set_emotion(label, 0.5, transition=0.2)
    out = run(m, 0.5, start=0.1)[-1]
    for name, value in EMOTION_RECIPES[label].items():
        assert out[name] == pytest.approx(0.5 * value + (1.0 if name == "scale" else 0.0), abs=1e-4)
    assert m.emotion.label == label and m.state()["emotion"] == {"label": label, "intensity": 0.5}


def test_emotion_recipes_can_be_left_to_the_generator():
    m = ControlMixer(clock=FakeClock(), emotion_recipes=False)
    m.set_emotion("happy", 1.0)
    assert run(m, 1.0)[-1]["mouthSmileLeft"] == 0.0 and m.emotion.label == "happy"


@pytest.mark.parametrize("name", sorted(GESTURES))
def test_every_gesture_moves_then_returns(name):
    m = ControlMixer(clock=FakeClock())
    base = run(m, 0.1)[-1].to_vector()
    m.gesture(name, intensity=1.0)
    out = np.array([f.to_vector() for f in run(m, GESTURES[name].duration + 0.3, start=0.1)])
    dev = np.abs(out - base).max(axis=1)
    assert dev.max() > 0.3  # it visibly did something
    assert dev[0] < 0.6 * dev.max()  # started from rest, not at full amplitude
    assert dev[-1] < 1e-6  # and came back
    assert m.state()["gestures"] == []


def test_nod_moves_pitch_down_and_blink_closes_eyes():
    m = ControlMixer(clock=FakeClock())
    run(m, 0.1)
    m.gesture("nod")
    assert max(f.pitch for f in run(m, 1.0, start=0.1)) > 5.0
    m.gesture("blink")
    assert max(f["eyeBlinkLeft"] for f in run(m, 0.3, start=1.1)) > 0.95


def test_repeated_gesture_does_not_pile_up():
    m = ControlMixer(clock=FakeClock())
    run(m, 0.1)
    for i in range(40):  # a flood of nods, one per frame
        m.gesture("nod")
        out = run(m, 1 / FPS, start=0.1 + i / FPS)
    assert max(abs(f.pitch) for f in out) < 8.0
    assert len(m.state()["gestures"]) <= 16


def test_look_at_moves_eyes_and_head_and_holds_eye_channels():
    m = ControlMixer(clock=FakeClock())
    run(m, 0.1)
    m.look_at(1.0, 0.0, transition=0.2)
    f = run(m, 0.5, start=0.1)[-1]
    # image right = the subject's left: left eye looks out, right eye looks in, head yaws +
    assert f["eyeLookOutLeft"] == pytest.approx(1.0) and f["eyeLookInRight"] == pytest.approx(1.0)
    assert f.yaw > 3.0 and f["eyeLookInLeft"] == 0.0
    assert "eyeLookOutLeft" in m.held_channels() and m.state()["gaze"] == {"x": 1.0, "y": 0.0}
    m.look_at(0.0, 1.0)
    f = run(m, 0.5, start=0.6)[-1]
    assert f["eyeLookUpLeft"] == pytest.approx(1.0) and f.pitch < -2.0 and f["eyeLookOutLeft"] < 1e-6
    m.clear_gaze(transition=0.1)
    f = run(m, 0.5, start=1.1)[-1]
    assert f["eyeLookUpLeft"] == 0.0 and f.pitch == 0.0 and "eyeLookUpLeft" not in m.held_channels()


def test_reset_smooth_and_hard():
    m = ControlMixer(clock=FakeClock())
    run(m, 0.1)
    m.set_channels({"jawOpen": 1.0}, transition=0)
    m.set_emotion("angry", 1.0, transition=0)
    m.look_at(0.5, 0.5, transition=0)
    run(m, 0.1, start=0.1)
    m.reset(transition=0.3)
    out = run(m, 0.6, start=0.2)
    assert out[0]["jawOpen"] > 0.9  # smooth: starts where it was
    assert np.allclose(out[-1].to_vector(), MotionFrame().to_vector(), atol=1e-6)
    m.set_channels({"jawOpen": 1.0}, transition=0)
    m.reset()
    assert m.apply(MotionFrame(), 1.0)["jawOpen"] == 0.0 and m.held_channels() == frozenset()
    assert m.state()["overrides"] == {} and m.emotion.label == "neutral"


def test_held_values_for_inpainting():
    m = ControlMixer(clock=FakeClock())
    m.set_channels({"yaw": 8.0, "jawOpen": 0.4})
    m.set_channels({"pitch": 3.0}, mode="add")
    assert m.held_values() == {"yaw": 8.0, "jawOpen": pytest.approx(0.4)}


def test_time_base_jump_keeps_controls():
    """Frames on another time base than the clock (or a paused loop) shift the controls along."""
    clock = FakeClock(start=1000.0)
    m = ControlMixer(clock=clock)
    m.set_channels({"jawOpen": 1.0}, transition=0.2)
    out = run(m, 0.5, start=0.0)  # frame times start at 0, clock at 1000
    assert out[-1]["jawOpen"] == pytest.approx(1.0)


def test_controls_from_other_threads_while_mixing():
    m = ControlMixer(clock=FakeClock())
    stop = threading.Event()
    errors = []

    def writer(k):
        i = 0
        try:
            while not stop.is_set():
                m.set_channels({"jawOpen": (i % 10) / 10}, mode="set", transition=0.05)
                m.gesture("blink" if k else "nod")
                i += 1
        except Exception as e:  # noqa: BLE001 - surfaced by the assert below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(3)]
    for th in threads:
        th.start()
    out = run(m, 3.0)
    stop.set()
    for th in threads:
        th.join()
    assert not errors and len(out) == 90
    assert all(np.all(np.isfinite(f.to_vector())) for f in out)


def test_held_channels_reach_the_generator_once_blended_in():
    """on_held_change: pinned values arrive after the blend-in (so it stays smooth) and leave at release."""
    m = ControlMixer(clock=FakeClock())
    calls = []
    m.on_held_change(calls.append)
    run(m, 0.1)
    assert calls == [{}]  # the newcomer learns the current state
    m.set_channels({"yaw": 8.0, "browInnerUp": 0.5}, transition=0.2)
    run(m, 0.1, start=0.1)
    assert calls == [{}]  # still blending in
    run(m, 0.3, start=0.2)
    assert calls[-1] == {"yaw": 8.0, "browInnerUp": 0.5}
    m.look_at(0.5, 0.0, transition=0.1)
    run(m, 0.3, start=0.5)
    assert calls[-1]["eyeLookOutLeft"] == 0.5 and calls[-1]["yaw"] == 8.0
    m.clear_channels(["yaw"], transition=0.3)
    run(m, 1 / FPS, start=0.8)
    assert "yaw" not in calls[-1]  # freed at once, while the mixer blends it back
    n = len(calls)
    run(m, 1.0, start=0.9)
    assert len(calls) == n  # nothing changes, nobody is called
    m.set_channels({"jawOpen": 1.0}, transition=0.0, hold=0.2)
    run(m, 0.5, start=1.9)
    assert "jawOpen" in calls[-2] and "jawOpen" not in calls[-1]  # the hold ended by itself
