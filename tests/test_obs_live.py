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

from obs_fixture import AvatarStack, obs, wait_js  # noqa: F401 - `obs` is a fixture

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


def _mouth_mask(size: int) -> np.ndarray:
    """Pixels of the default portrait that turn dark when the jaw opens (the mouth interior),
    from the renderer itself, shrunk a little so idle sway does not move them out."""
    from marionette.core.face import FaceAnalyzer, default_portrait_path, load_image
    from marionette.core.render.renderer import PortraitRenderer

    image = load_image(str(default_portrait_path()))
    r = PortraitRenderer.load(image, FaceAnalyzer.load().analyze(image), size=(size, size))
    lum = lambda img: img.astype(np.float32).mean(axis=2)  # noqa: E731
    dark = (lum(r.render(MotionFrame())) - lum(r.render(MotionFrame.from_dict({"jawOpen": 1.0})))) > 80
    mask = cv2.erode(dark.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert mask.sum() > 50, "the renderer no longer opens a dark mouth; this test needs another probe"
    return mask


@pytest.mark.slow
def test_marionette_run_with_obs_and_the_panel(obs, tmp_path):
    """The product path: `obs setup`, then `marionette run --obs`; a person drags jawOpen in the panel
    (real Chromium) and OBS shows it; the avatar speaks (espeak-ng) and OBS captions it."""
    import re
    import shutil
    import subprocess
    import sys

    from obs_fixture import free_port

    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Chromium not installed (Debian: apt-get install chromium; scripts/setup.sh --test does it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed")
    mjpeg_port = free_port()
    from marionette.plugin.control.auth import stream_tokens

    view, _ = stream_tokens(tmp_path / "config" / "token")  # what `obs setup` puts in the URL; run makes the same
    spec = SceneSpec(scene="Run Test", stream_url=f"http://127.0.0.1:{mjpeg_port}/stream.mjpg?token={view}")
    with ObsClient(obs.config()).connect() as c:
        setup_scene(c, spec)
    env = dict(os.environ, MARIONETTE_CONFIG_DIR=str(tmp_path / "config"), MARIONETTE_OBS_PASSWORD=obs.password)
    cmd = [sys.executable, "-m", "marionette.plugin.cli", "run", "--duration", "40", "--no-virtualcam",
           "--source", "tts", "--tts-engine", "espeak", "--no-play", "--no-say", "--size", "256x256", "--fps", "15",
           "--mjpeg-port", str(mjpeg_port), "--control-port", "0", "--panel-port", "0", "--stats-every", "0",
           "--obs", "--obs-port", str(obs.port), "--record", str(tmp_path / "run.mp4")]
    cfg_file = tmp_path / "run.toml"
    cfg_file.write_text(f'[obs]\nscene = "{spec.scene}"\n')
    proc = subprocess.Popen([*cmd, "--config", str(cfg_file)], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        panel_url = None
        deadline = time.monotonic() + 60
        while panel_url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            m = re.search(r"control panel (http://\S+)", line)
            panel_url = m.group(1) if m else None
        assert panel_url and "#token=" in panel_url, "".join(lines)
        import threading

        threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
        mouth = _mouth_mask(256)

        with ObsClient(obs.config()).connect() as c, sync_api.sync_playwright() as p:
            first = wait_until(lambda: shot(c, spec.avatar_source), 30, lambda: "OBS never got frames: "
                               f"{c.request('GetMediaInputStatus', inputName=spec.avatar_source)}\n" + "".join(lines)
                               + obs.log_tail(12))
            closed = float(first[mouth].mean())
            browser = p.chromium.launch(executable_path=chromium, args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(panel_url)
            page.wait_for_selector("#conn[data-state=connected]", timeout=15_000)
            page.locator("#ch-jawOpen").fill("1")  # sets the value and fires input/change, like a drag
            opened = wait_until(lambda: (s := shot(c, spec.avatar_source)) is not None
                                and float(s[mouth].mean()) < closed - 40 and float(s[mouth].mean()), 15,
                                lambda: f"OBS never showed the open mouth (mouth box mean {closed:.0f} before, "
                                        f"{float(shot(c, spec.avatar_source)[mouth].mean()):.0f} now; "
                                        f"{c.request('GetMediaInputStatus', inputName=spec.avatar_source)}; panel: "
                                        f"{page.locator('#banners').inner_text()!r} {page.locator('#log').inner_text()!r})\n"
                                        + "".join(lines))
            assert opened < closed - 40
            wait_js(page, "!document.querySelector('#fps-now').textContent.startsWith('–')", 10)
            if SHOTS:
                page.screenshot(path=str(Path(SHOTS) / "panel_run.png"))
            page.locator("#speak-text").fill("Captions come from the running engine.")
            page.locator("#speak").click()

            def caption():
                return c.request("GetInputSettings", inputName=spec.caption_source)["inputSettings"].get("text", "")

            seen = []
            wait_until(lambda: seen.append(caption()) or seen[-1].replace("\n", " ") == "Captions come from the running engine."
                       or None, 20,
                       lambda: f"captions seen {sorted(set(seen))}\n" + "".join(lines))
            if SHOTS:
                program = shot(c, spec.scene)
                cv2.imwrite(str(Path(SHOTS) / "obs_program_run.png"), cv2.cvtColor(program.astype(np.uint8), cv2.COLOR_RGB2BGR))
            browser.close()
    finally:
        proc.terminate()
        proc.wait(20)
        with ObsClient(obs.config()).connect() as c:
            teardown_scene(c, spec)
    out = "".join(lines)
    assert "obs: connected to OBS" in out, out
