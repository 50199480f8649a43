"""Lip closure (bases.ExpressionBases.lip_closure, core/render/lip_seal.py): mouthClose relative to
jawOpen seals the lips, on portraits photographed with an open mouth too (astronaut and obama
smile with their teeth showing). A bilabial (M, B, P) as the teacher and the diffusion model emit
it, jawOpen = mouthClose = 0.15, must show lips that meet: no teeth, no dark cavity between them,
and the mesh network must read the inner lips together."""

from __future__ import annotations

import numpy as np
import pytest
from faces import portrait_faces
from marionette.core.face import FaceAnalyzer
from marionette.core.render import PortraitRenderer
from marionette.core.mesh_index import LIP_INNER_LOWER, LIP_INNER_UPPER
from marionette.core.types import MotionFrame

BILABIAL = {"jawOpen": 0.15, "mouthClose": 0.15}
INNER_PAIRS = ((14, 13), (87, 82), (317, 312))  # inner lower, inner upper lip points


@pytest.fixture(scope="module")
def analyzer() -> FaceAnalyzer:
    return FaceAnalyzer.load()


@pytest.fixture(scope="module")
def renderers(analyzer) -> dict[str, PortraitRenderer]:
    faces = portrait_faces()
    return {k: PortraitRenderer.load(faces[k], analyzer.analyze(faces[k]), (512, 512)) for k in ("astronaut", "obama", "hopper")}


def _mouth_pixels(r: PortraitRenderer, img: np.ndarray) -> tuple[int, int]:
    """(dark, teeth) pixel counts in the lips' box of the neutral portrait (corner to corner,
    outer upper lip to outer lower lip): dark = cavity, teeth = bright and unsaturated (the
    astronaut's pale skin has highlights as bright, never as grey)."""
    lm = r.landmarks
    x0, x1 = int(lm[61, 0]) - 2, int(lm[291, 0]) + 3
    y0, y1 = int(lm[0, 1]), int(lm[17, 1]) + 1
    reg = img[y0:y1, x0:x1].astype(np.float32)
    lum = reg.mean(2)
    sat = (reg.max(2) - reg.min(2)) / np.maximum(reg.max(2), 1)
    return int((lum < 70).sum()), int(((lum > 190) & (sat < 0.1)).sum())


def _read_gap(analyzer: FaceAnalyzer, r: PortraitRenderer, img: np.ndarray) -> float:
    """Inner-lip gap the mesh network reads, in face widths."""
    p = analyzer.analyze(img).points
    return float(np.mean([p[i, 1] - p[j, 1] for i, j in INNER_PAIRS])) / r.face_width_px


@pytest.mark.parametrize("name", ["astronaut", "obama"])
def test_bilabial_seals_an_open_smile(renderers, analyzer, name):
    """jawOpen = mouthClose = 0.15: the teeth and the cavity are gone (the photo's own dark mouth
    corners excepted), the mouth layer paints nothing, and the mesh network reads the lips
    together: a closed mouth reads 0.003-0.01 face widths on real photos; a sealed smile reads
    about 0.025 (0.02 even when the photo's lower face is cut up by the whole gap: the network's
    floor on a broad smile), against 0.084 / 0.13 at rest."""
    r = renderers[name]
    neutral = r.render(MotionFrame())
    sealed = r.render(MotionFrame.from_dict(BILABIAL))
    assert r.last_stats.mouth_drawn is False
    dark0, teeth0 = _mouth_pixels(r, neutral)
    dark, teeth = _mouth_pixels(r, sealed)
    assert teeth0 > 80  # the portrait does show its teeth
    assert teeth <= 0.15 * teeth0, (teeth, teeth0)
    assert dark <= 0.6 * dark0, (dark, dark0)
    gap0, gap = _read_gap(analyzer, r, neutral), _read_gap(analyzer, r, sealed)
    assert gap0 > 0.07
    assert gap < 0.04 and gap < 0.35 * gap0, (gap, gap0)


@pytest.mark.parametrize("motion", [
    {"jawOpen": 0.05, "mouthClose": 0.05}, {"jawOpen": 0.3, "mouthClose": 0.3}, {"mouthClose": 0.3},
    {"mouthPressLeft": 0.8, "mouthPressRight": 0.8}, {"mouthRollLower": 0.8, "mouthRollUpper": 0.8},
])
def test_other_closures_hide_the_teeth(renderers, motion):
    """Any full closure seals: small and large jaws, mouthClose on a still jaw, pressed lips,
    lips rolled in."""
    r = renderers["astronaut"]
    teeth0 = _mouth_pixels(r, r.render(MotionFrame()))[1]
    dark, teeth = _mouth_pixels(r, r.render(MotionFrame.from_dict(motion)))
    assert teeth <= 0.15 * teeth0 and dark < 30, (motion, dark, teeth)


