"""VMC (OSC/UDP) in and out: a real python-osc sender and receiver on localhost."""

import time

import pytest

from marionette.core.clock import FakeClock, MonotonicClock
from marionette.core.control import ControlMixer, MotionEvent
from marionette.core.types import MotionFrame
from marionette.plugin.control.vmc import VmcReceiver, VmcSender, pose_to_quaternion, quaternion_to_pose


def wait_for(pred, timeout=3.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.01)
    return False


@pytest.mark.parametrize("pose", [(0, 0, 0), (10, -20, 5), (-15, 30, -12)])
def test_quaternion_round_trip(pose):
    assert quaternion_to_pose(*pose_to_quaternion(*pose)) == pytest.approx(pose, abs=1e-6)


def test_vmc_out_drives_vmc_in():
    """Our sender -> UDP -> our receiver: the receiving mixer shows the sender's motion."""
    clock = MonotonicClock()
    target = ControlMixer(clock=clock)
    rx = VmcReceiver(target, clock=clock, port=0).start()
    listeners = []
    tx = VmcSender(lambda cb: (listeners.append(cb), lambda: None)[1], clock=clock, port=rx.port, rate=60)
    try:
        sent = MotionFrame.from_dict({"jawOpen": 0.6, "eyeBlinkLeft": 1.0, "yaw": 12.0, "pitch": -5.0, "roll": 3.0})
        listeners[0](MotionEvent(sent))
        assert wait_for(lambda: rx.frames >= 1 and rx.poses >= 1)
        out = target.apply(MotionFrame(), clock.now() + 0.1)
        assert out["jawOpen"] == pytest.approx(0.6, abs=1e-5) and out["eyeBlinkLeft"] == pytest.approx(1.0)
        assert (out.pitch, out.yaw, out.roll) == pytest.approx((-5.0, 12.0, 3.0), abs=1e-3)
        assert "jawOpen" in target.held_channels()
        # the stream stops: the channels release by themselves after the timeout
        later = target.apply(MotionFrame(), clock.now() + 1.0)
        assert later["jawOpen"] == 0.0 and later.yaw == 0.0
    finally:
        rx.close()
        tx.close()


def test_vmc_in_accepts_vrm_presets_and_ignores_junk():
    from pythonosc.udp_client import SimpleUDPClient

    clock = MonotonicClock()
    mixer = ControlMixer(clock=clock)
    rx = VmcReceiver(mixer, clock=clock, port=0).start()
    try:
        c = SimpleUDPClient("127.0.0.1", rx.port)
        c.send_message("/VMC/Ext/Blend/Val", ["Blink_L", 1.0])
        c.send_message("/VMC/Ext/Blend/Val", ["JAWOPEN", 0.4])  # perfect-sync senders vary the case
        c.send_message("/VMC/Ext/Blend/Val", ["NotAShape", 1.0])
        c.send_message("/VMC/Ext/Blend/Val", [1, 2, 3])
        c.send_message("/VMC/Ext/Bone/Pos", ["Head", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])  # degenerate: ignored
        c.send_message("/VMC/Ext/Blend/Apply", [])
        assert wait_for(lambda: rx.frames >= 1)
        out = mixer.apply(MotionFrame(), clock.now() + 0.1)
        assert out["eyeBlinkLeft"] == 1.0 and out["jawOpen"] == pytest.approx(0.4) and out.yaw == 0.0
        assert rx.ignored_names == {"NotAShape"}
    finally:
        rx.close()


def test_sender_respects_rate():
    clock = FakeClock()
    listeners = []
    tx = VmcSender(lambda cb: (listeners.append(cb), lambda: None)[1], clock=clock, port=9, rate=10)
    for _ in range(30):  # 1 s of frames at 30 fps
        listeners[0](MotionEvent(MotionFrame()))
        clock.advance(1 / 30)
    assert 9 <= tx.sent <= 11
