"""`marionette run --camera-file`: the camera path end to end in the real app (issue 14). A clip
rendered on a real face stands in for the camera (2.5 s neutral for the calibration, then the jaw
opens); the run must calibrate, track, drive the avatar, and write the motion captured."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from faces import real_faces
from marionette.core.track import load_track
from marionette.core.types import MotionFrame


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    from marionette.core.face import FaceAnalyzer
    from marionette.core.render.renderer import PortraitRenderer
    from marionette.core.render.video import write_video

    analyzer = FaceAnalyzer.load()
    img = real_faces()["astronaut"]
    renderer = PortraitRenderer.load(img, analyzer.analyze(img), (320, 320))
    frames = [MotionFrame()] * 75 + [MotionFrame.from_dict({"jawOpen": 0.7 * min(1, (i + 1) / 6)}) for i in range(150)]
    path = tmp_path_factory.mktemp("live") / "performer.mp4"
    write_video((renderer.render(m) for m in frames), path, 30.0)
    return path


def test_run_with_a_camera_file_drives_the_avatar(clip, tmp_path):
    capture = tmp_path / "capture.json"
    env = dict(os.environ, MARIONETTE_CONFIG_DIR=str(tmp_path / "config"))
    cmd = [sys.executable, "-m", "marionette.plugin.cli", "run", "--camera-file", str(clip), "--source", "none",
           "--generator", "envelope", "--no-say", "--duration", "7", "--no-virtualcam", "--no-mjpeg",
           "--no-control", "--no-panel", "--camera-motion-out", str(capture), "--record", str(tmp_path / "run.mp4"),
           "--stats-every", "0"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert "performer.mp4 drives the face" in out
    assert "calibrating" in out and "calibrated" in out
    assert (tmp_path / "config" / "camera").is_dir()  # the calibration is kept for the next run
    track, _ = load_track(capture)
    jaw = track.channel("jawOpen")
    assert len(track) > 30
    # Neutral first (the last half second before the jaw moves), then the jaw the clip shows.
    assert jaw[0] < 0.1 and jaw.max() > 0.45