def test_partial_closure_is_proportional(renderers):
    """jawOpen 0.3 with mouthClose 0.15 closes half of the gap jawOpen 0.3 alone opens, rest gap
    included (the landmarks as drawn)."""
    r = renderers["astronaut"]
    b = r.authored_bases

    def gap(channels: dict) -> float:
        w = b.weights_from_blendshapes(MotionFrame.from_dict(channels).blendshapes)
        p = b.apply_drawn(r.neutral, w)
        return float(np.mean([p[i, 1] - p[j, 1] for i, j in INNER_PAIRS]))

    assert gap({"jawOpen": 0.15, "mouthClose": 0.15}) == pytest.approx(0.0, abs=0.002)
    assert gap({"jawOpen": 0.3, "mouthClose": 0.15}) == pytest.approx(0.5 * gap({"jawOpen": 0.3}), rel=0.1)
    assert gap({"jawOpen": 0.3, "mouthClose": 0.075}) == pytest.approx(0.75 * gap({"jawOpen": 0.3}), rel=0.1)


def test_lip_closure_rule(renderers):
    b = renderers["astronaut"].authored_bases
    j, c = b.index("jawOpen"), b.index("mouthClose")

    def closure(channels: dict) -> tuple[float, float]:
        w, s = b.lip_closure(b.weights_from_blendshapes(MotionFrame.from_dict(channels).blendshapes))
        return float(w[c]), s

    assert closure({"jawOpen": 0.4, "mouthClose": 0.1}) == pytest.approx((0.1, 0.25))
    assert closure({"jawOpen": 0.2, "mouthClose": 0.5}) == pytest.approx((0.2, 1.0))  # never beyond the jaw
    assert closure({"mouthClose": 0.3}) == pytest.approx((0.0, 1.0))
    assert closure({"jawOpen": 0.2, "mouthPressLeft": 0.8, "mouthPressRight": 0.8}) == pytest.approx((0.2, 1.0))
    assert closure({"jawOpen": 0.2, "mouthRollLower": 0.3, "mouthRollUpper": 0.5}) == pytest.approx((0.12, 0.6))
    assert closure({"jawOpen": 0.08, "mouthRollLower": 0.55}) == (0.0, 0.0)  # F, V: lips apart
    assert closure({"jawOpen": 0.032, "mouthClose": 0.029})[1] == pytest.approx(0.906, abs=1e-3)  # a teacher P
    assert closure({"jawOpen": 0.2}) == (0.0, 0.0)
    w = b.weights_from_blendshapes(MotionFrame.from_dict({"jawOpen": 0.2}).blendshapes)
    assert b.lip_closure(w)[0] is w and j != c  # nothing to change: no copy


def test_closed_mouth_portrait(renderers):
    """hopper's lips already meet (a pixel or two apart as landmarks): nothing is remapped and the
    jaw does not rise; only the inner-lip landmarks come together, so that a bilabial paints no
    sliver of synthesised teeth between the lips (it did, faded to 40 %)."""
    r = renderers["hopper"]
    b = r.authored_bases
    assert r.seal is None and b.seal_jaw is None
    inner = list(LIP_INNER_UPPER + LIP_INNER_LOWER)
    assert np.abs(b.seal[inner, 1]).max() < 0.01  # face widths: two pixels at 512
    neutral = r.render(MotionFrame())
    assert np.array_equal(neutral, r.base)
    dark0, _ = _mouth_pixels(r, neutral)
    dark, teeth = _mouth_pixels(r, r.render(MotionFrame.from_dict(BILABIAL)))
    assert r.last_stats.mouth_drawn is False
    assert teeth == 0 and dark <= dark0 + 10


@pytest.mark.parametrize("pose", [{"yaw": 12}, {"roll": 15}, {"pitch": -12, "scale": 1.15}, {"pitch": 12}])
def test_sealed_under_pose(renderers, pose):
    """The lips meet in depth too: a turned or pitched head still shows no interior."""
    for name in ("astronaut", "obama"):
        r = renderers[name]
        r.render(MotionFrame.from_dict({**BILABIAL, **pose}))
        assert r.last_stats.mouth_drawn is False, (name, pose)


def test_seal_remap_is_monotonic_and_skips_the_teeth(renderers):
    """lip_seal's backward map: the identity when open; sealed, every output row of a mouth column
    samples lip or skin (never a photo row between the inner lips), in order (no fold)."""
    r = renderers["astronaut"]
    seal = r.seal
    p = seal.p
    f = r.face_width_px
    lm = r.landmarks
    ys = np.arange(int(lm[0, 1] - 0.1 * f), int(lm[17, 1] + 0.2 * f), 0.25, dtype=np.float32)
    for x in np.linspace(lm[78, 0], lm[308, 0], 9)[2:-2]:
        src = np.stack([np.full_like(ys, x), ys], -1)
        np.testing.assert_allclose(seal.backward(src, 0.0)[0], src, atol=1e-3)
        out, shade = seal.backward(src, 1.0)
        assert shade is not None and shade.min() < 0.8  # the seam's shadow
        t = seal.to_canon
        cy = out[:, 0] * t[1, 0] + out[:, 1] * t[1, 1] + t[1, 2]
        cx = float(x * t[0, 0] + ys[0] * t[0, 1] + t[0, 2])
        yu, yl = np.interp(cx, p.xs, p.yu), np.interp(cx, p.xs, p.yl)
        assert not np.any((cy > yu + 1e-4) & (cy < yl - 1e-4)), x
        assert np.all(np.diff(cy) >= -1e-5)
