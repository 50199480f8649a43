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


def test_silhouette_outliers_do_not_turn_the_head(reference):
    """The cheek points at the ears are the face's outline, which the mesh network puts on the
    visible silhouette: under a turn three of them can sit several pixels off. The pose fit must
    follow the points that agree (core.face.extract._pose_from_xy, Cauchy loss)."""
    pose = HeadPose(yaw=-10.0)
    points = _synthetic(reference, {}, pose)
    points[[454, 356, 323], 0] -= 0.045 * reference.frame.scale  # ~7 px at a 160 px face
    m = MotionExtractor(reference).extract(points).motion
    assert abs(m.yaw - pose.yaw) < 0.8, m.yaw


def test_lost_points_weigh_less_in_the_pose(reference):
    """Silhouette points the flow tracker lost (their reading is the mesh network's guess) pull
    the pose less when their confidence says so."""
    from marionette.core.face.flow import flow_confidence

    pose = HeadPose(yaw=10.0)
    points = _synthetic(reference, {}, pose)
    outline = [454, 356, 323]
    points[outline, 0] -= 0.02 * reference.frame.scale  # ~3 px: inside Cauchy's reach
    tracked = np.ones(478, bool)
    tracked[outline] = False
    ex = MotionExtractor(reference)
    plain = abs(ex.extract(points).motion.yaw - pose.yaw)
    weighted = abs(ex.extract(points, confidence=flow_confidence(tracked)).motion.yaw - pose.yaw)
    assert weighted < 0.6 * plain and weighted < 0.5, (plain, weighted)


def test_depth_alone_reads_as_no_expression(reference):
    """An opened jaw whose measured depth lags its basis (the mesh network under-reads z) is
    jawOpen, not jawOpen plus jawForward: the fit uses x and y only (Z_WEIGHT 0)."""
    points = _synthetic(reference, {"jawOpen": 0.8}, HeadPose())
    rest = reference.frame.to_image(reference.neutral)
    points[:, 2] = rest[:, 2] + 0.3 * (points[:, 2] - rest[:, 2])
    m = MotionExtractor(reference).extract(points).motion
    assert abs(m["jawOpen"] - 0.8) < 0.05
    assert m["jawForward"] < 0.05


def test_confidence_weighs_points(reference):
    """Points given low confidence (a tracker lost them) pull the fit less than points tracked."""
    from marionette.core.face.flow import LOST_CONFIDENCE, flow_confidence

    good = _synthetic(reference, {"jawOpen": 0.8}, HeadPose())
    rest = reference.frame.to_image(reference.neutral)
    lips = [13, 14, 17, 78, 308, 87, 317, 84, 314, 95, 324, 146, 375, 61, 291]
    bad = good.copy()
    bad[lips] = rest[lips] + 0.6 * (good[lips] - rest[lips])  # lips read short, as the mesh does
    tracked = np.ones(478, bool)
    tracked[lips] = False
    conf = flow_confidence(tracked)
    assert conf[13] == pytest.approx(LOST_CONFIDENCE) and conf[152] == 1.0
    assert conf[470] == 1.0 and conf[159] == 1.0  # irises and lid edges are not flow's to lose
    ex = MotionExtractor(reference)
    plain = ex.extract(bad).motion["jawOpen"]
    weighted = ex.extract(bad, confidence=conf).motion["jawOpen"]
    assert abs(weighted - 0.8) < abs(plain - 0.8)


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
