"""The mouth interior at a wide-open jaw (core/render/mouth.py, the jaw basis in bases.py): what a
viewer should see is a lens-shaped opening with a dark cavity that has depth, a tongue on the
floor of the mouth and teeth, not a flat dark box."""

from __future__ import annotations

import numpy as np
import pytest
from faces import portrait_faces
from marionette.core.face import FaceAnalyzer
from marionette.core.render import PortraitRenderer
from marionette.core.types import MotionFrame


@pytest.fixture(scope="module")
def renderers() -> dict[str, PortraitRenderer]:
    analyzer = FaceAnalyzer.load()
    faces = portrait_faces()
    # hopper: closed mouth (synthesised teeth); astronaut: a smile that shows its own teeth
    return {k: PortraitRenderer.load(faces[k], analyzer.analyze(faces[k]), (512, 512)) for k in ("hopper", "astronaut")}


def _interior(r: PortraitRenderer, jaw: float) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """The frame, a mask of the pixels the mouth layer changed, and the mouth corners' x."""
    neutral = r.render(MotionFrame())
    frame = r.render(MotionFrame.from_dict({"jawOpen": jaw}))
    changed = np.abs(frame.astype(int) - neutral.astype(int)).max(2) > 30
    lm = r.landmarks
    return frame, changed, (int(lm[61, 0]), int(lm[291, 0]))


@pytest.mark.parametrize("name", ["hopper", "astronaut"])
def test_opening_is_a_lens_not_a_box(renderers, name):
    """The outline the mouth layer paints (the inner lips, smoothed) at jawOpen 0.8: tall in the
    middle, closing towards pointed corners."""
    from marionette.core.render.face_frame import HeadPose
    from marionette.core.render.mouth import POLYGON, _poly_mask, _smooth_outline

    r = renderers[name]
    b = r.authored_bases
    w = b.weights_from_blendshapes(MotionFrame.from_dict({"jawOpen": 0.8}).blendshapes)
    pts = r.frame.project(b.apply(r.neutral, w), HeadPose())[list(POLYGON), :2]
    outline = _smooth_outline(pts)
    assert len(outline) > 3 * len(POLYGON)  # curves, not 20 straight segments
    mask = _poly_mask((512, 512), outline) > 127
    heights = mask.sum(0)
    xl, xr = pts[:, 0].min(), pts[:, 0].max()
    mid, half = (xl + xr) / 2, (xr - xl) / 2
    centre = heights[int(mid) - 2:int(mid) + 3].max()
    assert centre > 0.12 * r.face_width_px  # wide open
    for s in (-1, 1):
        assert heights[round(mid + s * 0.75 * half)] < 0.65 * centre
        assert heights[round(mid + s * 0.95 * half)] < 0.3 * centre


def test_cavity_has_depth_and_a_tongue(renderers):
    from marionette.core.render.face_frame import HeadPose

    r = renderers["hopper"]
    frame, changed, (xl, xr) = _interior(r, 0.8)
    rgb = frame.astype(float)
    lum = rgb.mean(2)
    mid, half = (xl + xr) // 2, (xr - xl) / 2
    y0 = int(r.landmarks[13, 1])
    b = r.authored_bases
    w = b.weights_from_blendshapes(MotionFrame.from_dict({"jawOpen": 0.8}).blendshapes)
    lower_lip = float(r.frame.project(b.apply(r.neutral, w), HeadPose())[14, 1])  # inner lower lip, drawn

    def cavity(x: int) -> np.ndarray:
        col = np.zeros_like(changed)
        col[y0:int(lower_lip), x - 3:x + 3] = True
        return col & changed & (lum < 90)

    # The throat (middle) is darker than the cavity towards the corners.
    centre = lum[cavity(mid)].mean()
    for s in (-1, 1):
        assert lum[cavity(int(mid + s * 0.55 * half))].mean() > 1.05 * centre
    # A tongue between the dark throat and the lower lip: reddish, lit pixels in the middle.
    dark = cavity(mid) & (lum < 60)
    ys = np.nonzero(dark.any(1))[0]
    band = rgb[ys.max() + 1:int(lower_lip) - 1, mid - 3:mid + 3].reshape(-1, 3)
    assert len(band) >= 6 * 3  # at least three rows of it
    red = (band[:, 0] > 1.25 * band[:, 1]) & (band.mean(1) > 70)
    assert red.mean() > 0.6


@pytest.mark.parametrize("name", ["hopper", "astronaut"])
def test_wide_opening_has_no_hard_corners(renderers, name):
    """At jawOpen 0.8 and 1 the opening is an oval: along its outline no step turns by more than
    30 degrees (the curve through the landmarks turned 55-68 degrees at the mouth corners and the
    lower lip's kinks: a hexagon)."""
    from marionette.core.render.face_frame import HeadPose
    from marionette.core.render.mouth import POLYGON, _smooth_outline

    r = renderers[name]
    b = r.authored_bases
    for jaw in (0.8, 1.0):
        w = b.weights_from_blendshapes(MotionFrame.from_dict({"jawOpen": jaw}).blendshapes)
        pts = r.frame.project(b.apply(r.neutral, w), HeadPose())[list(POLYGON), :2]
        o = _smooth_outline(pts)
        d = np.diff(np.vstack([o, o[:1]]), axis=0)
        d = d[np.linalg.norm(d, axis=1) > 1e-6]
        ang = np.arctan2(d[:, 1], d[:, 0])
        turn = np.abs((np.diff(np.append(ang, ang[0])) + np.pi) % (2 * np.pi) - np.pi)
        assert np.degrees(turn).max() < 30.0


def test_lifted_upper_lip_reveals_teeth_not_lip(renderers):
    """astronaut shows its own teeth: what a lifted upper lip reveals above them (the upper sprite
    just above the inner-lip landmarks) is tooth shading into gum, not the lip's own margin
    repeated upwards (a pink smear more saturated than the lips: red - blue 100 against 61)."""
    from marionette.core.mesh_index import LIP_INNER_UPPER, LIP_OUTER_LOWER, LIP_OUTER_UPPER
    from marionette.core.render.mouth import POLYGON, _poly_mask

    r = renderers["astronaut"]
    lm, m = r.landmarks, r.mouth
    assert m.real_teeth
    outer = lm[list(LIP_OUTER_UPPER) + list(reversed(LIP_OUTER_LOWER)), :2]
    shape = r.base.shape[:2]
    lips = (_poly_mask(shape, outer) > 127) & ~(_poly_mask(shape, lm[list(POLYGON), :2]) > 127)
    lip = r.base[lips].astype(float).mean(0)
    up = lm[list(LIP_INNER_UPPER), :2] - m.origin
    order = np.argsort(up[:, 0])
    xl, xr = up[:, 0].min(), up[:, 0].max()
    xs = np.arange(int(xl + 0.3 * (xr - xl)), int(xr - 0.3 * (xr - xl)))
    px = []
    for x, t in zip(xs, np.interp(xs, up[order, 0], up[order, 1])):
        for y in range(int(t - 0.03 * m.face_px), int(t)):
            a = m.upper[y, x, 3]
            if a > 0.5:
                px.append(m.upper[y, x, :3] / a)
    px = np.array(px)
    assert len(px) > 50
    assert (px[:, 0] - px[:, 2]).mean() < 1.3 * (lip[0] - lip[2])
