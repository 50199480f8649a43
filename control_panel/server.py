"""Serves the control panel (static HTML/JS/CSS plus a non-secret panel.json) over local HTTP.

The page talks to the engine only through the agents' control websocket, with the agents' token:
there is no second door. The token is never served: `run` prints the panel URL with the token in
the fragment (#token=...), which browsers do not send to servers, put in Referer, or log; the page
moves it to sessionStorage and strips it from the address bar. Trade-off: a panel opened without
that URL must be given the token by hand (it asks). The control server must list this server's
port as a page origin (ServerConfig.page_ports), or the browser's handshake is refused.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import quote, urlsplit

from ..core.errors import InputError

log = logging.getLogger(__name__)

STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/panel.js": ("panel.js", "text/javascript; charset=utf-8"),
    "/panel.css": ("panel.css", "text/css; charset=utf-8"),
}


@dataclass(frozen=True, kw_only=True)
class PanelServerConfig:
    """control_url: the agents' websocket (ws://127.0.0.1:PORT/). mjpeg_url / preview_url: where
    the page gets frames (the MJPEG stream, or the JPEG-over-websocket preview; either may be None).
    unsupported_channels: what the renderer cannot show (Renderer.unsupported_channels); their
    sliders are greyed. pose_ranges: the renderer's supported pose range, narrower than the motion space's."""

    host: str = "127.0.0.1"
    port: int = 8767
    control_url: str = "ws://127.0.0.1:8765/"
    mjpeg_url: str | None = "http://127.0.0.1:8765/stream.mjpg"
    preview_url: str | None = None
    unsupported_channels: tuple[str, ...] = ()
    pose_ranges: dict[str, tuple[float, float]] | None = None  # the renderer's, when narrower


def panel_document(config: PanelServerConfig) -> dict:
    """panel.json: everything the page needs that is not secret (URLs, channels, emotions, gestures)."""
    from ..core.control.gestures import GESTURES
    from ..core.motion_space import ALL_CHANNELS, BLENDSHAPE_RANGE, EMOTIONS, NEUTRAL_POSE, POSE_CHANNELS, POSE_RANGES

    unsupported = set(config.unsupported_channels)
    ranges = dict(POSE_RANGES)
    ranges.update(config.pose_ranges or {})
    channels = []
    for name in ALL_CHANNELS:
        lo, hi = ranges.get(name, BLENDSHAPE_RANGE)
        channels.append({"name": name, "min": lo, "max": hi, "neutral": NEUTRAL_POSE.get(name, 0.0),
                         "pose": name in POSE_CHANNELS, "supported": name not in unsupported})
    return {
        "control_url": config.control_url,
        "mjpeg_url": config.mjpeg_url,
        "preview_url": config.preview_url,
        "channels": channels,
        "emotions": list(EMOTIONS),
        "gestures": [{"name": g.name, "description": g.description, "side": g.uses_side, "target": g.uses_target}
                     for g in GESTURES.values()],
    }


def _origin(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


class PanelServer:
    """A tiny threaded HTTP server for the panel. start() binds (port 0 = any free port)."""

    def __init__(self, config: PanelServerConfig = PanelServerConfig()) -> None:
        self.config = config
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = config.port

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "PanelServer":
        files = {path: (resources.files(__package__).joinpath(name).read_bytes(), ctype)
                 for path, (name, ctype) in STATIC.items()}
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                log.debug("panel %s " + fmt, self.client_address[0], *args)

            def do_GET(self):
                # DNS rebinding: a foreign site that resolves its name to 127.0.0.1 would reach us
                # with its own Host header; only our own names are served.
                if not server._host_ok(self.headers.get("Host", "")):
                    self._reply(421, b"wrong Host for the Marionette panel\n", "text/plain; charset=utf-8")
                    return
                path = self.path.split("?", 1)[0]
                if path == "/panel.json":
                    self._reply(200, json.dumps(panel_document(server.config)).encode(), "application/json")
                    return
                entry = files.get(path)
                if entry is None:
                    self._reply(404, b"not found: the panel is at /\n", "text/plain; charset=utf-8")
                    return
                self._reply(200, *entry)

            def do_HEAD(self):
                self.do_GET()

            def _reply(self, code: int, body: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.send_header("Referrer-Policy", "no-referrer")
                self.send_header("X-Content-Type-Options", "nosniff")
                self.send_header("X-Frame-Options", "DENY")
                self.send_header("Content-Security-Policy", server._csp())
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

        try:
            self._server = ThreadingHTTPServer((self.config.host, self.config.port), Handler)
        except OSError as e:
            raise InputError(f"cannot serve the control panel on {self.config.host}:{self.config.port} "
                             f"({e.strerror}); choose another port (0 for any free one)") from e
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="panel-http", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "PanelServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect_to(self, control_url: str) -> None:
        """Point the page at the control websocket once it listens (it starts after the panel,
        because it must know the panel's port to allow the panel's Origin)."""
        self.config = replace(self.config, control_url=control_url)

    def _csp(self) -> str:
        # Scripts and styles only from here; pictures and sockets only from our own URLs.
        cfg = self.config
        media = " ".join(o for o in {_origin(cfg.mjpeg_url)} if o)
        sockets = " ".join(sorted(o for o in {_origin(cfg.control_url), _origin(cfg.preview_url)} if o))
        return (f"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob: {media}; "
                f"connect-src 'self' {sockets}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")

    # ------------------------------------------------------------------ addresses
    @property
    def origin(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    def url(self, token: str | None = None) -> str:
        """The address to open; with a token it goes in the fragment, which never leaves the browser."""
        return f"{self.origin}/" + (f"#token={quote(token, safe='')}" if token else "")

    def _host_ok(self, host: str) -> bool:
        names = {self.config.host, "127.0.0.1", "localhost", "[::1]"}
        return host in {f"{n}:{self.port}" for n in names} or host in names


def panel_for_app(app, *, host: str = "127.0.0.1", port: int = 8767) -> PanelServer:
    """A started panel for a running LiveApp: preview from its MJPEG (or websocket preview) sink,
    sliders greyed for channels its renderer cannot draw and pose ranges set to what it draws.
    Start the control server next with page_ports=(panel.port,), then call panel.connect_to(url)."""
    sinks = getattr(app, "sinks", {}) or {}
    mjpeg, preview = sinks.get("mjpeg"), sinks.get("preview")
    renderer = getattr(getattr(app, "engine", None), "renderer", None)
    pose_ranges = None
    try:
        from ..core.render.renderer import POSE_RANGE

        pose_ranges = dict(POSE_RANGE)
    except ImportError:  # another renderer: the motion space's ranges
        pass
    cfg = PanelServerConfig(
        host=host, port=port, control_url="",
        mjpeg_url=getattr(mjpeg, "url", None), preview_url=getattr(preview, "url", None),
        unsupported_channels=tuple(getattr(renderer, "unsupported_channels", ()) or ()),
        pose_ranges=pose_ranges,
    )
    return PanelServer(cfg).start()
