"""The portrait renderer on real faces: fidelity at rest, determinism, ranges, sizes, layers, CLI."""

from __future__ import annotations

import json

import av
import cv2
import numpy as np
import pytest

from marionette.core.face import FaceAnalyzer, default_portrait_path, load_image
from marionette.core.motion_space import ARKIT_BLENDSHAPES
from marionette.core.render import PortraitRenderer
from marionette.tools.contact_sheet import contact_sheet
from marionette.core.render.framing import crop_matrix
from marionette.core.stages import Renderer
from marionette.core.track import MotionTrack
from marionette.core.types import MotionFrame
from marionette.plugin.cli import main


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


@pytest.fixture(scope="module")
def analyzer():
    return FaceAnalyzer.load()


@pytest.fixture(scope="module")
def portrait():
    return load_image(default_portrait_path())


@pytest.fixture(scope="module")
def renderer(analyzer, portrait):
    return PortraitRenderer.load(portrait, analyzer.analyze(portrait))


@pytest.fixture(scope="module")
def hopper(analyzer):
    """A closed-mouth portrait (Grace Hopper, US Navy photo, public domain, from matplotlib)."""
    from matplotlib import cbook

    img = load_image(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    return PortraitRenderer.load(img, analyzer.analyze(img))


def face(renderer: PortraitRenderer, img: np.ndarray) -> np.ndarray:
    x0, y0, x1, y1 = renderer.face_box
    return img[y0:y1, x0:x1]


def test_is_a_renderer(renderer):
    assert isinstance(renderer, Renderer)
    assert renderer.size == (512, 512)


def test_neutral_render_reproduces_the_portrait(renderer, portrait, analyzer):
    out = renderer.render(MotionFrame())
    assert out.shape == (512, 512, 3) and out.dtype == np.uint8
    assert psnr(face(renderer, out), face(renderer, renderer.base)) >= 40.0
    # and the framing itself is faithful: map the output back onto the photo and compare faces
    lm = analyzer.analyze(portrait)
    x0, y0 = lm.points[:468, :2].min(0).astype(int)
    x1, y1 = lm.points[:468, :2].max(0).astype(int)
    from marionette.core.render.face_frame import face_frame

    fr = face_frame(lm.points)
    m = crop_matrix(fr.origin[:2], fr.scale, (portrait.shape[1], portrait.shape[0]), renderer.size)
    back = cv2.warpAffine(out, cv2.invertAffineTransform(m), (portrait.shape[1], portrait.shape[0]),
                          flags=cv2.INTER_AREA)
    assert psnr(back[y0:y1, x0:x1], portrait[y0:y1, x0:x1]) >= 30.0


def test_same_motion_same_pixels(renderer):
    m = MotionFrame.from_dict({"jawOpen": 0.6, "eyeBlinkLeft": 0.7, "eyeLookOutRight": 0.5, "yaw": 7, "roll": -4})
    first = renderer.render(m)
    renderer.render(MotionFrame.from_dict({"jawOpen": 0.1, "pitch": 5}))
    assert np.array_equal(first, renderer.render(m))


def test_channels_listed(renderer):
    assert "tongueOut" in renderer.unsupported_channels
    assert set(renderer.supported_channels) | set(renderer.unsupported_channels) == set(ARKIT_BLENDSHAPES)
    assert not set(renderer.supported_channels) & set(renderer.unsupported_channels)


def test_pose_is_clamped_and_reported(renderer):
    img = renderer.render(MotionFrame.from_dict({"yaw": 30, "roll": -40}))
    clamps = {c.channel: c for c in renderer.last_stats.clamps}
    assert clamps["yaw"].requested == 30 and clamps["yaw"].applied == 12
    assert clamps["roll"].applied == -15
    assert np.array_equal(img, renderer.render(MotionFrame.from_dict({"yaw": 12, "roll": -15})))
    assert renderer.last_stats.clamps == []


@pytest.mark.parametrize("size", [(512, 512), (1280, 720), (1920, 1080)])
def test_output_sizes(analyzer, portrait, size):
    r = PortraitRenderer.load(portrait, analyzer.analyze(portrait), size)
    neutral = r.render(MotionFrame())
    moved = r.render(MotionFrame.from_dict({"jawOpen": 0.7, "yaw": 10}))
    assert neutral.shape == moved.shape == (size[1], size[0], 3)
    assert psnr(face(r, neutral), face(r, moved)) < 30  # the face moved
    assert np.array_equal(neutral[:8, :8], moved[:8, :8])  # the picture's corner did not


def test_layers_draw_mouth_and_eyes(renderer, hopper):
    for r in (renderer, hopper):
        r.render(MotionFrame.from_dict({"jawOpen": 0.6}))
        assert r.last_stats.mouth_drawn
        r.render(MotionFrame.from_dict({"eyeBlinkLeft": 1.0, "eyeLookInRight": 1.0}))
        assert r.last_stats.eyes_drawn == 2
    assert renderer.mouth.real_teeth and not hopper.mouth.real_teeth


def test_open_jaw_shows_a_dark_mouth_and_teeth(hopper):
    neutral = hopper.render(MotionFrame())
    open_ = hopper.render(MotionFrame.from_dict({"jawOpen": 0.8}))
    lm = hopper.landmarks
    x0, x1 = int(lm[61, 0]), int(lm[291, 0])
    y0 = int(lm[13, 1])
    y1 = int(y0 + 0.2 * hopper.face_width_px)
    before = neutral[y0:y1, x0:x1].astype(float)
    after = open_[y0:y1, x0:x1].astype(float)
    changed = np.abs(after - before).max(2) > 40
    lum = after.mean(2)[changed]
    assert (lum < 60).mean() > 0.3  # a dark cavity appeared
    assert (lum > 150).mean() > 0.05  # and (synthesised) teeth in it


def test_blink_covers_the_iris(renderer):
    lm = renderer.landmarks
    c = lm[473, :2]  # left iris centre
    r = int(0.025 * renderer.face_width_px)
    patch = lambda img: img[int(c[1]) - r:int(c[1]) + r, int(c[0]) - r:int(c[0]) + r].astype(float)
    open_eye = patch(renderer.render(MotionFrame()))
    closed = patch(renderer.render(MotionFrame.from_dict({"eyeBlinkLeft": 1.0})))
    dark = lambda img: (img.mean(2) < 45).mean()
    assert dark(closed) < 0.5 * dark(open_eye)  # the dark iris is covered by the lid


def test_contact_sheet(hopper):
    sheet = contact_sheet(hopper, "hopper")
    n_tiles = len(hopper.supported_channels) * 3 + 12
    assert sheet.ndim == 3 and sheet.shape[1] == 9 * 168
    assert sheet.shape[0] >= (n_tiles // 9) * 184


def test_render_cli_writes_a_playable_mp4(tmp_path, capsys):
    n = 12
    track = MotionTrack.from_frames(
        [MotionFrame.from_dict({"jawOpen": 0.5 * (i % 4) / 3, "yaw": i - 6, "pitch": 40}) for i in range(n)], fps=25)
    path = tmp_path / "motion.json"
    track.save(path)
    out = tmp_path / "out.mp4"
    frames = tmp_path / "frames"
    assert main(["render", "--motion", str(path), "-o", str(out), "--frames", str(frames), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "pitch" in err and "clamped" in err  # pitch 40 is outside the motion space
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == n
    assert len(list(frames.glob("*.png"))) == n


def test_render_cli_errors(tmp_path, capsys):
    assert main(["render", "-o", str(tmp_path / "x.mp4")]) == 2
    assert "--motion" in capsys.readouterr().err
    assert main(["render", "--motion", "m.json", "-o", "x.mp4", "--size", "big"]) == 2
    assert "WIDTHxHEIGHT" in capsys.readouterr().err


def test_bench_render_json(capsys):
    assert main(["bench", "render", "--json", "--frames", "20"]) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert figures["threads"] == 1 and figures["size"] == "512x512"
    assert figures["ms_p50"] > 0 and figures["fps_p50"] > 0 and figures["analysis_ms"] > 0
