"""WebRTC out (plugin/sinks/webrtc.py) for real: an aiortc viewer and headless Chromium through the
control panel's preview receive the picture and the sound; the offer needs a token; peers are
capped. Frames come from a feeder thread standing in for the engine (a white picture and a tone
every other half second, stamped like the engine stamps them)."""

from __future__ import annotations

import json
import shutil
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

pytest.importorskip("aiortc", reason="the webrtc extra is not installed (pip install -e '.[webrtc]')")

from marionette.core.types import AudioChunk, VideoFrame  # noqa: E402
from marionette.plugin.sinks.webrtc import WebRtcSink  # noqa: E402
from marionette.tools.bench.webrtc_viewer import RtcViewer  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SIZE = 256


class Feeder:
    """30 fps: white with a 440 Hz tone for half a second, then black and silent, and so on."""

    def __init__(self, sink: WebRtcSink) -> None:
        self.sink, self.switches = sink, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "Feeder":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        k, t0, white = 0, time.monotonic(), False
        n = 16000 // 30
        tone = (0.3 * np.sin(np.arange(n) * 2 * np.pi * 440 / 16000)).astype(np.float32)
        while not self._stop.is_set():
            t = t0 + k / 30
            time.sleep(max(0.0, t - time.monotonic()))
            w = (k // 15) % 2 == 1
            if w and not white:
                self.switches.append(time.monotonic())
            white = w
            self.sink.send(VideoFrame(np.full((SIZE, SIZE, 3), 255 if w else 0, np.uint8), t, k))
            self.sink.send_played(AudioChunk(tone if w else np.zeros(n, np.float32), 16000, t))
            k += 1


def first_after(times: np.ndarray, flags: np.ndarray, t: float) -> float | None:
    idx = np.flatnonzero((times >= t - 0.05) & flags)
    return float(times[idx[0]] - t) if len(idx) else None


def test_viewer_gets_picture_and_sound_and_the_offer_needs_a_token():
    sink = WebRtcSink(port=0, token="view-token-123456", accept=("control-token-123456",), max_peers=1)
    try:
        req = urllib.request.Request(sink.base_url + "?token=wrong", b"{}", {"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=5)
        assert err.value.code == 401
        req = urllib.request.Request(sink.base_url + "?token=control-token-123456", b"nope", {"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=5)
        assert err.value.code == 400 and "sdp" in json.loads(err.value.read())["error"]
        with Feeder(sink) as feed:
            viewer = RtcViewer(sink.url).start()
            req = urllib.request.Request(sink.url, json.dumps({"sdp": "v=0", "type": "offer"}).encode(),
                                         {"Content-Type": "application/json"})
            with pytest.raises(urllib.error.HTTPError) as err:  # max_peers=1: the second viewer waits
                urllib.request.urlopen(req, timeout=5)
            assert err.value.code == 503
            time.sleep(4.0)
            viewer.stop()
            switches = list(feed.switches)
        pt = np.array([t for t, _ in viewer.pictures])
        white = np.array([im.mean() > 128 for _, im in viewer.pictures])
        st = np.array([t for t, _ in viewer.sound])
        loud = np.array([np.abs(x).max() > 0.1 for _, x in viewer.sound])
        assert viewer.frames > 30 and viewer.pictures[0][1].shape == (SIZE, SIZE, 3)
        assert white.any() and (~white).any() and loud.any() and (~loud).any()
        vlat = [x for s in switches[1:] if (x := first_after(pt, white, s)) is not None]
        alat = [x for s in switches[1:] if (x := first_after(st, loud, s)) is not None]
        print(f"webrtc sink: {viewer.frames} frames; white shown {np.round(np.array(vlat) * 1e3)} ms, "
              f"tone heard {np.round(np.array(alat) * 1e3)} ms after it was due")
        assert vlat and np.median(vlat) < 0.5 and alat and np.median(alat) < 0.5
    finally:
        sink.close()


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed (Debian: apt-get install chromium; scripts/setup.sh --test)")
def test_control_panel_preview_plays_the_webrtc_stream():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install -e '.[test]')")
    from marionette.control_panel.server import PanelServer, PanelServerConfig

    token = "control-token-123456"
    sink = WebRtcSink(port=0, accept=(token,))
    panel = PanelServer(PanelServerConfig(port=0, control_url="ws://127.0.0.1:9/", mjpeg_url=None,
                                          webrtc_url=sink.base_url)).start()
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-features=WebRtcHideLocalIpsWithMdns"]
    try:
        with Feeder(sink), sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=flags)
            page = browser.new_page()
            page.goto(panel.url(token))
            page.wait_for_function("() => { const v = document.querySelector('#preview-video');"
                                   " return v && v.videoWidth > 0 && v.currentTime > 1; }", timeout=30000)
            size = page.evaluate("() => { const v = document.querySelector('#preview-video'); return [v.videoWidth, v.videoHeight]; }")
            tracks = page.evaluate("() => document.querySelector('#preview-video').srcObject.getTracks().map(t => t.kind).sort()")
            browser.close()
        assert size == [SIZE, SIZE] and tracks == ["audio", "video"]
        assert sink.frames_sent > 10
    finally:
        panel.close()
        sink.close()
