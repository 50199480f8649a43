"""The control panel: its server's headers and documents, then the page in a real Chromium
(Playwright driving Debian's /usr/bin/chromium) steering a running avatar through the agents'
websocket with the agents' token."""

import json
import os
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

from marionette.control_panel.server import PanelServerConfig, PanelServer, panel_document
from marionette.core.engine.stats import StatusEvent
from marionette.core.motion_space import ALL_CHANNELS, EMOTIONS

from obs_fixture import AvatarStack, wait_js

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = os.environ.get("MARIONETTE_SHOT_DIR")  # set it to keep screenshots of the panel


def get(url: str, host: str | None = None):
    req = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_panel_document_lists_every_channel_and_marks_unsupported():
    doc = panel_document(PanelServerConfig(unsupported_channels=("tongueOut",), pose_ranges={"yaw": (-12.0, 12.0)}))
    names = [c["name"] for c in doc["channels"]]
    assert names == list(ALL_CHANNELS)
    by = {c["name"]: c for c in doc["channels"]}
    assert by["jawOpen"]["supported"] and not by["tongueOut"]["supported"]
    assert (by["yaw"]["min"], by["yaw"]["max"]) == (-12.0, 12.0) and by["yaw"]["pose"]
    assert by["scale"]["neutral"] == 1.0
    assert doc["emotions"] == list(EMOTIONS) and "nod" in [g["name"] for g in doc["gestures"]]


def test_panel_server_serves_files_with_safe_headers_and_never_the_token():
    with PanelServer(PanelServerConfig(port=0, control_url="ws://127.0.0.1:9999/")) as panel:
        status, headers, body = get(panel.origin + "/")
        assert status == 200 and b"panel.js" in body
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "ws://127.0.0.1:9999" in csp
        assert headers["Referrer-Policy"] == "no-referrer" and headers["X-Frame-Options"] == "DENY"
        status, _, body = get(panel.origin + "/panel.json")
        doc = json.loads(body)
        assert status == 200 and doc["control_url"] == "ws://127.0.0.1:9999/"
        assert "token" not in body.decode().lower()
        assert get(panel.origin + "/panel.js")[0] == 200
        assert get(panel.origin + "/../../etc/passwd")[0] == 404
        # DNS rebinding: a foreign name pointing at 127.0.0.1 is refused.
        assert get(panel.origin + "/panel.json", host=f"evil.example:{panel.port}")[0] == 421
        assert panel.url("a/b+c") == f"{panel.origin}/#token=a%2Fb%2Bc"


# ---------------------------------------------------------------------- in a real browser
@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("Chromium not installed (Debian: apt-get install chromium; scripts/setup.sh --test does it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install -e '.[test]')")
    # launch() gives the browser a fresh, throw-away profile directory of its own.
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def stack():
    s = AvatarStack()
    yield s
    s.close()


def preview_pixels(page) -> np.ndarray:
    png = page.locator("#preview").screenshot()
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB).astype(np.int16)


def wait_until(fn, timeout, msg):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(msg() if callable(msg) else msg)


def test_slider_moves_the_avatar_in_the_next_frames(browser, stack):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(stack.panel.url(stack.token))
    page.wait_for_selector("#conn[data-state=connected]", timeout=10_000)
    assert "token" not in page.url  # moved out of the address bar at once
    wait_js(page, "document.querySelector('#preview').naturalWidth > 0", 10)
    assert page.locator(".chan.unsupported [data-channel=tongueOut]").count() == 1
    assert page.locator("input[type=range][data-channel]").count() == len(ALL_CHANNELS)
    time.sleep(0.3)
    before = preview_pixels(page)

    # Drag the jawOpen slider all the way to the right with the mouse, as a person would.
    slider = page.locator("#ch-jawOpen")
    box = slider.bounding_box()
    page.mouse.move(box["x"] + 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2, steps=5)
    page.mouse.move(box["x"] + box["width"] + 10, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    wait_until(lambda: stack.engine.mixer.state()["overrides"].get("jawOpen", 0) > 0.95, 10,
               lambda: f"mixer never got jawOpen: {stack.engine.mixer.state()['overrides']}")
    assert page.locator(".chan.held[data-channel=jawOpen]").count() == 1

    # The frames the page shows now have the mouth open: they differ from before where the
    # renderer's jawOpen differs, and hardly anywhere else.
    from marionette.core.types import MotionFrame

    mask = np.abs(stack.renderer.render(MotionFrame.from_dict({"jawOpen": 1.0})).astype(np.int16)
                  - stack.renderer.render(MotionFrame()).astype(np.int16)).max(axis=2) > 40
    mask = cv2.resize(mask.astype(np.uint8), before.shape[1::-1], interpolation=cv2.INTER_NEAREST).astype(bool)

    def mouth_changed():
        diff = np.abs(preview_pixels(page) - before).max(axis=2)
        return diff[mask].mean() > 40 and diff[~mask].mean() < 10 and (diff[mask].mean(), diff[~mask].mean())

    inside, outside = wait_until(mouth_changed, 15, "the preview never showed the open jaw")
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / "panel.png"), full_page=False)

    # Giving the channel back releases the override.
    page.locator(".chan[data-channel=jawOpen] button").click()
    wait_until(lambda: "jawOpen" not in stack.engine.mixer.state()["overrides"], 5, "release did not clear")
    assert not errors, errors
    page.close()


