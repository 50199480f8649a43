"""The camera path's parts (issue 14): One-Euro filter, bounded solve, calibration, the tracker
on rendered frames of a real face, CameraDrive's modes, the capture source with a video file
and with a device that vanishes (a fake: no v4l2 device here), device listing, motion capture out.
"""

from __future__ import annotations

import numpy as np
import pytest

from faces import real_faces
from marionette.core.clock import FakeClock
from marionette.core.control import ControlMixer
from marionette.core.errors import InputError
from marionette.core.track import load_track
from marionette.core.tracking import CalibrationError, Calibrator, FaceTracker, NeutralCalibration, OneEuroFilter
from marionette.core.tracking.calibration import to_gray
from marionette.core.tracking.drive import MOUTH_CHANNELS, CameraDrive
from marionette.core.tracking.record import TrackRecorder
from marionette.core.tracking.solver import bounded_least_squares
from marionette.core.tracking.tracker import TrackedFrame, soft_limit
from marionette.core.types import MotionFrame
from marionette.plugin.sources.camera import (
    READ_FAILURES,
    CameraSource,
    CameraUnavailable,
    FrameGrabber,
    VideoFileCamera,
    find_camera,
    list_cameras,
)

# --- pure parts ----------------------------------------------------------------------------


def test_one_euro_smooths_jitter_and_follows_a_fast_move():
    rng = np.random.default_rng(0)
    f = OneEuroFilter(min_cutoff=1.0, beta=0.5)
    still = [f(np.array([1.0 + 0.05 * rng.standard_normal()]), i / 30)[0] for i in range(60)]
    assert np.std(still[20:]) < 0.5 * 0.05  # jitter at rest cut by more than half
    # A fast step passes with little lag: within 4 frames most of the way there.
    out = [f(np.array([3.0]), (60 + i) / 30)[0] for i in range(4)]
    assert out[-1] > 2.5
    slow = OneEuroFilter(min_cutoff=1.0, beta=0.0)
    slow(np.array([1.0]), 0.0)
    assert slow(np.array([3.0]), 4 / 30)[0] < 2.5  # without beta the same step lags


def test_bounded_least_squares_matches_scipy():
    from scipy.optimize import lsq_linear

    rng = np.random.default_rng(1)
    for trial in range(20):
        a = rng.normal(size=(80, 12))
        a[:, 1] = a[:, 0] + 0.05 * rng.normal(size=80)  # correlated channels, as jawOpen / mouthLowerDown
        y = rng.normal(size=80) * 2
        gram, rhs = a.T @ a + 1e-4 * np.eye(12), a.T @ y
        lo, hi = np.zeros(12), np.ones(12)
        lo[3] = hi[3] = 0.4  # a pinned value (the measured blink)
        w, ok = bounded_least_squares(gram, rhs, lo, hi, rng.uniform(0, 1, 12))
        r = np.linalg.cholesky(gram).T
        ref = lsq_linear(r, np.linalg.solve(r.T, rhs), bounds=(lo, hi + 1e-12), method="bvls").x
        assert ok, trial
        assert np.abs(w - ref).max() < 1e-6, trial
        assert w[3] == pytest.approx(0.4)


def test_soft_limit_is_identity_inside_and_bounded_outside():
    assert soft_limit(5.0, -12, 12) == 5.0
    assert soft_limit(-9.0, -12, 12) == -9.0
    values = [soft_limit(v, -12, 12) for v in np.linspace(0, 40, 81)]
    assert all(b >= a for a, b in zip(values, values[1:]))  # monotonic: a turn never reverses
    assert max(values) < 12.0 and values[-1] > 11.9


def test_calibration_round_trip_and_bad_file(tmp_path):
    cal = _calibration_from(np.zeros((64, 80), np.uint8), _fake_points())
    path = cal.save(tmp_path / "neutral.npz")
    back = NeutralCalibration.load(path)
    assert back.frame_size == (80, 64) and back.camera == "test"
    np.testing.assert_allclose(back.neutral, cal.neutral)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a calibration")
    with pytest.raises(CalibrationError, match="--calibrate"):
        NeutralCalibration.load(bad)


def test_calibrator_needs_two_seconds_of_one_look():
    from marionette.core.face.landmarks import FaceLandmarks, NoFaceError

    cal = Calibrator("cam", seconds=2.0)
    lm = FaceLandmarks(_fake_points(), (0, 0, 1, 1), 1.0, (80, 64))
    gray = np.zeros((64, 80), np.uint8)
    for i in range(40):
        cal.add(gray, lm, i / 30)
    cal.add(gray, None, 41 / 30)  # the face left: start again
    assert cal.progress == 0.0
    with pytest.raises(NoFaceError, match="2 s"):
        cal.result()
    for i in range(62):
        cal.add(gray, lm, 2 + i / 30)
    assert cal.done and cal.result().spread == pytest.approx(0.0)


