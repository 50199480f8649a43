"""Framing like a camera and background modes, on real photos: the frame is filled by the photo
(never a mirrored or blurred copy of it), the background stays still while the head moves, and
the mode can be switched from the CLI, the config and the control protocol."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from marionette.core.clock import FakeClock
from marionette.core.errors import InputError
from marionette.core.face import FaceAnalyzer
from marionette.core.face.samples import portrait_faces
from marionette.core.render import PortraitRenderer
from marionette.core.render.background import GREEN, BackgroundSpec, PersonSegmenter
from marionette.core.render.framing import SHOTS, coverage, crop_matrix
from marionette.core.types import MotionFrame
from marionette.plugin.control import messages as m
from marionette.plugin.control.commands import Commands
from marionette.plugin.control.sim_engine import SimEngine

TURN = MotionFrame.from_dict({"jawOpen": 0.4}).replace(yaw=10.0, pitch=6.0)


@pytest.fixture(scope="module")
def analyzer():
    return FaceAnalyzer.load()


@pytest.fixture(scope="module")
def segmenter():
    return PersonSegmenter.load()


@pytest.fixture(scope="module")
def obama(analyzer):
    img = portrait_faces()["obama"]
    return img, analyzer.analyze(img)


def _beside(r: PortraitRenderer) -> np.ndarray:
    """Pixels beside the person, beyond where the turned head itself reaches (a fifth of a face width)."""
    reach = int(0.2 * r.face_width_px) * 2 + 1
    return cv2.dilate((r.background.alpha > 0).astype(np.uint8), np.ones((reach, reach), np.uint8)) == 0


def test_background_spec_parses_every_mode_and_names_what_it_expected():
    assert str(BackgroundSpec.parse("keep")) == "keep"
    assert BackgroundSpec.parse("color:#102030").color == (16, 32, 48)
    assert BackgroundSpec.parse("color:1,2,3").color == (1, 2, 3)
    for bad in ("purple", "color:#12", "color:300,0,0", "blur:5", "image:/no/such/file.png", "image"):
        with pytest.raises(InputError, match="expected|no such file"):
            BackgroundSpec.parse(bad)


@pytest.mark.parametrize("shot", list(SHOTS))
@pytest.mark.parametrize("size", [(512, 512), (1280, 720)])
def test_a_photo_large_enough_fills_the_frame_without_padding(obama, shot, size):
    img, lm = obama
    from marionette.core.render.face_frame import face_frame

    fr = face_frame(lm.points)
    mat = crop_matrix(fr.origin[:2], fr.scale, (img.shape[1], img.shape[0]), size, shot)
    # every output corner maps back inside the photo: nothing is padded
    inv = np.linalg.inv(np.vstack([mat, [0, 0, 1]]))
    corners = np.array([[0, 0, 1], [size[0], 0, 1], [0, size[1], 1], [size[0], size[1], 1]], float)
    src = corners @ inv.T
    assert (src[:, 0] >= -0.5).all() and (src[:, 0] <= img.shape[1] + 0.5).all(), src
    assert (src[:, 1] >= -0.5).all() and (src[:, 1] <= img.shape[0] + 0.5).all(), src
    assert coverage(img.shape, mat, size) is None
    # the eyes sit where the shot puts them (unless the photo's edge stopped the crop)
    eyes_y = fr.origin[1] * mat[1, 1] + mat[1, 2]
    assert abs(eyes_y / size[1] - SHOTS[shot].eyes) < 0.12


def test_a_tight_selfie_in_a_wide_frame_is_zoomed_then_filled_by_the_background(obama, analyzer, segmenter):
    img, lm = obama
    x0, y0, x1, y1 = lm.points[:468, 0].min(), lm.points[:468, 1].min(), lm.points[:468, 0].max(), lm.points[:468, 1].max()
    side = int((x1 - x0) * 1.4)
    cx, cy = int((x0 + x1) / 2), int((y0 + y1) / 2)
    tight = np.ascontiguousarray(img[cy - side // 2:cy + side // 2, cx - side // 2:cx + side // 2])
    r = PortraitRenderer.load(tight, analyzer.analyze(tight), (1280, 720), background="green", segmenter=segmenter)
    assert r.coverage is not None  # a square photo cannot fill 16:9
    out = r.render(MotionFrame())
    beyond = r.coverage < 0.01
    assert beyond.mean() > 0.1
    keyed = beyond & (r.background.alpha == 0)  # all but the pixel of feather at the photo's edge
    assert keyed.sum() > 0.97 * beyond.sum()
    # beyond the photo: the key colour, not a mirrored or blurred copy of the face
    assert np.abs(out[keyed].astype(int) - GREEN).max() <= 2


def test_background_stays_still_and_straight_while_the_head_turns(obama, segmenter):
    img, lm = obama
    r = PortraitRenderer.load(img, lm, (512, 512), background="keep", segmenter=segmenter)
    rest, turned = r.render(MotionFrame()), r.render(TURN)
    far = _beside(r)
    assert far.mean() > 0.2
    # with no background layer the warp bends what lies beside the head
    plain = PortraitRenderer.load(img, lm, (512, 512))
    bent = np.abs(plain.render(TURN).astype(int) - plain.render(MotionFrame()).astype(int)).max(2)[far]
    assert (bent > 8).mean() > 0.01
    still = np.abs(turned.astype(int) - rest.astype(int)).max(2)[far]
    assert still.max() <= 1, still.max()


@pytest.mark.parametrize("mode", ["blur", "green", "color:#3050a0", "transparent"])
def test_each_mode_puts_its_plate_behind_the_moving_person(obama, segmenter, mode):
    img, lm = obama
    r = PortraitRenderer.load(img, lm, (512, 512), background=mode, segmenter=segmenter)
    out = r.render(TURN)
    far = _beside(r)
    assert np.abs(out[far].astype(int) - r.background.plate[far]).max() <= 1
    face = tuple(int(v) for v in r.landmarks[1, :2])  # nose tip: the person, whatever the mode
    assert np.abs(out[face[1], face[0]].astype(int) - r.background.plate[face[1], face[0]]).max() > 10 or mode == "blur"
    if mode == "transparent":
        assert r.last_alpha is not None and r.last_alpha.shape == (512, 512)
        assert r.last_alpha[face[1], face[0]] == 255 and r.last_alpha[0, 0] == 0
    else:
        assert r.last_alpha is None


class BackdropEngine(SimEngine):
    """The simulated engine with the background ability, over a real portrait renderer."""

    def __init__(self, renderer: PortraitRenderer) -> None:
        super().__init__(clock=FakeClock())
        self.renderer = renderer

    def set_background(self, spec: str) -> str:
        parsed = BackgroundSpec.parse(spec)
        self.renderer.set_background(parsed)
        return str(parsed)


def test_set_background_over_the_protocol(obama, segmenter):
    img, lm = obama
    r = PortraitRenderer.load(img, lm, (512, 512), segmenter=segmenter)
    cmds = Commands(BackdropEngine(r), FakeClock())
    out = cmds.execute(m.parse_object({"id": 1, "type": "set_background", "mode": "green"}).message)
    assert out.result == {"background": "green"}
    assert r.background.spec.mode == "green"
    corner = r.render(TURN)[2, 2]
    assert tuple(int(v) for v in corner) == GREEN
    for mode, code in (("image:/etc/hostname", "bad_value"), ("purple", "bad_value")):
        with pytest.raises(m.ProtocolError) as e:
            cmds.execute(m.parse_object({"id": 2, "type": "set_background", "mode": mode}).message)
        assert e.value.code == code and e.value.field == "mode"
    assert r.background.spec.mode == "green"  # a refused switch changes nothing
    plain = Commands(SimEngine(clock=FakeClock()), FakeClock())
    with pytest.raises(m.ProtocolError) as e:
        plain.execute(m.parse_object({"id": 3, "type": "set_background", "mode": "blur"}).message)
    assert e.value.code == "not_available"


def test_an_enlarged_shot_is_rendered_at_the_photos_resolution_and_scaled_up(analyzer):
    from marionette.core.face import default_portrait_path, load_image
    from marionette.core.render.portrait import load_renderer
    from marionette.core.render.upscale import UpscaledRenderer

    r, _ = load_renderer(None, (1280, 720), background="blur")  # a 512x512 photo in a 16:9 frame
    assert isinstance(r, UpscaledRenderer) and r.inner.size[1] < 720
    frame = r.render(TURN)
    assert frame.shape == (720, 1280, 3) and r.base.shape == (720, 1280, 3)
    # the same picture as rendering at full size, within the softness of the photo itself
    img = load_image(default_portrait_path())
    full = PortraitRenderer.load(img, analyzer.analyze(img), (1280, 720), background="blur")
    x0, y0, x1, y1 = full.face_box
    diff = np.abs(full.render(TURN)[y0:y1, x0:x1].astype(float) - frame[y0:y1, x0:x1].astype(float))
    assert diff.mean() < 6, diff.mean()
    assert abs(r.face_width_px - full.face_width_px) < 0.02 * full.face_width_px
    assert np.abs(r.landmarks[:, :2] - full.landmarks[:, :2]).max() < 3


def test_config_and_cli_take_the_background_and_refuse_a_bad_one(tmp_path):
    import json

    from marionette.plugin.cli import main
    from marionette.plugin.config import ConfigError, from_mapping

    cfg = from_mapping({"engine": {"background": "color:#102030", "framing": "close-up"}})
    assert (cfg.engine.background, cfg.engine.framing) == ("color:#102030", "close-up")
    with pytest.raises(ConfigError, match="engine: background 'plaid': expected one of"):
        from_mapping({"engine": {"background": "plaid"}})
    with pytest.raises(ConfigError, match="framing 'wide': expected one of"):
        from_mapping({"engine": {"framing": "wide"}})
    track = tmp_path / "t.json"
    track.write_text(json.dumps({"fps": 30, "frames": [{"yaw": 8.0}, {"jawOpen": 0.5}]}))
    frames = tmp_path / "frames"
    assert main(["render", "--motion", str(track), "--frames", str(frames), "--background", "transparent",
                 "--no-progress"]) == 0
    png = cv2.imread(str(frames / "000000.png"), cv2.IMREAD_UNCHANGED)
    assert png.shape == (512, 512, 4)  # RGBA: the person opaque, the background clear
    assert png[..., 3].max() == 255 and png[..., 3].min() == 0
    assert main(["render", "--motion", str(track), "--frames", str(frames), "--background", "plaid"]) != 0