def test_buttons_speak_and_status_reach_the_engine(browser, stack):
    page = browser.new_page()
    page.goto(stack.panel.url(stack.token))
    page.wait_for_selector("#conn[data-state=connected]", timeout=10_000)
    page.locator("#emotion-intensity").fill("0.5")
    page.locator("#emotions button[data-label=surprised]").click()
    wait_until(lambda: stack.engine.mixer.emotion.label == "surprised", 5, "emotion button did nothing")
    assert stack.engine.mixer.emotion.intensity == pytest.approx(0.5)
    page.locator("#gestures button[data-gesture=nod]").click()
    wait_until(lambda: "nod" in [g["name"] for g in stack.engine.mixer.state()["gestures"]], 5, "gesture button")
    page.locator("#speak-text").fill("[happy] Hello from the panel")
    page.locator("#speak").click()
    wait_until(lambda: any("Hello from the panel" in s[0] for s in stack.engine.said), 5, "speak did nothing")
    page.wait_for_selector("#speaking.speaking", timeout=5_000)
    assert page.locator("#caption").inner_text() == "Hello from the panel"
    # Stats arrive and the graphs get numbers.
    wait_js(page, "document.querySelector('#fps-now').textContent.includes('fps') && "
                           "!document.querySelector('#fps-now').textContent.startsWith('–')", 5)
    # An engine error shows as a banner and in the component table.
    stack.engine._emit(StatusEvent("sink:virtualcam", "device vanished", "error", True))
    page.wait_for_selector(".banner.error >> text=sink:virtualcam: device vanished (retrying)", timeout=5_000)
    assert "device vanished" in page.locator("#components").inner_text()
    page.close()


def test_panel_without_or_with_a_wrong_token_cannot_drive(browser, stack):
    page = browser.new_page()
    page.goto(stack.panel.url())
    page.wait_for_selector("#token-form:not([hidden])", timeout=5_000)
    assert page.locator("#conn").get_attribute("data-state") == "no-token"
    page.close()
    page = browser.new_page()
    page.goto(stack.panel.url("wrong-token-wrong-token-wrong"))
    page.wait_for_selector(".banner.error >> text=refused the connection", timeout=10_000)
    before = stack.engine.mixer.version
    page.evaluate("window.marionette.send('set_emotion', {label: 'angry'}).catch(() => {})")
    time.sleep(0.3)
    assert stack.engine.mixer.version == before and stack.engine.mixer.emotion.label != "angry"
    page.close()


def test_foreign_origin_page_is_refused(browser, stack):
    """Another local page (another port = another origin) holding the token still cannot connect:
    the Origin allow-list names only the panel's own origin."""
    with PanelServer(PanelServerConfig(port=0, control_url=stack.control.server.url, mjpeg_url=None)) as other:
        page = browser.new_page()
        page.goto(other.url(stack.token))
        page.wait_for_selector(".banner.error >> text=refused the connection", timeout=10_000)
        page.close()


def test_websocket_preview_is_used_when_the_run_serves_one(browser, stack):
    cfg = PanelServerConfig(port=0, control_url=stack.control.server.url, mjpeg_url=stack.mjpeg.url,
                            preview_url=stack.preview.base_url)
    with PanelServer(cfg) as panel:
        page = browser.new_page()
        page.goto(panel.url(stack.token))
        # Frames arrive as JPEG blobs over the websocket, newest first; the MJPEG stream is not used.
        wait_js(page, "document.querySelector('#preview').src.startsWith('blob:') && "
                               "document.querySelector('#preview').naturalWidth === 256", 20)
        first = page.evaluate("document.querySelector('#preview').src")
        wait_js(page, f"document.querySelector('#preview').src !== {first!r}", 10)
        page.close()


def test_background_select_switches_the_background_behind_the_person(browser, stack):
    from marionette.core.render.background import GREEN

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(stack.panel.url(stack.token))
    page.wait_for_selector("#conn[data-state=connected]", timeout=10_000)
    page.locator("#background").select_option("green")
    wait_until(lambda: stack.renderer.background is not None and stack.renderer.background.spec.mode == "green",
               10, "the engine never switched to green")
    wait_until(lambda: stack.last_image is not None and tuple(int(v) for v in stack.last_image[0, 0]) == GREEN,
               10, "frames never showed the green key")
    wait_until(lambda: (lambda px: px[1] > 140 and px[0] < 60)(preview_pixels(page)[2, 2]), 15,
               "the preview never showed the green key")
    page.locator("#background").select_option("keep")
    wait_until(lambda: stack.renderer.background.spec.mode == "keep", 10, "the engine never switched back")
    assert not errors, errors
    page.close()


def test_drive_select_sets_who_drives_the_face(browser, stack):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(stack.panel.url(stack.token))
    page.wait_for_selector("#conn[data-state=connected]", timeout=10_000)
    page.locator("#drive").select_option("camera+controls")
    wait_until(lambda: getattr(stack.engine, "drive", None) is not None and stack.engine.drive.mode == "camera+controls",
               10, "the engine's drive never became camera+controls")
    page.locator("#drive").select_option("camera+audio")
    wait_until(lambda: stack.engine.drive.mode == "camera+audio", 10, "the drive never became camera+audio")
    assert not errors, errors
    page.close()
