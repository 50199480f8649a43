"""A WebSocket preview (binary JPEG messages) for the control panel and other local viewers.

The server runs its own asyncio loop on its own thread, so viewers never touch the frame loop;
each viewer awaits the next frame and gets the newest one, so a slow viewer only skips frames.
The picture is private, as on the MJPEG stream: the handshake needs the sink's token (``?token=``
or ``Authorization: Bearer``; ``url`` carries it), because any web page may open a WebSocket to
127.0.0.1 (browsers apply no same-origin rule to them). A header that must come once but came twice
gets 400. Trade-off: one JPEG quality for every viewer.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
import threading
from http import HTTPStatus
from urllib.parse import parse_qs, quote, urlsplit

from marionette.core.errors import InputError
from marionette.core.types import VideoFrame

from .jpeg import JpegBroadcaster

log = logging.getLogger(__name__)


class WebSocketPreviewSink:
    """FrameSink serving ``ws://host:port/preview?token=...``: each message is one JPEG frame.
    token: what a viewer must show (None: a random one for this run); accept: further tokens
    that open it too (the control token, for the control panel)."""

    name = "preview"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 8766, quality: int = 70, max_clients: int = 16,
                 token: str | None = None, accept: tuple[str, ...] = ()) -> None:
        self.broadcaster = JpegBroadcaster(quality)
        self.max_clients = max_clients
        self.token = token or secrets.token_urlsafe(24)
        self._accepted = tuple(t.encode() for t in (self.token, *accept) if t)
        self.refused = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._event: asyncio.Event | None = None
        self._server = None
        self._tasks: set[asyncio.Task] = set()
        self._thread = threading.Thread(target=self._run, args=(host, port), name="preview-ws", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise InputError(f"cannot serve the WebSocket preview on {host}:{port} ({self._error}); "
                             "choose another port (--preview-port, or 0 for any free one)") from self._error
        self.host, self.port = self._server.sockets[0].getsockname()[:2]

    @property
    def url(self) -> str:
        """The preview's address with its token."""
        return f"{self.base_url}?token={quote(self.token, safe='')}"

    @property
    def base_url(self) -> str:
        """The address without a token (for pages that add the token they hold)."""
        return f"ws://{self.host}:{self.port}/preview"

    def _check(self, connection, request):
        """Handshake: headers once each, then the token; None lets the viewer in."""
        headers = request.headers
        for name in ("Host", "Origin", "Authorization"):
            if len(headers.get_all(name)) > 1:
                self.refused += 1
                return connection.respond(HTTPStatus.BAD_REQUEST, f"{name} more than once; send it once\n")
        offered = (parse_qs(urlsplit(request.path).query).get("token") or [None])[0]
        auth = headers.get("Authorization") or ""
        if offered is None and auth.lower().startswith("bearer "):
            offered = auth[7:].strip()
        got = (offered or "").encode("utf-8", "replace")
        if not got or not any(hmac.compare_digest(got, t) for t in self._accepted):
            self.refused += 1
            return connection.respond(HTTPStatus.UNAUTHORIZED, "this preview needs its token: use the URL "
                                      "`marionette run` prints (...?token=...)\n")
        return None

    def _run(self, host: str, port: int) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._start(host, port))
        except BaseException as e:  # noqa: BLE001 - handed to the constructor to raise
            self._error = e
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()

    async def _start(self, host: str, port: int) -> None:
        import websockets

        self._event = asyncio.Event()
        self._server = await websockets.serve(self._viewer, host, port, max_size=2**16, process_request=self._check,
                                              open_timeout=10, compression=None)

    async def _viewer(self, ws) -> None:
        b = self.broadcaster
        if b.viewers >= self.max_clients:
            await ws.close(1013, "too many viewers")
            return
        b.join()
        try:
            while not b.closed:
                ev = self._event
                await ev.wait()
                _, jpeg = b.latest()
                if jpeg is not None:
                    await ws.send(jpeg)
        except Exception as e:  # noqa: BLE001 - a viewer leaving is normal
            log.debug("preview viewer left: %s", e)
        finally:
            b.leave()

    def _wake(self) -> None:
        ev, self._event = self._event, asyncio.Event()
        ev.set()

    def send(self, frame: VideoFrame) -> None:
        self.broadcaster.publish(frame)
        if self.broadcaster.viewers:
            self._loop.call_soon_threadsafe(self._wake)

    def close(self) -> None:
        self.broadcaster.close()

        async def stop() -> None:
            self._wake()
            self._server.close()
            await self._server.wait_closed()

        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(stop(), self._loop).result(5)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
