"""The canonical face frame and the expression bases (core/render/face_frame.py, bases.py)."""

from pathlib import Path

import numpy as np
import pytest

from marionette.core.motion_space import ARKIT_BLENDSHAPES
from marionette.core.render import HeadPose, build_bases, rotation_matrix, solve_pose, to_canonical
from marionette.core.mesh_index import EYE_LOWER, EYE_UPPER, IRIS, LIP_INNER_LOWER, LIP_INNER_UPPER

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def landmarks():
    # mediapipe 0.10.21 face mesh (refine_landmarks) on skimage.data.astronaut(): a real face.
    return np.load(DATA / "astronaut_landmarks_mediapipe.npy")


def test_canonical_round_trip(landmarks):
    canon, frame = to_canonical(landmarks)
    assert canon.shape == (478, 3) and canon.dtype == np.float32
    np.testing.assert_allclose(frame.to_image(canon), landmarks, atol=1e-3)
    # one face width between the cheeks, the eye line level, the origin between the eyes
    assert np.linalg.norm(canon[454] - canon[234]) == pytest.approx(1.0, abs=1e-5)
    eyes_r, eyes_l = canon[[33, 133]].mean(0), canon[[263, 362]].mean(0)
    assert abs(eyes_r[1] - eyes_l[1]) < 1e-5
    np.testing.assert_allclose((eyes_r + eyes_l)[:2] / 2, 0.0, atol=1e-5)


def test_pose_sign_conventions(landmarks):
    canon, frame = to_canonical(landmarks)
    nose, chin, top = 1, 152, 10
    base = frame.project(canon, HeadPose())
    np.testing.assert_allclose(base, landmarks, atol=1e-3)
    down = frame.project(canon, HeadPose(pitch=10))
    assert down[nose, 1] > base[nose, 1]  # pitch + = looking down: the nose tip drops
    right = frame.project(canon, HeadPose(yaw=10))
    assert right[nose, 0] > base[nose, 0]  # yaw + = turning to the subject's left (image right)
    cw = frame.project(canon, HeadPose(roll=10))
    assert cw[top, 0] > base[top, 0] and cw[chin, 0] < base[chin, 0]  # clockwise
    moved = frame.project(canon, HeadPose(tx=0.1, ty=-0.2))
    np.testing.assert_allclose((moved - base)[:, 0], 0.1 * frame.scale, rtol=1e-3)
    np.testing.assert_allclose((moved - base)[:, 1], -0.2 * frame.scale, rtol=1e-3)
    np.testing.assert_allclose(rotation_matrix(0, 0, 0), np.eye(3))


def test_solve_pose_inverts_project(landmarks):
    canon, frame = to_canonical(landmarks)
    want = HeadPose(pitch=-8, yaw=11, roll=-14, tx=0.05, ty=0.1, scale=0.9)
    got, resid = solve_pose(canon, frame.project(canon, want), frame)
    for name in ("pitch", "yaw", "roll", "tx", "ty", "scale"):
        assert getattr(got, name) == pytest.approx(getattr(want, name), abs=1e-3), name
    assert resid < 1e-4


def test_bases_cover_the_required_channels(landmarks):
    canon, _ = to_canonical(landmarks)
    bases = build_bases(canon)
    required = """jawOpen mouthClose mouthFunnel mouthPucker mouthLeft mouthRight mouthSmileLeft
        mouthSmileRight mouthFrownLeft mouthFrownRight mouthStretchLeft mouthStretchRight mouthPressLeft
        mouthPressRight mouthRollLower mouthRollUpper mouthUpperUpLeft mouthUpperUpRight mouthLowerDownLeft
        mouthLowerDownRight browInnerUp browDownLeft browDownRight browOuterUpLeft browOuterUpRight
        eyeBlinkLeft eyeBlinkRight eyeWideLeft eyeWideRight eyeSquintLeft eyeSquintRight cheekSquintLeft
        cheekSquintRight noseSneerLeft noseSneerRight eyeLookUpLeft eyeLookDownLeft eyeLookInLeft
        eyeLookOutLeft eyeLookUpRight eyeLookDownRight eyeLookInRight eyeLookOutRight""".split()
    assert set(required) <= set(bases.channels)
    assert bases.deltas.shape == (len(bases.channels), 478, 3) and bases.deltas.dtype == np.float32
    assert set(bases.channels) | set(bases.unsupported) == set(ARKIT_BLENDSHAPES)
    assert "tongueOut" in bases.unsupported
    for i, ch in enumerate(bases.channels):
        assert np.abs(bases.deltas[i]).max() > 0.01, f"{ch} does not move anything"
        assert np.abs(bases.deltas[i]).max() < 0.35, f"{ch} moves too far"


def test_bases_do_what_their_names_say(landmarks):
    canon, _ = to_canonical(landmarks)
    b = build_bases(canon, calibrated=False)

    def moved(ch, w=1.0):
        weights = np.zeros(len(b.channels), np.float32)
        weights[b.index(ch)] = w
        return b.apply(canon, weights)

    gap = lambda pts: pts[list(LIP_INNER_LOWER), 1].mean() - pts[list(LIP_INNER_UPPER[1:-1]), 1].mean()
    middle = lambda pts: pts[14, 1] - pts[13, 1]
    assert middle(moved("jawOpen")) - middle(canon) > 0.2  # a wide-open mouth
    # A lens, not a box: the lips open less towards the corners (95/191 beside the corner 78)
    near_corner = lambda pts: pts[95, 1] - pts[191, 1]
    opened = lambda f: f(moved("jawOpen")) - f(canon)
    assert 0.1 * opened(middle) < opened(near_corner) < 0.75 * opened(middle)
    assert gap(moved("jawOpen") + moved("mouthClose") - canon) < gap(canon) + 0.02  # lips meet again
    for s in ("Left", "Right"):
        lids = moved(f"eyeBlink{s}")
        opening = lids[list(EYE_LOWER[s]), 1] - lids[list(EYE_UPPER[s]), 1]
        assert np.all(np.abs(opening) < 0.005), f"eyeBlink{s} leaves the eye open"
    sg = {"Left": 1, "Right": -1}
    for s in ("Left", "Right"):
        iris = list(IRIS[s])
        dx = moved(f"eyeLookOut{s}")[iris, 0] - canon[iris, 0]
        assert np.all(dx * sg[s] > 0.02)
        corner = 291 if s == "Left" else 61
        smile = moved(f"mouthSmile{s}")[corner] - canon[corner]
        assert smile[1] < -0.03 and smile[0] * sg[s] > 0.02  # up and out
    assert (moved("browInnerUp")[107, 1] - canon[107, 1]) < -0.03


def test_calibrated_bases_are_the_authored_ones_times_the_analysis_gain(landmarks):
    from marionette.core.render.bases import ANALYSIS_GAIN

    canon, _ = to_canonical(landmarks)
    cal, raw = build_bases(canon), build_bases(canon, calibrated=False)
    assert cal.channels == raw.channels
    for i, ch in enumerate(cal.channels):
        np.testing.assert_allclose(cal.deltas[i], raw.deltas[i] * ANALYSIS_GAIN.get(ch, 1.0), atol=1e-7)
    # The analyser reads at most what was drawn; a channel it follows by texture (gaze, by the
    # iris tracker) reads 1 within the calibration's noise.
    assert all(0.2 < g <= 1.05 for g in ANALYSIS_GAIN.values())
