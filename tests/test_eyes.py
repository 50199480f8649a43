"""Eyes: the iris moves the commanded distance both ways and leaves the white of the eye behind,
a shut lid draws one lash line, and the iris tracker of the control evaluation follows the iris
where the eye is open and gives up where the lid is shut. Real faces, real renderer, real models."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from faces import portrait_faces
from marionette.core.face import FaceAnalyzer
from marionette.core.face.extract import MotionExtractor, MotionReference
from marionette.core.face.flow import flow_confidence, refine_with_flow
from marionette.core.face.iris_track import track_irises
from marionette.core.mesh_index import EYE_CORNERS, EYE_LOWER, EYE_UPPER, IRIS
from marionette.core.render import PortraitRenderer
from marionette.core.render.eyes import _opening
from marionette.core.render.mouth import _poly_mask
from marionette.core.types import MotionFrame

GAZE = {
    "left": {"eyeLookOutLeft": 0.8, "eyeLookInRight": 0.8},
    "right": {"eyeLookInLeft": 0.8, "eyeLookOutRight": 0.8},
}


@pytest.fixture(scope="module")
def analyzer():
    return FaceAnalyzer.load()


@pytest.fixture(scope="module")
def setup(analyzer):
    img = portrait_faces()["astronaut"]
    r = PortraitRenderer.load(img, analyzer.analyze(img), (512, 512))
    return r, analyzer.analyze(r.base)


def _gray(im: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(im, cv2.COLOR_RGB2GRAY)


def _intended_dx(r: PortraitRenderer, channels: dict) -> np.ndarray:
    w = r.authored_bases.weights_from_blendshapes(MotionFrame.from_dict(channels).blendshapes)
    d = r.authored_bases.apply(r.neutral, w) - r.neutral
    return d[[IRIS["Right"][0], IRIS["Left"][0]], 0] * r.frame.scale


@pytest.mark.parametrize("direction", sorted(GAZE))
def test_iris_moves_the_commanded_distance_both_ways(setup, analyzer, direction):
    # Found again by its texture, each iris moved as far as the bases say, towards the nose as
    # well as away from it (no in/out asymmetry in the renderer).
    r, ref = setup
    im = r.render(MotionFrame.from_dict(GAZE[direction]))
    pts, found = track_irises(_gray(r.base), ref.points, _gray(im), analyzer.analyze(im).points)
    assert found.all()
    moved = pts[[0, 5], 0] - ref.points[[468, 473], 0]
    want = _intended_dx(r, GAZE[direction])
    assert np.all(np.abs(want) > 4.0)
    np.testing.assert_allclose(moved, want, atol=0.6)


def test_moved_iris_leaves_the_white_of_the_eye(setup):
    # The eyeball behind the iris is filled from the white either side, not from the lid skin:
    # where the iris was, the picture is about as bright as the visible white.
    r, _ = setup
    for side in ("Left", "Right"):
        lm = r.landmarks
        c = lm[IRIS[side][0], :2]
        rad = float(np.linalg.norm(lm[list(IRIS[side][1:]), :2] - c, axis=1).mean())
        inside = _poly_mask(r.base.shape[:2], lm[list(_opening(side)), :2]) > 127
        yy, xx = np.mgrid[: r.base.shape[0], : r.base.shape[1]]
        disc = (xx + 0.5 - c[0]) ** 2 + (yy + 0.5 - c[1]) ** 2 <= (0.5 * rad) ** 2
        ring = ((xx + 0.5 - c[0]) ** 2 + (yy + 0.5 - c[1]) ** 2 > (1.4 * rad) ** 2) & inside
        lum = r.eyes.sclera.astype(np.float32).mean(2)
        white = np.percentile(lum[ring], 75)
        assert lum[disc & inside].mean() > 0.8 * white, side
        assert lum[disc & inside].mean() > r.base.astype(np.float32).mean(2)[disc & inside].mean() + 40, side


def test_shut_eye_is_not_tracked_and_reads_no_gaze(setup, analyzer):
    r, ref = setup
    im = r.render(MotionFrame.from_dict({"eyeBlinkLeft": 1.0}))
    mesh = analyzer.analyze(im)
    _, found = track_irises(_gray(r.base), ref.points, _gray(im), mesh.points)
    assert found[:5].all() and not found[5:].any()  # the right eye stays open, the left is shut
    flow, tracked = refine_with_flow(r.base, ref, im, mesh)
    m = MotionExtractor(MotionReference.from_landmarks(ref, r.bases)).extract(flow, confidence=flow_confidence(tracked)).motion
    assert m["eyeBlinkLeft"] > 0.85
    for ch in ("eyeLookOutLeft", "eyeLookInLeft", "eyeLookUpLeft", "eyeLookDownLeft"):
        assert m[ch] < 0.15, (ch, m[ch])


def test_shut_lid_draws_a_lash_line(setup):
    # Along the shut lid, the darkest pixel of each column is lash-dark, from corner to corner.
    r, _ = setup
    im = r.render(MotionFrame.from_dict({"eyeBlinkRight": 1.0})).astype(np.float32).mean(2)
    lm = r.landmarks
    xs = np.sort(lm[list(EYE_UPPER["Right"]), 0])
    skin = np.median(im[int(lm[159, 1]) - 10:int(lm[159, 1]) - 4, int(xs[0]):int(xs[-1])])
    lo = int(np.floor(min(lm[list(EYE_UPPER["Right"] + EYE_LOWER["Right"] + EYE_CORNERS["Right"]), 1].min(), 1e9)))
    hi = int(np.ceil(lm[list(EYE_LOWER["Right"]), 1].max())) + 2
    for x in np.linspace(xs[0] + 2, xs[-1] - 2, 6).astype(int):
        assert im[lo:hi, x].min() < 0.7 * skin, x


def test_lid_margin_stays_put_under_gaze_and_comes_down_in_a_blink(setup, analyzer):
    from marionette.core.face.lid_track import track_lids

    r, ref = setup
    im = r.render(MotionFrame.from_dict(GAZE["left"]))
    found, frac = track_lids(_gray(r.base), ref.points, _gray(im), analyzer.analyze(im).points)
    assert frac >= 0.4
    for i, p in found.items():  # the lids did not move: the margin is found where it was
        assert np.linalg.norm(p - ref.points[i, :2]) < 0.75, i
    im = r.render(MotionFrame.from_dict({"eyeBlinkRight": 1.0}))
    mesh = analyzer.analyze(im).points
    found, _ = track_lids(_gray(r.base), ref.points, _gray(im), mesh)
    w = r.authored_bases.weights_from_blendshapes(MotionFrame.from_dict({"eyeBlinkRight": 1.0}).blendshapes)
    drop = (r.authored_bases.apply(r.neutral, w) - r.neutral)[:, 1] * r.frame.scale
    upper = [i for i in EYE_UPPER["Right"][2:-2] if i in found]
    assert upper, "no upper lid point of the shut eye found"
    for i in upper:  # the margin came down most of the way the lid was sent
        moved = found[i][1] - ref.points[i, 1]
        assert moved > 0.6 * drop[i], (i, moved, drop[i])
