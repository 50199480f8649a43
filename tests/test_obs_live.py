"""End to end: a running avatar (real renderer, mixer, control websocket, MJPEG sink), a real headless
OBS set up by `obs setup`, and the bridge. An agent's set_expression must show in OBS's own
screenshots, and the caption source must follow what the avatar says."""

import asyncio
import base64
import os
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from marionette.core.types import MotionFrame
from marionette.plugin.control.client import ControlClient
from marionette.plugin.obs import ObsClient, ObsRequestError
from marionette.plugin.obs.bridge import BridgeConfig, ObsBridge
from marionette.plugin.obs.scene import SceneSpec, setup_scene, teardown_scene

from obs_fixture import AvatarStack, obs  # noqa: F401 - `obs` is a fixture

pytest.importorskip("obswebsocket", reason="obs-websocket-py not installed (pip install 'marionette[obs]')")
SHOTS = os.environ.get("MARIONETTE_SHOT_DIR")


def shot(c: ObsClient, source: str) -> np.ndarray | None:
    try:
        data = c.request("GetSourceScreenshot", sourceName=source, imageFormat="png")["imageData"]
    except ObsRequestError:
        return None  # 702 until the source has its first frame
    img = cv2.imdecode(np.frombuffer(base64.b64decode(data.split(",", 1)[1]), np.uint8), cv2.IMREAD_COLOR)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB).astype(np.int16)


def wait_until(fn, timeout, msg):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v is not None and v is not False:
            return v
        time.sleep(0.1)
    raise AssertionError(msg() if callable(msg) else msg)


@pytest.fixture(scope="module")
def stack():
    s = AvatarStack()
    yield s
    s.close()


def test_obs_shows_the_avatar_follows_jaw_open_and_captions_speech(obs, stack):
    spec = SceneSpec(scene="Live Test", stream_url=stack.mjpeg.url)
    statuses = []
    with ObsClient(obs.config()).connect() as c:
        setup_scene(c, spec)
    neutral = stack.renderer.render(MotionFrame()).astype(np.int16)
    jaw = stack.renderer.render(MotionFrame.from_dict({"jawOpen": 1.0})).astype(np.int16)
    mouth = np.abs(jaw - neutral).max(axis=2) > 40
    assert mouth.sum() > 200  # the renderer really opens the mouth

    def like(img, ref):
        return img is not None and img.shape == ref.shape and float(np.abs(img - ref)[mouth].mean())

    try:
        with ObsBridge(stack.engine, obs.config(), BridgeConfig(scene=spec.scene, caption_linger=0.5),
                       report=statuses.append) as bridge, ObsClient(obs.config()).connect() as c:
            assert bridge.link.wait_connected(10)
            # OBS decodes our MJPEG stream: its screenshot of the avatar source is our neutral frame.
            wait_until(lambda: (d := like(shot(c, spec.avatar_source), neutral)) is not False and d < 12 and d, 20,
                       "OBS never showed the avatar's frames")

            async def agent():
                async with ControlClient(stack.control.server.url, stack.token) as agent:
                    await agent.request("set_expression", values={"jawOpen": 1.0}, transition=0.0)

            asyncio.run(agent())
            got = wait_until(lambda: (d := like(shot(c, spec.avatar_source), jaw)) is not False and d < 15 and d, 10,
                             "OBS never showed the open jaw")
            assert got < 15
            assert like(shot(c, spec.avatar_source), neutral) > 40  # and it is not the closed mouth any more

            # The avatar speaks: the caption source says it.
            def caption():
                return c.request("GetInputSettings", inputName=spec.caption_source)["inputSettings"].get("text", "")

            before = shot(c, spec.caption_source)
            stack.engine.say("[happy] Hello OBS, I am live and these are my captions.")
            wait_until(lambda: caption() == "Hello OBS, I am live and\nthese are my captions." or None, 5, lambda: f"caption {caption()!r}")
            after = wait_until(lambda: shot(c, spec.caption_source), 5, "caption source has no picture")
            assert before is None or before.shape != after.shape or np.abs(after - before).mean() > 1
            if SHOTS:
                Path(SHOTS).mkdir(parents=True, exist_ok=True)
                program = shot(c, spec.scene)
                cv2.imwrite(str(Path(SHOTS) / "obs_program.png"), cv2.cvtColor(program.astype(np.uint8), cv2.COLOR_RGB2BGR))
            wait_until(lambda: caption() == "" or None, 10, "caption not cleared after speech")
    finally:
        with ObsClient(obs.config()).connect() as c:
            teardown_scene(c, spec)
    assert any(s.component == "obs" and s.message.startswith("connected") for s in statuses)
