"""A WebSocket preview (binary JPEG messages) for the control panel and other local viewers.

The server runs its own asyncio loop on its own thread, so viewers never touch the frame loop;
each viewer awaits the next frame and gets the newest one, so a slow viewer only skips frames.
Trade-off: no authentication here (127.0.0.1 by default); the agent control server (issue 6)
carries its own token and can reuse JpegBroadcaster to send previews on its authenticated socket.
"""

from __future__ import annotations

import asyncio
import logging
import threading

from marionette.core.errors import InputError
from marionette.core.types import VideoFrame

from .jpeg import JpegBroadcaster

log = logging.getLogger(__name__)


class WebSocketPreviewSink:
    """FrameSink serving ``ws://host:port/preview``: each message is one JPEG frame."""

    name = "preview"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 8766, quality: int = 70, max_clients: int = 16) -> None:
        self.broadcaster = JpegBroadcaster(quality)
        self.max_clients = max_clients
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
        return f"ws://{self.host}:{self.port}/preview"

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
        self._server = await websockets.serve(self._viewer, host, port, max_size=2**16)

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