def test_recorder_writes_a_track_load_track_reads(tmp_path):
    rec = TrackRecorder(tmp_path / "cap.json", fps=30)
    for i in range(31):  # camera frames at 25 fps, one without a face
        rec.add(None if i == 10 else MotionFrame.from_dict({"jawOpen": i / 30}), i / 25)
    track, clamps = load_track(rec.save())
    assert not clamps and track.fps == 30 and len(track) == 37
    assert track.channel("jawOpen")[-1] == pytest.approx(1.0, abs=1e-4)
    with pytest.raises(InputError, match=".json or .csv"):
        TrackRecorder(tmp_path / "cap.txt")


# --- CameraDrive ---------------------------------------------------------------------------

class _Feed:
    def __init__(self) -> None:
        self.sample: TrackedFrame | None = None

    def __call__(self) -> TrackedFrame | None:
        return self.sample

    def face(self, t: float, **channels: float) -> None:
        m = MotionFrame.from_dict(channels, t=t)
        self.sample = TrackedFrame(m, m, None, False, 5.0, 5.0, t)


def test_drive_modes_follow_the_mixer_rules():
    clock = FakeClock()
    mixer = ControlMixer(clock=clock)
    feed = _Feed()
    drive = CameraDrive(mixer, feed, "camera")
    generated = MotionFrame.from_dict({"jawOpen": 0.6, "eyeBlinkLeft": 0.2})  # audio lips + idle blink
    mixer.set_channels({"browInnerUp": 0.9}, transition=0.0)  # an agent's override
    mixer.set_channels({"yaw": 3.0}, mode="add", transition=0.0)  # an agent's offset
    out = None
    for k in range(20):  # the camera fades in over FADE seconds
        t = k / 30
        feed.face(t, jawOpen=0.1, mouthSmileLeft=0.5, yaw=5.0)
        out = drive.apply(generated, t)
    assert out["mouthSmileLeft"] == pytest.approx(0.5) and out["jawOpen"] == pytest.approx(0.1)
    assert out["browInnerUp"] == 0.0 and out["yaw"] == pytest.approx(5.0)  # camera only: controls not shown
    drive.set_mode("camera+audio")
    out = drive.apply(generated, 21 / 30)
    assert out["jawOpen"] == pytest.approx(0.6) and out["mouthSmileLeft"] == 0.0  # mouth from the audio
    assert out["yaw"] == pytest.approx(5.0) and "mouthSmileLeft" in MOUTH_CHANNELS
    drive.set_mode("camera+controls")
    feed.face(22 / 30, jawOpen=0.1, mouthSmileLeft=0.5, yaw=5.0)
    out = drive.apply(generated, 22 / 30)
    assert out["browInnerUp"] == pytest.approx(0.9)  # override replaces
    assert out["yaw"] == pytest.approx(8.0)  # offset adds to the camera's pose
    assert out["mouthSmileLeft"] == pytest.approx(0.5)
    assert drive.status()["mode"] == "camera+controls" and drive.status()["camera_frames"] == 21
    with pytest.raises(InputError, match="camera\\+audio"):
        drive.set_mode("puppet")


def test_drive_falls_back_to_idle_life_when_the_camera_goes():
    clock = FakeClock()
    feed = _Feed()
    drive = CameraDrive(ControlMixer(clock=clock), feed, "camera")
    idle = MotionFrame.from_dict({"eyeBlinkLeft": 0.7})
    for k in range(15):
        feed.face(k / 30, mouthSmileLeft=0.8)
        drive.apply(idle, k / 30)
    outs = [drive.apply(idle, (15 + k) / 30) for k in range(30)]  # no new camera frame for 1 s
    assert outs[0]["mouthSmileLeft"] == pytest.approx(0.8)  # briefly held (STALE)
    assert outs[-1]["mouthSmileLeft"] == 0.0 and outs[-1]["eyeBlinkLeft"] == pytest.approx(0.7)
    smile = [o["mouthSmileLeft"] for o in outs]
    assert all(b <= a + 1e-6 for a, b in zip(smile, smile[1:]))  # a fade, not a jump back and forth
    assert max(abs(a - b) for a, b in zip(smile, smile[1:])) < 0.3


# --- tracking real rendered faces ------------------------------------------------------------

@pytest.fixture(scope="module")
def astronaut():
    from marionette.core.face import FaceAnalyzer
    from marionette.core.render.renderer import PortraitRenderer

    analyzer = FaceAnalyzer.load()
    img = real_faces()["astronaut"]
    return analyzer, PortraitRenderer.load(img, analyzer.analyze(img), (320, 320))


