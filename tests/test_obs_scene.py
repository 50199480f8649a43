"""`marionette obs setup/teardown` against a real headless OBS, fed by a real MJPEG stream."""

import base64
import time

import cv2
import numpy as np
import pytest

from marionette.core.errors import InputError
from marionette.plugin.cli import main
from marionette.plugin.obs import ObsClient, ObsRequestError
from marionette.plugin.obs.scene import SceneSpec, setup_scene, teardown_scene

from obs_fixture import TinyMjpegServer, obs  # noqa: F401 - `obs` is a fixture

pytest.importorskip("obswebsocket", reason="obs-websocket-py not installed (pip install 'marionette[obs]')")


def screenshot(client: ObsClient, source: str, timeout: float = 15.0) -> np.ndarray:
    """RGB picture of what an OBS source shows now (error 702 until its first frame: poll)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            shot = client.request("GetSourceScreenshot", sourceName=source, imageFormat="png")
            break
        except ObsRequestError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    png = base64.b64decode(shot["imageData"].split(",", 1)[1])
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def wait_until(fn, timeout: float, msg: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(msg)


@pytest.fixture
def stream():
    colour = {"rgb": (200, 40, 40)}

    def frame():
        img = np.zeros((240, 320, 3), np.uint8)
        img[:] = colour["rgb"]
        return img

    srv = TinyMjpegServer(frame)
    srv.colour = colour
    yield srv
    srv.close()


def test_cli_setup_is_idempotent_and_shows_the_stream(obs, stream, capsys):
    args = ["--host", obs.host, "--port", str(obs.port), "--password", obs.password, "--scene", "Avatar Test"]
    assert main(["obs", "setup", *args, "--stream-url", stream.url]) == 0
    assert "created scene 'Avatar Test'" in capsys.readouterr().out
    assert main(["obs", "setup", *args, "--stream-url", stream.url]) == 0
    assert "updated Avatar Test Avatar, Avatar Test Captions" in capsys.readouterr().out

    spec = SceneSpec(scene="Avatar Test")
    with ObsClient(obs.config()).connect() as c:
        scenes = c.request("GetSceneList")
        assert scenes["currentProgramSceneName"] == "Avatar Test"
        assert [s["sceneName"] for s in scenes["scenes"]].count("Avatar Test") == 1
        items = c.request("GetSceneItemList", sceneName="Avatar Test")["sceneItems"]
        assert sorted(i["sourceName"] for i in items) == [spec.avatar_source, spec.caption_source]
        settings = c.request("GetInputSettings", inputName=spec.avatar_source)["inputSettings"]
        assert settings["input"] == stream.url and settings["reconnect_delay_sec"] >= 1

        # The program scene shows our frames, and follows them when they change.
        red = wait_until(lambda: _mean_centre(screenshot(c, "Avatar Test")), 15, "no frame")
        assert red[0] > 150 and red[2] < 90, red
        stream.colour["rgb"] = (30, 60, 210)
        blue = wait_until(lambda: (m := _mean_centre(screenshot(c, spec.avatar_source)))[2] > 150 and m, 10,
                          "OBS kept showing the old frame")
        assert blue[0] < 90

    assert main(["obs", "teardown", *args]) == 0
    out = capsys.readouterr().out
    assert "removed Avatar Test Avatar, Avatar Test Captions, 15 hotkey triggers" in out
    assert "scene 'Avatar Test Triggers', scene 'Avatar Test'" in out
    assert main(["obs", "teardown", *args]) == 0
    assert "nothing to do" in capsys.readouterr().out


def test_captions_source_changes_with_text(obs, stream):
    spec = SceneSpec(scene="Caption Test", stream_url=stream.url, activate=False)
    with ObsClient(obs.config()).connect() as c:
        setup_scene(c, spec)
        try:
            c.request("SetInputSettings", inputName=spec.caption_source, inputSettings={"text": "Hello"}, overlay=True)
            a = wait_until(lambda: _ink(screenshot(c, spec.caption_source)), 5, "caption never drew")
            c.request("SetInputSettings", inputName=spec.caption_source,
                      inputSettings={"text": "Hello there, a much longer caption"}, overlay=True)
            b = wait_until(lambda: (w := _ink(screenshot(c, spec.caption_source))) > a * 1.5 and w, 5,
                           "caption did not change")
            assert b > a
        finally:
            teardown_scene(c, spec)


def test_setup_refuses_a_foreign_input_with_our_name(obs, stream):
    spec = SceneSpec(scene="Clash Test", stream_url=stream.url, activate=False)
    with ObsClient(obs.config()).connect() as c:
        c.request("CreateScene", sceneName="Other")
        c.request("CreateInput", sceneName="Other", inputName=spec.avatar_source, inputKind="color_source_v3",
                  inputSettings={})
        try:
            with pytest.raises(InputError, match="color_source_v3"):
                setup_scene(c, spec)
        finally:
            c.request("RemoveInput", inputName=spec.avatar_source)
            c.request("RemoveScene", sceneName="Other")
            teardown_scene(c, spec)


def test_cli_says_how_to_fix_an_unreachable_obs(capsys):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main(["obs", "status", "--port", str(port), "--timeout", "0.5"]) == 2
    err = capsys.readouterr().err
    assert "cannot reach OBS" in err and "Enable WebSocket server" in err


def _mean_centre(img: np.ndarray) -> tuple[float, float, float] | None:
    h, w = img.shape[:2]
    m = img[h // 3: 2 * h // 3, w // 3: 2 * w // 3].reshape(-1, 3).mean(0)
    return tuple(float(x) for x in m) if m.sum() > 30 else None


def _ink(img: np.ndarray) -> int:
    """Pixels the text drew (bright), a proxy for how much text is shown."""
    return int((img.max(axis=2) > 128).sum())


def test_setup_with_the_virtual_camera_source(obs, stream):
    spec = SceneSpec(scene="Cam Test", stream_url=stream.url, camera_device="/dev/video10", activate=False,
                     triggers=False)
    with ObsClient(obs.config()).connect() as c:
        report = setup_scene(c, spec)
        try:
            assert spec.camera_source in report.created
            items = {i["sourceName"]: i for i in c.request("GetSceneItemList", sceneName=spec.scene)["sceneItems"]}
            cam = items[spec.camera_source]
            assert cam["inputKind"] == "v4l2_input" and not cam["sceneItemEnabled"]  # a hidden fallback
            assert c.request("GetInputSettings", inputName=spec.camera_source)["inputSettings"]["device_id"] == "/dev/video10"
            # The captions stay on top of both pictures.
            assert items[spec.caption_source]["sceneItemIndex"] > cam["sceneItemIndex"] > items[spec.avatar_source]["sceneItemIndex"]
        finally:
            assert spec.camera_source in teardown_scene(c, spec).removed
