"""MotionFrame, the motion space and the JSON/CSV track format."""

import json

import numpy as np
import pytest

from marionette.core.clock import FakeClock
from marionette.core.motion_space import ALL_CHANNELS, ARKIT_BLENDSHAPES, UnknownChannelError
from marionette.core.track import MotionTrack, TrackFormatError, load_track, parse_csv, parse_json
from marionette.core.types import MotionFrame, VideoFrame


def test_52_arkit_names_unique():
    assert len(set(ARKIT_BLENDSHAPES)) == 52
    assert {"jawOpen", "eyeBlinkLeft", "mouthSmileRight", "tongueOut", "cheekPuff"} <= set(ARKIT_BLENDSHAPES)


def test_frame_named_access_and_vector_round_trip():
    f = MotionFrame.from_dict({"jawOpen": 0.5, "yaw": 10, "eyeBlinkLeft": 1.0}, t=1.5)
    assert f["jawOpen"] == 0.5 and f.yaw == 10 and f["eyeBlinkLeft"] == 1.0 and f.scale == 1.0
    assert MotionFrame.from_vector(f.to_vector(), t=1.5) == f
    assert f.to_dict(nonzero_only=True) == {"yaw": 10.0, "eyeBlinkLeft": 1.0, "jawOpen": 0.5}
    with pytest.raises(ValueError):
        f.blendshapes[0] = 1  # frames are immutable


def test_unknown_channel_lists_valid_names():
    with pytest.raises(UnknownChannelError) as e:
        MotionFrame.from_dict({"jawopen": 1})
    msg = str(e.value)
    assert "Did you mean 'jawOpen'" in msg and "mouthSmileLeft" in msg and "pitch" in msg


def test_clamping_is_reported():
    f = MotionFrame.from_dict({"jawOpen": 1.7, "yaw": -90, "mouthClose": float("nan")})
    g, report = f.clamped()
    assert g["jawOpen"] == 1.0 and g.yaw == -45.0 and g["mouthClose"] == 0.0
    assert {c.channel for c in report} == {"jawOpen", "yaw", "mouthClose"}
    assert MotionFrame().clamped()[1] == []


def _track():
    rng = np.random.default_rng(0)
    t = MotionTrack.neutral(12, 30.0)
    t.values[:, ALL_CHANNELS.index("jawOpen")] = rng.uniform(0, 1, 12)
    t.values[:, ALL_CHANNELS.index("yaw")] = rng.uniform(-10, 10, 12)
    return t


@pytest.mark.parametrize("ext", [".json", ".csv"])
def test_track_round_trip(tmp_path, ext):
    t = _track()
    path = tmp_path / f"track{ext}"
    t.save(path)
    back, report = load_track(path)
    assert not report
    assert back.fps == pytest.approx(30.0)
    np.testing.assert_allclose(back.values, t.values, atol=1e-4)


def test_track_json_row_form_and_clamp_report(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"fps": 25, "frames": [{"jawOpen": 0.2}, {"jawOpen": 3.0, "roll": 100}]}))
    track, report = load_track(path)
    assert len(track) == 2 and track.channel("jawOpen")[1] == 1.0 and track.channel("roll")[1] == 45.0
    assert "jawOpen x1" in report.summary() and "roll x1" in report.summary()


@pytest.mark.parametrize(
    "text, needle",
    [
        ("nope", "not valid JSON"),
        ('{"fps": 0, "channels": {}}', "fps"),
        ('{"fps": 30, "channels": {"jawOpen": [0, 1], "mouthClose": [0]}}', "same length"),
        ('{"fps": 30, "channels": {"jawOpen": ["x"]}}', "non-numeric"),
        ('{"fps": 30}', "expected 'channels'"),
    ],
)
def test_track_json_errors(text, needle):
    with pytest.raises(TrackFormatError, match=needle):
        parse_json(text)


def test_track_unknown_channel_in_file():
    with pytest.raises(UnknownChannelError, match="Valid channels"):
        parse_json('{"fps": 30, "channels": {"smile": [1]}}')
    with pytest.raises(UnknownChannelError):
        parse_csv("time,jawOpen,grin\n0,0,0\n0.1,0,0\n")


def test_track_csv_errors():
    with pytest.raises(TrackFormatError, match="header"):
        parse_csv("a,b\n1,2\n")
    with pytest.raises(TrackFormatError, match="increase"):
        parse_csv("time,jawOpen\n0.1,0\n0.0,0\n")


def test_video_frame_checks_dtype():
    with pytest.raises(TypeError, match="expected uint8"):
        VideoFrame(np.zeros((4, 4, 3), np.float32), 0.0, 0)


def test_fake_clock():
    import asyncio

    clock = FakeClock()
    asyncio.run(clock.sleep_until(5.0))
    assert clock.now() == 5.0
    with pytest.raises(ValueError):
        clock.advance(-1)
