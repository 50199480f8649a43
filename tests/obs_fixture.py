"""A real OBS Studio, headless, as a test peer (Debian's obs-studio 29 under Xvfb).

Each HeadlessObs gets a throw-away HOME with a pre-written config (first-run wizard off, the
websocket server on, a 640x360 profile with the preview off, about 2 % CPU idle), its own Xvfb
display and a free port. kill() is SIGKILL (a crash), start() again brings it back on the same
port, so reconnection can be tested. Tests import the `obs` fixture from here.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

OBS_BIN = shutil.which("obs")
XVFB_BIN = shutil.which("Xvfb")
PASSWORD = "marionette-test"
WIDTH, HEIGHT = 640, 360


def obs_missing_reason() -> str | None:
    if OBS_BIN is None:
        return "OBS Studio not installed (Debian: apt-get install --no-install-recommends obs-studio; scripts/setup.sh --test does it)"
    if XVFB_BIN is None:
        return "Xvfb not installed (Debian: apt-get install xvfb xauth; scripts/setup.sh --test does it)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HeadlessObs:
    """One OBS process on its own Xvfb display. host/port/password are what clients use."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root or tempfile.mkdtemp(prefix="marionette-obs-"))
        self.home = self.root / "home"
        self.host = "127.0.0.1"
        self.port = free_port()
        self.password = PASSWORD
        self.display: str | None = None
        self._xvfb: subprocess.Popen | None = None
        self._obs: subprocess.Popen | None = None
        self._write_config()

    # ------------------------------------------------------------------ config
    def _write_config(self) -> None:
        cfg = self.home / ".config" / "obs-studio"
        (cfg / "basic" / "profiles" / "Marionette").mkdir(parents=True, exist_ok=True)
        (cfg / "basic" / "scenes").mkdir(parents=True, exist_ok=True)
        # obs-websocket 5.1 reads [OBSWebSocket] in global.ini (not plugin_config); without
        # FirstRun=true OBS opens its wizard and leaves the server off.
        (cfg / "global.ini").write_text(
            "[General]\nFirstRun=true\nLastVersion=486539266\n"
            "[Basic]\nProfile=Marionette\nProfileDir=Marionette\nSceneCollection=Marionette\n"
            "SceneCollectionFile=Marionette\n"
            "[BasicWindow]\nPreviewEnabled=false\n"
            f"[OBSWebSocket]\nServerEnabled=true\nServerPort={self.port}\nAuthRequired=true\n"
            f"ServerPassword={self.password}\nFirstLoad=false\n"
        )
        (cfg / "basic" / "profiles" / "Marionette" / "basic.ini").write_text(
            "[General]\nName=Marionette\n"
            f"[Video]\nBaseCX={WIDTH}\nBaseCY={HEIGHT}\nOutputCX={WIDTH}\nOutputCY={HEIGHT}\n"
            "FPSType=0\nFPSCommon=30\n"
        )

    # ------------------------------------------------------------------ processes
    def _start_xvfb(self) -> None:
        if self._xvfb is not None and self._xvfb.poll() is None:
            return
        r, w = os.pipe()
        self._xvfb = subprocess.Popen(
            [XVFB_BIN, "-displayfd", str(w), "-screen", "0", "1280x720x24", "-nolisten", "tcp"],
            pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        os.close(w)
        with os.fdopen(r) as f:
            number = f.readline().strip()  # Xvfb writes the display number once it is ready
        if not number:
            raise RuntimeError("Xvfb did not start (no display number on -displayfd)")
        self.display = f":{number}"

    def start(self, wait: float = 30.0) -> "HeadlessObs":
        if self.running:
            raise RuntimeError("this OBS is already running; kill() or stop() it first")
        if self._xvfb is None:
            atexit.register(self.close)  # a test run that dies early must not leave OBS and Xvfb behind
        self._start_xvfb()
        env = dict(os.environ, HOME=str(self.home), DISPLAY=self.display or "", LIBGL_ALWAYS_SOFTWARE="1",
                   XDG_CONFIG_HOME=str(self.home / ".config"))
        log = open(self.root / "obs.log", "ab")
        self._obs = subprocess.Popen(
            [OBS_BIN, "--multi", "--disable-missing-files-check", "--websocket_port", str(self.port),
             "--websocket_password", self.password],
            env=env, cwd=self.root, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        log.close()
        self.wait_listening(wait)
        return self

    def wait_listening(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._obs is not None and self._obs.poll() is not None:
                raise RuntimeError(f"OBS exited with {self._obs.returncode}; log:\n{self.log_tail()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"OBS websocket not listening on {self.port} after {timeout} s; log:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: OBS vanishes the way a crash would (no close frame)."""
        if self._obs is not None and self._obs.poll() is None:
            self._obs.kill()
            self._obs.wait(10)

    def stop(self) -> None:
        if self._obs is not None and self._obs.poll() is None:
            self._obs.send_signal(signal.SIGINT)  # OBS shuts down cleanly on SIGINT
            try:
                self._obs.wait(10)
            except subprocess.TimeoutExpired:
                self._obs.kill()
                self._obs.wait(5)

    def close(self) -> None:
        try:
            self.stop()
        finally:
            if self._xvfb is not None and self._xvfb.poll() is None:
                self._xvfb.terminate()
                self._xvfb.wait(5)
            shutil.rmtree(self.root, ignore_errors=True)

    @property
    def running(self) -> bool:
        return self._obs is not None and self._obs.poll() is None

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join((self.root / "obs.log").read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def config(self, **overrides):
        from marionette.plugin.obs import ObsConfig

        base = {"host": self.host, "port": self.port, "password": self.password}
        return ObsConfig(**{**base, **overrides})


@pytest.fixture(scope="module")
def obs():
    reason = obs_missing_reason()
    if reason:
        pytest.skip(reason)
    inst = HeadlessObs()
    try:
        inst.start()
        yield inst
    finally:
        inst.close()


class TinyMjpegServer:
    """A minimal MJPEG-over-HTTP server (multipart/x-mixed-replace) at /stream.mjpg, for tests
    that need a stream before or without the engine. frame() returns the RGB picture to send."""

    def __init__(self, frame, fps: float = 15.0) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        import cv2

        self.frame = frame
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                if self.path != "/stream.mjpg":
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                try:
                    while not outer._stop.is_set():
                        ok, jpg = cv2.imencode(".jpg", cv2.cvtColor(outer.frame(), cv2.COLOR_RGB2BGR))
                        data = jpg.tobytes()
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\n"
                                         + f"Content-Length: {len(data)}\r\n\r\n".encode() + data + b"\r\n")
                        self.wfile.flush()
                        outer._stop.wait(1.0 / fps)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self._stop = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/stream.mjpg"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()


class AvatarStack:
    """A running avatar for integration tests: the real portrait renderer, ControlMixer, control
    websocket server (token + Origin policy), MJPEG sink and panel server, around the control
    channel's SimEngine frame loop (speech as timed jaw motion and speech events; no TTS).

    Used by the OBS live test and the control-panel browser test. ``token`` is the agents' token.
    """

    def __init__(self, *, fps: float = 15.0, size: int = 256) -> None:
        import asyncio
        import threading

        from marionette.control_panel.server import PanelServerConfig, PanelServer
        from marionette.core.clock import MonotonicClock
        from marionette.core.face import FaceAnalyzer, default_portrait_path, load_image
        from marionette.core.render.renderer import POSE_RANGE, PortraitRenderer
        from marionette.core.types import VideoFrame
        from marionette.plugin.control.server import ControlServer, ServerConfig, ServerThread
        from marionette.plugin.control.sim_engine import SimEngine
        from marionette.plugin.sinks.mjpeg import MjpegSink

        image = load_image(str(default_portrait_path()))
        self.renderer = PortraitRenderer.load(image, FaceAnalyzer.load().analyze(image), size=(size, size))
        from marionette.plugin.sinks.preview_ws import WebSocketPreviewSink

        self.token = "test-token-" + "x" * 24
        self.mjpeg = MjpegSink(port=0, accept=(self.token,))  # as `run` wires it: the panel shows the control token
        self.preview = WebSocketPreviewSink(port=0, accept=(self.token,))
        self.frames = 0
        self.last_image = None

        def render(motion):
            img = self.renderer.render(motion)
            self.last_image = img
            frame = VideoFrame(img, motion.t, self.frames)
            self.mjpeg.send(frame)
            self.preview.send(frame)
            self.frames += 1

        renderer = self.renderer

        class BackdropSimEngine(SimEngine):
            """The simulated engine with the background ability (core.control.api.BackgroundControl)
            over the stack's real renderer, as LiveApp has it."""

            def set_background(self, spec: str) -> str:
                from marionette.core.render.background import BackgroundSpec

                parsed = BackgroundSpec.parse(spec)
                renderer.set_background(parsed)
                return str(parsed)

            def set_drive(self, mode: str) -> str:
                """DriveControl, as LiveApp has it with a camera attached (no camera frames here)."""
                from marionette.core.tracking.drive import CameraDrive

                if not hasattr(self, "drive"):
                    self.drive = CameraDrive(self.mixer, lambda: None)
                self.drive.set_mode(mode)
                return self.drive.mode

        self.clock = MonotonicClock()
        self.engine = BackdropSimEngine(clock=self.clock, fps=fps, render=render)
        panel_port = free_port()
        self.control = ServerThread(ControlServer(self.engine, token=self.token, clock=self.clock,
                                                  config=ServerConfig(port=0, page_ports=(panel_port,)))).start()
        self.panel = PanelServer(PanelServerConfig(
            port=panel_port, control_url=self.control.server.url, mjpeg_url=self.mjpeg.base_url,
            unsupported_channels=tuple(self.renderer.unsupported_channels), pose_ranges=dict(POSE_RANGE))).start()
        self._thread = threading.Thread(target=lambda: asyncio.run(self.engine.run()), name="sim-engine", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.engine.stop()
        self._thread.join(5)
        self.panel.close()
        self.control.stop()
        self.mjpeg.close()
        self.preview.close()


def wait_js(page, expression: str, timeout: float) -> None:
    """Poll a JavaScript expression until it is truthy. Playwright's wait_for_function evaluates
    its predicate with eval() inside the page, which the panel's Content-Security-Policy forbids."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout} s: {expression}")
        time.sleep(0.05)
