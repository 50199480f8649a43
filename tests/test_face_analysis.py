"""Portrait analysis on real faces and on every awkward input a user can hand us."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from faces import portrait_faces, real_faces
from marionette.core.errors import InputError
from marionette.core.face import (
    CHIN,
    LEFT_EYE_CORNERS,
    LEFT_IRIS_CENTER,
    MOUTH_CORNERS,
    NOSE_TIP,
    RIGHT_EYE_CORNERS,
    RIGHT_IRIS_CENTER,
    FaceAnalyzer,
    FaceIndexError,
    FaceLandmarks,
    FaceTooSmallError,
    ImageReadError,
    NoFaceError,
    default_portrait_path,
    load_image,
)


@pytest.fixture(scope="module")
def analyzer() -> FaceAnalyzer:
    return FaceAnalyzer.load()


@pytest.fixture(scope="module")
def astronaut(analyzer) -> tuple[np.ndarray, FaceLandmarks]:
    img = real_faces()["astronaut"]
    return img, analyzer.analyze(img)


def _same_face(lm: FaceLandmarks, ref: FaceLandmarks, scale: float, offset: tuple[float, float]) -> float:
    """Mean landmark distance, in face widths, between lm and ref mapped by p * scale + offset."""
    mapped = ref.points[:, :2] * scale + np.asarray(offset)
    return float(np.linalg.norm(lm.points[:, :2] - mapped, axis=1).mean() / (ref.face_width * scale))


def _paste(canvas: np.ndarray, img: np.ndarray, x: int, y: int) -> np.ndarray:
    out = canvas.copy()
    h, w = img.shape[:2]
    out[y:y + h, x:x + w] = img
    return out


def _check_anatomy(lm: FaceLandmarks) -> None:
    p = lm.points
    fw = lm.face_width
    r_eye = p[list(RIGHT_EYE_CORNERS), :2].mean(0)
    l_eye = p[list(LEFT_EYE_CORNERS), :2].mean(0)
    mouth = p[list(MOUTH_CORNERS), :2].mean(0)
    assert r_eye[0] < l_eye[0], "the subject's right eye is on the image left"
    assert max(r_eye[1], l_eye[1]) < p[NOSE_TIP, 1] < mouth[1] < p[CHIN, 1], "eyes, nose, mouth, chin top to bottom"
    assert 0.3 * fw < np.linalg.norm(l_eye - r_eye) < 0.6 * fw
    assert p[MOUTH_CORNERS[0], 0] < p[MOUTH_CORNERS[1], 0]
    # Irises sit between their eye corners, close to the eye line.
    for centre, (a, b) in ((RIGHT_IRIS_CENTER, RIGHT_EYE_CORNERS), (LEFT_IRIS_CENTER, LEFT_EYE_CORNERS)):
        lo, hi = sorted((p[a, 0], p[b, 0]))
        assert lo < p[centre, 0] < hi
        assert abs(p[centre, 1] - 0.5 * (p[a, 1] + p[b, 1])) < 0.06 * fw
    # Depth: the nose tip is nearer the camera than the cheeks (mediapipe sign, smaller = closer).
    assert p[NOSE_TIP, 2] < min(p[234, 2], p[454, 2]) - 0.1 * fw
    x0, y0, x1, y1 = lm.bbox
    assert x0 - 0.2 * fw < p[NOSE_TIP, 0] < x1 + 0.2 * fw and y0 - 0.2 * fw < p[NOSE_TIP, 1] < y1 + 0.2 * fw


@pytest.mark.parametrize("name", ["astronaut", "hopper", "obama", "biden"])
def test_real_faces_have_sane_landmarks(analyzer, name):
    img = real_faces()[name]
    t0 = time.perf_counter()
    lm = analyzer.analyze(img)
    elapsed = time.perf_counter() - t0
    assert lm.points.shape == (478, 3) and lm.points.dtype == np.float32
    assert lm.image_size == (img.shape[1], img.shape[0])
    assert lm.score > 0.5
    _check_anatomy(lm)
    assert elapsed < 1.0, f"analysis took {elapsed:.2f} s"


def test_known_positions_on_astronaut(astronaut):
    # Hand-read from the 512x512 picture: eyes near (203, 101) and (246, 104), mouth at y ~ 142.
    _, lm = astronaut
    p = lm.points
    assert np.allclose(p[RIGHT_IRIS_CENTER, :2], (203, 101), atol=4)
    assert np.allclose(p[LEFT_IRIS_CENTER, :2], (246, 104), atol=4)
    assert 136 < p[13, 1] < 148 and 216 < p[13, 0] < 230


def test_analysis_is_deterministic(analyzer, astronaut):
    img, lm = astronaut
    assert np.array_equal(analyzer.analyze(img).points, lm.points)


def test_large_photo_small_face(analyzer, astronaut):
    img, ref = astronaut
    k = 100.0 / ref.face_width  # a face 100 px wide (box ~ 105 px) in a 24 MP photo
    small = cv2.resize(img, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(1)
    canvas = np.empty((4000, 6000, 3), np.uint8)
    canvas[:] = rng.integers(60, 200, size=(1, 6000, 3), dtype=np.uint8)  # textured, not blank
    canvas = _paste(canvas, small, 4300, 2900)
    t0 = time.perf_counter()
    lm = analyzer.analyze(canvas)
    elapsed = time.perf_counter() - t0
    assert _same_face(lm, ref, k, (4300, 2900)) < 0.03
    assert lm.image_size == (6000, 4000)
    assert elapsed < 1.5, f"analysis of a 6000x4000 photo took {elapsed:.2f} s"


def test_tight_crop(analyzer, astronaut):
    img, ref = astronaut
    x0, y0, x1, y1 = (int(v) for v in ref.mesh_bbox)
    crop = np.ascontiguousarray(img[y0 + 5:y1 - 5, x0 + 5:x1 - 5])  # the face overflows the frame
    lm = analyzer.analyze(crop)
    assert _same_face(lm, ref, 1.0, (-(x0 + 5), -(y0 + 5))) < 0.04


def test_off_centre_face_in_wide_frame(analyzer):
    img = real_faces()["hopper"]
    ref = analyzer.analyze(img)
    canvas = np.full((1080, 1920, 3), 30, np.uint8)
    small = cv2.resize(img, (256, 300), interpolation=cv2.INTER_AREA)
    canvas = _paste(canvas, small, 1920 - 256, 0)  # top-right corner, touching two edges
    lm = analyzer.analyze(canvas)
    assert _same_face(lm, ref, 0.5, (1920 - 256, 0)) < 0.03


def test_rgba_composited_over_white(analyzer, astronaut, tmp_path):
    img, ref = astronaut
    alpha = np.zeros(img.shape[:2], np.uint8)
    cv2.circle(alpha, (225, 130), 150, 255, -1)
    rgba = np.dstack([img, alpha])
    path = tmp_path / "cutout.png"
    cv2.imwrite(str(path), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    loaded = load_image(path)
    assert loaded.shape == (512, 512, 3) and loaded.dtype == np.uint8
    assert (loaded[5, 5] == 255).all(), "transparent pixels become white"
    assert np.array_equal(loaded[130, 225], img[130, 225])
    assert _same_face(analyzer.analyze(loaded), ref, 1.0, (0, 0)) < 0.02
    # Arrays with alpha go straight into analyze() as well.
    assert _same_face(analyzer.analyze(rgba), ref, 1.0, (0, 0)) < 0.02


def test_grayscale_and_16_bit(analyzer, astronaut, tmp_path):
    img, ref = astronaut
    gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    lm = analyzer.analyze(gray)  # 2-D array
    assert _same_face(lm, ref, 1.0, (0, 0)) < 0.03
    path = tmp_path / "gray16.png"
    cv2.imwrite(str(path), gray.astype(np.uint16) * 257)
    loaded = load_image(path)
    assert loaded.shape == (512, 512, 3)
    assert np.array_equal(loaded[:, :, 0], gray) and np.array_equal(loaded[:, :, 2], gray)
    assert _same_face(analyzer.analyze(loaded), ref, 1.0, (0, 0)) < 0.03
    floats = img.astype(np.float32) / 255.0
    assert np.array_equal(load_image(floats), img)


def test_no_face(analyzer):
    grad = np.tile(np.linspace(0, 255, 640, dtype=np.float32), (480, 1)).astype(np.uint8)
    with pytest.raises(NoFaceError, match=r"no face found in the 640x480 picture"):
        analyzer.analyze(np.dstack([grad, grad[::-1], np.full_like(grad, 90)]))
    assert analyzer.detect(np.full((300, 300, 3), 200, np.uint8)) == []


def test_two_faces_largest_first(analyzer):
    faces = real_faces()
    big = faces["obama"]
    small = cv2.resize(faces["astronaut"], (560, 560), interpolation=cv2.INTER_AREA)  # face ~ 100 px
    canvas = np.full((1200, 1600, 3), 235, np.uint8)
    canvas = _paste(canvas, cv2.resize(big, (728, 910), interpolation=cv2.INTER_AREA), 60, 150)
    canvas = _paste(canvas, small, 1000, 300)
    boxes = analyzer.detect(canvas)
    assert len(boxes) == 2
    assert boxes[0].size > boxes[1].size
    first, second = analyzer.analyze(canvas), analyzer.analyze(canvas, face_index=1)
    assert first.points[NOSE_TIP, 0] < 800 < second.points[NOSE_TIP, 0]
    assert first.face_width > 1.5 * second.face_width
    with pytest.raises(FaceIndexError, match="2 face"):
        analyzer.analyze(canvas, face_index=2)


def test_face_under_64_px(analyzer, astronaut):
    img, ref = astronaut
    small = cv2.resize(img, (200, 200), interpolation=cv2.INTER_AREA)  # face box ~ 38 px
    canvas = _paste(np.full((260, 260, 3), 128, np.uint8), small, 30, 30)
    with pytest.raises(FaceTooSmallError, match=r"face is \d+ px wide .* need >= 64 px"):
        analyzer.analyze(canvas)


@pytest.mark.parametrize(
    "content, match",
    [
        (b"", "empty"),
        (b"this is not a picture at all", "could not be decoded"),
        (b"\x89PNG\r\n\x1a\n" + bytes(200), "could not be decoded"),
    ],
)
def test_unreadable_files(tmp_path, content, match):
    path = tmp_path / "portrait.png"
    path.write_bytes(content)
    with pytest.raises(ImageReadError, match=match):
        load_image(path)


def test_truncated_jpeg_and_missing_file(tmp_path, astronaut):
    img, _ = astronaut
    ok, data = cv2.imencode(".jpg", img[:, :, ::-1])
    assert ok
    path = tmp_path / "cut.jpg"
    path.write_bytes(data.tobytes()[: len(data) // 2])
    with pytest.raises(ImageReadError, match="truncated"):
        load_image(path)
    with pytest.raises(InputError, match="does not exist"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(InputError, match="expected"):
        load_image(np.zeros((4, 4, 2), np.uint8))


def test_track_follows_a_moved_face(analyzer, astronaut):
    img, ref = astronaut
    m = np.float32([[1, 0, 6], [0, 1, -4]])
    moved = cv2.warpAffine(img, m, (512, 512), borderMode=cv2.BORDER_REPLICATE)
    tracked = analyzer.track(moved, ref)
    assert _same_face(tracked, ref, 1.0, (6, -4)) < 0.02
    detected = analyzer.analyze(moved)
    assert np.abs(tracked.points[:468, :2] - detected.points[:468, :2]).mean() < 1.0
    with pytest.raises(NoFaceError):
        analyzer.track(np.full((512, 512, 3), 128, np.uint8), ref)


def test_default_portrait(analyzer):
    path = default_portrait_path()
    img = load_image(path)
    assert img.shape == (512, 512, 3)
    lm = analyzer.analyze(img)
    assert 120 < lm.face_width < 200
    _check_anatomy(lm)


def test_three_distinct_real_portraits():
    faces = portrait_faces()
    assert len(faces) >= 3
    shapes = {f.shape for f in faces.values()}
    assert len(shapes) == len(faces), "different photos, not copies"


def test_exif_orientation_is_honoured(analyzer, astronaut):
    from io import BytesIO

    from PIL import Image

    img, ref = astronaut
    # Stored on its side, with the EXIF tag (6: rotate 90 degrees clockwise) a phone would write.
    im = Image.fromarray(np.ascontiguousarray(np.rot90(img, 1)))
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = BytesIO()
    im.save(buf, "JPEG", exif=exif, quality=95)
    upright = load_image(buf.getvalue())
    assert upright.shape == img.shape
    assert np.abs(upright.astype(int) - img).mean() < 4
    assert _same_face(analyzer.analyze(upright), ref, 1.0, (0, 0)) < 0.02