def test_tracker_reads_rendered_motion_back(astronaut):
    analyzer, renderer = astronaut
    neutral = renderer.render(MotionFrame())
    cal = Calibrator("render")
    lm = analyzer.analyze(neutral)
    for i in range(61):
        cal.add(to_gray(neutral), lm, i / 30)
    tracker = FaceTracker(analyzer, cal.result(), pose_range=renderer.pose_range, smooth=False)
    command = MotionFrame.from_dict({"jawOpen": 0.6, "yaw": 6.0})
    got = None
    for i in range(8):  # ramp in, as a video does
        k = min(1.0, (i + 1) / 5)
        got = tracker.process(renderer.render(MotionFrame.from_dict({"jawOpen": 0.6 * k, "yaw": 6.0 * k})), i / 30)
    assert got.motion is not None and tracker.detections == 1  # detection once, then tracking
    assert abs(got.raw["jawOpen"] - command["jawOpen"]) <= 0.15
    assert abs(got.raw["yaw"] - command["yaw"]) <= 2.0
    blank = tracker.process(np.zeros_like(neutral), 1.0)
    assert blank.motion is None and tracker.lost_frames == 1


@pytest.fixture(scope="module")
def clip(tmp_path_factory, astronaut):
    """3.5 s rendered on a real face: 2.5 s neutral (the calibration), then jawOpen 0.7."""
    from marionette.core.render.video import write_video

    _, renderer = astronaut
    frames = [MotionFrame()] * 75 + [MotionFrame.from_dict({"jawOpen": 0.7 * min(1, (i + 1) / 6)}) for i in range(30)]
    path = tmp_path_factory.mktemp("camera") / "clip.mp4"
    write_video((renderer.render(m) for m in frames), path, 30.0)
    return path


def test_file_camera_calibrates_tracks_and_reports_the_end(clip, tmp_path, astronaut):
    analyzer, _ = astronaut
    clock = FakeClock()
    events = []
    cal_file = tmp_path / "camera" / "neutral.npz"
    src = CameraSource(VideoFileCamera(clip, paced=False), clock, analyzer=analyzer, calibration_file=cal_file)
    src.set_reporter(events.append)
    jaw = []
    while True:
        clock.advance(1 / 30)
        if not src.step():
            break
        t = src.latest()
        if t is not None and t.motion is not None:
            jaw.append(t.motion["jawOpen"])
    assert cal_file.is_file() and src.calibration.steady
    assert src.state == "ended" and src.latest() is None
    assert any("calibrating" in e.message for e in events) and "idle life" in events[-1].message
    assert 40 <= len(jaw) <= 45  # 105 frames less the 2 s calibration
    assert max(jaw) == pytest.approx(0.7, abs=0.15) and jaw[0] < 0.1
    # The next run finds the calibration and tracks from the first frame.
    again = CameraSource(VideoFileCamera(clip, paced=False), clock, analyzer=analyzer, calibration_file=cal_file)
    clock.advance(1 / 30)
    again.step()
    assert again.state == "tracking"
    again.close()
    src.close()


class VanishingCamera(FrameGrabber):
    """A device that delivers ``frames`` pictures, then nothing (unplugged): the hardware we
    cannot have here, behind the real interface."""

    def __init__(self, image: np.ndarray, frames: int) -> None:
        self.name, self.image, self.left = "USB cam", image, frames

    def read(self) -> np.ndarray | None:
        if self.left <= 0:
            return None
        self.left -= 1
        return self.image


def test_vanished_camera_is_status_and_comes_back(astronaut, monkeypatch):
    import marionette.plugin.sources.camera as cam

    monkeypatch.setattr(cam, "RETRY", 0.0)
    analyzer, renderer = astronaut
    picture = renderer.render(MotionFrame())
    clock = FakeClock()
    events = []
    src = CameraSource(VanishingCamera(picture, 70), clock, analyzer=analyzer,
                       reopen=lambda: VanishingCamera(picture, 5))
    src.set_reporter(events.append)
    for _ in range(70 + READ_FAILURES):
        clock.advance(1 / 30)
        src.step()
    assert src.state == "lost" and src.latest() is None
    lost = [e for e in events if "stopped delivering" in e.message]
    assert len(lost) == 1 and lost[0].retrying and "idle life" in lost[0].message
    src.step()  # the retry reopens it
    assert any(e.level == "recovered" and "is back" in e.message for e in events)
    clock.advance(1 / 30)
    assert src.step() and src.state == "tracking"


# --- devices ---------------------------------------------------------------------------------

