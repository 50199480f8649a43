"""Motion extraction (the renderer's inverse) and `marionette analyze`."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from faces import real_faces
from marionette.core.face import FaceAnalyzer, default_portrait_path, load_image
from marionette.core.face.extract import MotionExtractor, MotionReference, extract_motion
from marionette.core.motion_space import ARKIT_BLENDSHAPES
from marionette.core.render.face_frame import HeadPose
from marionette.plugin.cli import main


@pytest.fixture(scope="module")
def reference() -> MotionReference:
    return MotionReference.from_landmarks(FaceAnalyzer.load().analyze(real_faces()["astronaut"]))


def _synthetic(ref: MotionReference, channels: dict[str, float], pose: HeadPose) -> np.ndarray:
    w = np.zeros(len(ref.bases.channels), np.float32)
    for k, v in channels.items():
        w[ref.bases.index(k)] = v
    return ref.frame.project(ref.bases.apply(ref.neutral, w), pose)


def test_neutral_extracts_as_neutral(reference):
    points = reference.frame.to_image(reference.neutral)
    m = extract_motion(points, reference)
    assert max(abs(m.pitch), abs(m.yaw), abs(m.roll)) < 0.01
    assert abs(m.scale - 1) < 1e-4 and abs(m.tx) < 1e-4 and abs(m.ty) < 1e-4
    assert float(np.abs(m.blendshapes).max()) < 0.01


@pytest.mark.parametrize(
    "channels, pose",
    [
        ({"jawOpen": 0.6}, HeadPose()),
        ({"mouthSmileLeft": 0.8}, HeadPose(yaw=8.0)),
        ({"eyeBlinkRight": 1.0}, HeadPose(pitch=-6.0, roll=5.0)),
        ({"browInnerUp": 0.5, "eyeLookOutLeft": 0.7, "eyeLookInRight": 0.7}, HeadPose(tx=0.05, ty=-0.03, scale=1.05)),
    ],
)
def test_round_trip_through_the_bases(reference, channels, pose):
    """Points the renderer's own model would produce come back as the motion that made them."""
    m = MotionExtractor(reference).extract(_synthetic(reference, channels, pose)).motion
    for axis in ("pitch", "yaw", "roll"):
        assert abs(getattr(m, axis) - getattr(pose, axis)) < 0.2, axis
    assert abs(m.tx - pose.tx) < 0.005 and abs(m.ty - pose.ty) < 0.005 and abs(m.scale - pose.scale) < 0.005
    for k, v in channels.items():
        assert abs(m[k] - v) < 0.08, (k, m[k])
    others = [m[k] for k in ARKIT_BLENDSHAPES if k not in channels]
    assert max(others) < 0.15


def test_noise_does_not_invent_expressions(reference):
    rng = np.random.default_rng(3)
    points = reference.frame.to_image(reference.neutral)
    noisy = points + rng.normal(0, 0.002 * reference.frame.scale, points.shape).astype(np.float32)
    m = extract_motion(noisy, reference)
    assert float(np.abs(m.blendshapes).max()) < 0.25
    assert max(abs(m.pitch), abs(m.yaw), abs(m.roll)) < 1.0


def test_bad_landmarks_shape(reference):
    with pytest.raises(ValueError, match=r"\(478, 3\)"):
        extract_motion(np.zeros((468, 3)), reference)


def test_analyze_cli_on_a_rendered_frame(tmp_path, capsys):
    from marionette.core.render.renderer import PortraitRenderer
    from marionette.core.types import MotionFrame

    analyzer = FaceAnalyzer.load()
    portrait = load_image(default_portrait_path())
    renderer = PortraitRenderer.load(portrait, analyzer.analyze(portrait), (512, 512))
    ref_path, frame_path = tmp_path / "neutral.png", tmp_path / "frame.png"
    cv2.imwrite(str(ref_path), renderer.base[:, :, ::-1])
    cv2.imwrite(str(frame_path), renderer.render(MotionFrame.from_dict({"jawOpen": 0.6, "roll": 8.0}))[:, :, ::-1])
    assert main(["analyze", str(frame_path), "--reference", str(ref_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["landmarks"]["count"] == 478
    assert report["blendshapes"].get("jawOpen", 0) > 0.2
    assert abs(report["pose"]["roll"] - 8.0) < 2.0
    assert main(["analyze", str(ref_path), "--reference", str(ref_path)]) == 0
    assert "all zero (neutral)" in capsys.readouterr().out


def test_analyze_cli_errors(tmp_path, capsys):
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((200, 300, 3), 127, np.uint8))
    assert main(["analyze", str(blank)]) == 2
    assert "no face found in the 300x200 picture" in capsys.readouterr().err
    assert main(["analyze", str(tmp_path / "missing.jpg")]) == 2
    assert "does not exist" in capsys.readouterr().err
