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
from dataclasses import dataclass, replace
from importlib import resources
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from ..plugin.httpd import HttpLimits, HttpServer, Request, Response

if TYPE_CHECKING:
    from ..plugin.live import LiveApp

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
    webrtc_url: str | None = None  # where the page POSTs a WebRTC offer (plugin/sinks/webrtc.py); preferred
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
        "webrtc_url": config.webrtc_url,
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
    """The panel's HTTP server (plugin/httpd.py: asyncio, capped, deadlines on every read and
    write, Host allow-list). start() binds (port 0 = any free port)."""

    def __init__(self, config: PanelServerConfig = PanelServerConfig(), *,
                 limits: HttpLimits = HttpLimits(max_connections=32)) -> None:
        self.config, self.limits = config, limits
        self._http: HttpServer | None = None
        self._files: dict[str, tuple[bytes, str]] = {}
        self.port = config.port

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "PanelServer":
        self._files = {path: (resources.files(__package__).joinpath(name).read_bytes(), ctype)
                       for path, (name, ctype) in STATIC.items()}
        self._http = HttpServer(self._handle, host=self.config.host, port=self.config.port, name="panel-http",
                                what="the control panel", limits=self.limits)
        self.port = self._http.port
        return self

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def __enter__(self) -> "PanelServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def counters(self) -> dict[str, int]:
        return dict(self._http.counters) if self._http is not None else {}

    async def _handle(self, request: Request) -> Response:
        # The Host check (DNS rebinding) is done by HttpServer before we are called.
        headers = [("Referrer-Policy", "no-referrer"), ("X-Frame-Options", "DENY"),
                   ("Content-Security-Policy", self._csp())]
        if request.path == "/panel.json":
            return Response(200, json.dumps(panel_document(self.config)).encode(), "application/json", headers)
        entry = self._files.get(request.path)
        if entry is None:
            return Response(404, b"not found: the panel is at /\n", "text/plain; charset=utf-8", headers)
        return Response(200, entry[0], entry[1], headers)

    def connect_to(self, control_url: str) -> None:
        """Point the page at the control websocket once it listens (it starts after the panel,
        because it must know the panel's port to allow the panel's Origin)."""
        self.config = replace(self.config, control_url=control_url)

    def _csp(self) -> str:
        # Scripts and styles only from here; pictures and sockets only from our own URLs.
        cfg = self.config
        media = " ".join(o for o in {_origin(cfg.mjpeg_url)} if o)
        sockets = " ".join(sorted(o for o in {_origin(cfg.control_url), _origin(cfg.preview_url),
                                              _origin(cfg.webrtc_url)} if o))
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
        return self._http is not None and self._http.host_ok(host)


def panel_for_app(app: LiveApp, *, host: str = "127.0.0.1", port: int = 8767) -> PanelServer:
    """A started panel for a running LiveApp: preview from its MJPEG (or websocket preview) sink,
    sliders greyed for channels its renderer cannot draw and pose ranges set to what it draws.
    Start the control server next with page_ports=(panel.port,), then call panel.connect_to(url).
    The MJPEG and preview addresses go to the page without their tokens (panel.json is not
    secret): the page adds the control token it was given, which both accept."""
    from ..core.render.renderer import POSE_RANGE

    mjpeg, preview, webrtc = app.sinks.get("mjpeg"), app.sinks.get("preview"), app.sinks.get("webrtc")
    cfg = PanelServerConfig(
        host=host, port=port, control_url="",
        mjpeg_url=mjpeg.base_url if mjpeg is not None else None,
        preview_url=preview.base_url if preview is not None else None,
        webrtc_url=webrtc.base_url if webrtc is not None else None,
        unsupported_channels=tuple(app.engine.renderer.unsupported_channels),
        pose_ranges=dict(POSE_RANGE),
    )
    return PanelServer(cfg).start()