def test_list_and_find_cameras_from_sysfs(tmp_path):
    for node, name, index in (("video0", "HD Webcam C920", "0"), ("video1", "HD Webcam C920", "1"),
                              ("video2", "OBS Virtual Camera", "0")):
        (tmp_path / node).mkdir()
        (tmp_path / node / "name").write_text(name + "\n")
        (tmp_path / node / "index").write_text(index + "\n")
    cams = list_cameras(tmp_path)
    assert [(c.index, c.name) for c in cams] == [(0, "HD Webcam C920"), (2, "OBS Virtual Camera")]
    assert find_camera("c920", cams).index == 0
    assert find_camera("2", cams).name == "OBS Virtual Camera"
    with pytest.raises(CameraUnavailable, match="HD Webcam C920"):
        find_camera("facetime", cams)
    with pytest.raises(CameraUnavailable, match="--camera-file"):
        find_camera(None, [])
    assert list_cameras(tmp_path / "missing") == []


def test_bad_camera_file_is_one_clear_line(tmp_path):
    with pytest.raises(CameraUnavailable, match="does not exist"):
        VideoFileCamera(tmp_path / "nope.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(CameraUnavailable, match="cannot be read as video"):
        VideoFileCamera(junk)


# --- helpers -------------------------------------------------------------------------------

def _fake_points() -> np.ndarray:
    rng = np.random.default_rng(3)
    pts = rng.uniform(10, 60, size=(478, 3)).astype(np.float32)
    pts[234, :2], pts[454, :2] = (10, 30), (70, 30)
    return pts


def _calibration_from(gray: np.ndarray, points: np.ndarray) -> NeutralCalibration:
    from marionette.core.face.landmarks import FaceLandmarks

    lm = FaceLandmarks(points, (0, 0, 1, 1), 1.0, (gray.shape[1], gray.shape[0]))
    return NeutralCalibration(points, lm, gray, "test", 0.0, 0.0)


# --- protocol ------------------------------------------------------------------------------

def test_set_drive_over_the_protocol():
    from marionette.plugin.control import messages as m
    from marionette.plugin.control.commands import Commands
    from marionette.plugin.control.sim_engine import SimEngine

    clock = FakeClock()

    class CameraSim(SimEngine):
        """The protocol's simulated engine with a camera's drive attached (DriveControl)."""

        def __init__(self) -> None:
            super().__init__(clock=clock)
            self.drive = CameraDrive(self.mixer, lambda: None)

        def set_drive(self, mode: str) -> str:
            self.drive.set_mode(mode)
            return self.drive.mode

    cmds = Commands(CameraSim(), clock)
    parsed = m.parse_message('{"id": 1, "type": "set_drive", "mode": "camera+audio"}')
    assert cmds.execute(parsed.message).result == {"drive": "camera+audio"}
    with pytest.raises(m.ProtocolError, match="camera\\+controls"):
        m.parse_message('{"id": 2, "type": "set_drive", "mode": "puppet"}')
    with pytest.raises(m.ProtocolError, match="no camera") as err:
        Commands(SimEngine(clock=clock), clock).execute(parsed.message)
    assert err.value.code == "not_available"


def test_run_flags_make_the_camera_config():
    from marionette.plugin.cli import build_parser
    from marionette.plugin.commands.run import overrides_from_args
    from marionette.plugin.config import ConfigError, load_config

    def cfg(*argv):
        return load_config(None, overrides_from_args(build_parser().parse_args(["run", *argv])))

    c = cfg("--source", "camera")
    assert c.camera.enabled and c.audio.source == "tts" and c.camera.drive == "camera"
    assert cfg("--source", "camera", "--drive", "camera+audio").audio.source == "auto"  # the microphone's lips
    c = cfg("--camera-file", "clip.mp4", "--source", "none", "--drive", "camera+audio", "--calibrate")
    assert c.camera.file == "clip.mp4" and c.audio.source == "none" and c.camera.calibrate
    assert cfg("--camera", "2").camera.device == 2 and cfg("--camera", "C920").camera.device == "C920"
    with pytest.raises(ConfigError, match="camera.drive"):
        load_config(None, {"camera.drive": "puppet"})
    assert not cfg().camera.enabled


class BrokenCamera(FrameGrabber):
    """A driver that raises on every read (a fake: the failure a real device can have)."""

    name = "broken"

    def read(self) -> np.ndarray | None:
        raise OSError("VIDIOC_DQBUF: No such device")


def test_a_failing_camera_is_said_once_and_the_thread_goes_on():
    import time

    events = []
    src = CameraSource(BrokenCamera(), FakeClock())
    src.set_reporter(events.append)
    src.start()
    time.sleep(0.5)  # the capture thread retries every 0.1 s
    src.close()
    failed = [e for e in events if "tracking failed" in e.message]
    assert len(failed) == 1 and "No such device" in failed[0].message and failed[0].retrying
