"""MJPEG over HTTP: ``/stream.mjpg`` for browsers, OBS media sources and OpenCV/PyAV clients.

Served by plugin/httpd.py (asyncio, one loop thread): every viewer is a coroutine that gets the
newest frame when it is ready for one, so a slow viewer skips frames and never holds up the others
or the frame loop. Capped (``max_clients`` viewers, a few more sockets for snapshots), with
deadlines on every read and write. The picture is private: every path needs the stream token,
as ``?token=`` in the URL (what OBS, ffmpeg and browsers can carry) or an ``Authorization: Bearer``
header. ``url`` carries it. Trade-off: a token in a URL can end up in a history or a config file,
so `marionette run` gives the stream a view-only token derived from the control token (it can
watch, not steer), and accepts the control token itself from the control panel.
"""

from __future__ import annotations

import asyncio
import hmac
import html
import logging
import secrets
from urllib.parse import quote

from marionette.core.types import VideoFrame

from ..httpd import HttpLimits, HttpServer, Request, Response, text
from .jpeg import JpegBroadcaster

log = logging.getLogger(__name__)
BOUNDARY = "marionetteframe"
WAKE_EVERY = 2.0  # s; a viewer re-checks for a closed sink at least this often


class MjpegSink:
    """FrameSink serving ``http://host:port/stream.mjpg?token=...`` (also ``/snapshot.jpg`` and ``/``).

    token: what a viewer must show (None: a random one for this run). accept: further tokens that
    also open it (the control token, for the panel). client_timeout: seconds a viewer may stop
    reading before it is dropped."""

    name = "mjpeg"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 8765, quality: int = 80,
                 max_clients: int = 16, client_timeout: float = 10.0, token: str | None = None,
                 accept: tuple[str, ...] = (), header_timeout: float = 5.0) -> None:
        self.broadcaster = JpegBroadcaster(quality)
        self.max_clients = max_clients
        self.token = token or secrets.token_urlsafe(24)
        self._accepted = tuple(t.encode() for t in (self.token, *accept) if t)
        self.clients_served = 0
        self.viewers = 0  # changed on the server's loop only
        self._frame_ready: asyncio.Event | None = None
        limits = HttpLimits(max_connections=max_clients + 16, header_timeout=header_timeout,
                            write_timeout=client_timeout)
        self._http = HttpServer(self._handle, host=host, port=port, name="mjpeg-http", limits=limits,
                                what="MJPEG", port_hint="choose another port (--mjpeg-port, or 0 for any free one)")
        self.host, self.port = self._http.host, self._http.port

    @property
    def url(self) -> str:
        """The stream's address with its token: what to give OBS, a browser or ffmpeg."""
        return f"http://{self.host}:{self.port}/stream.mjpg?token={quote(self.token, safe='')}"

    @property
    def base_url(self) -> str:
        """The stream's address without a token (for pages that add the token they hold)."""
        return f"http://{self.host}:{self.port}/stream.mjpg"

    @property
    def snapshot_url(self) -> str:
        return f"http://{self.host}:{self.port}/snapshot.jpg?token={quote(self.token, safe='')}"

    def open_connections_now(self) -> int:
        """Sockets the server holds at this moment (streams, snapshots, requests being read)."""
        return self._http.open_connections

    @property
    def counters(self) -> dict[str, int]:
        return {**self._http.counters, "viewers": self.viewers, "clients_served": self.clients_served}

    # ------------------------------------------------------------------ requests (server loop)
    def _authorized(self, request: Request) -> bool:
        offered = request.param("token")
        auth = request.headers.get("authorization", "")
        if offered is None and auth.lower().startswith("bearer "):
            offered = auth[7:].strip()
        if not offered:
            return False
        got = offered.encode("utf-8", "replace")
        return any(hmac.compare_digest(got, t) for t in self._accepted)

    async def _handle(self, request: Request) -> Response:
        if request.path not in ("/stream.mjpg", "/snapshot.jpg", "/", "/index.html"):
            return text(404, "not found: the avatar is at /stream.mjpg (and /snapshot.jpg), each with ?token=")
        if not self._authorized(request):
            return text(401, "this stream needs its token: use the URL `marionette run` prints "
                             "(.../stream.mjpg?token=...), or send Authorization: Bearer <token>")
        if request.path == "/stream.mjpg":
            return self._stream()
        if request.path == "/snapshot.jpg":
            _, jpeg = await asyncio.get_running_loop().run_in_executor(self._http.pool, self.broadcaster.latest)
            if jpeg is None:
                return text(503, "no frame yet; try again in a moment")
            return Response(200, jpeg, "image/jpeg")
        src = html.escape(f"/stream.mjpg?token={quote(request.param('token') or '', safe='')}", quote=True)
        page = (f'<!doctype html><title>Marionette</title><body style="margin:0;background:#111">'
                f'<img src="{src}" style="display:block;margin:auto;max-height:100vh"></body>')
        return Response(200, page.encode(), "text/html; charset=utf-8")

    def _stream(self) -> Response:
        # Check and count with no await in between: the loop runs nothing else meanwhile.
        if self.viewers >= self.max_clients:
            return text(503, f"too many viewers (max {self.max_clients}); try again later")
        self.viewers += 1
        self.clients_served += 1
        self.broadcaster.join()
        headers = [("Cache-Control", "no-cache, private"), ("Pragma", "no-cache")]
        return Response(200, content_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}", headers=headers,
                        stream=self._frames(), on_close=self._viewer_left)

    def _viewer_left(self) -> None:
        self.viewers -= 1
        self.broadcaster.leave()

    async def _frames(self):
        b, loop = self.broadcaster, asyncio.get_running_loop()
        seq = -1
        while not b.closed:
            event = self._frame_ready
            if event is None:
                event = self._frame_ready = asyncio.Event()
            newest, jpeg = b.cached()
            if newest <= seq:
                try:
                    await asyncio.wait_for(event.wait(), WAKE_EVERY)
                except TimeoutError:
                    continue
                newest, jpeg = b.cached()
            if jpeg is None:  # published before anyone watched: encode it off the loop
                newest, jpeg = await loop.run_in_executor(self._http.pool, b.latest)
                if jpeg is None:
                    continue
            seq = newest
            yield (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
                   + jpeg + b"\r\n")

    def _wake(self) -> None:
        event, self._frame_ready = self._frame_ready, None
        if event is not None:
            event.set()

    # ------------------------------------------------------------------ FrameSink
    def send(self, frame: VideoFrame) -> None:
        self.broadcaster.publish(frame)
        if self.viewers:
            self._http.call_soon(self._wake)

    def close(self) -> None:
        self.broadcaster.close()
        self._http.call_soon(self._wake)
        self._http.close()

