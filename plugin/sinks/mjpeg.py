"""MJPEG over HTTP: ``/stream.mjpg`` for browsers, OBS media sources and OpenCV/PyAV clients.

A threaded HTTP server on 127.0.0.1 by default; each client has its own thread and gets the
newest frame when it is ready for one, so a slow client never holds up the others or the loop.
Trade-off: one thread per client, so clients are capped (max_clients).
"""

from __future__ import annotations

import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from marionette.core.errors import InputError
from marionette.core.types import VideoFrame

from .jpeg import JpegBroadcaster

log = logging.getLogger(__name__)
BOUNDARY = "marionetteframe"

_INDEX = b"""<!doctype html><title>Marionette</title><body style="margin:0;background:#111">
<img src="/stream.mjpg" style="display:block;margin:auto;max-height:100vh"></body>"""


class MjpegSink:
    """FrameSink serving ``http://host:port/stream.mjpg`` (also ``/snapshot.jpg`` and ``/``)."""

    name = "mjpeg"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 8765, quality: int = 80,
                 max_clients: int = 16, client_timeout: float = 10.0) -> None:
        self.broadcaster = JpegBroadcaster(quality)
        self.max_clients = max_clients
        self.client_timeout = client_timeout
        self.clients_served = 0
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, fmt, *args):  # quiet: the status bus reports what matters
                log.debug("mjpeg %s " + fmt, self.client_address[0], *args)

            def do_GET(self):
                path = self.path.split("?")[0]
                if path == "/stream.mjpg":
                    sink._stream(self)
                elif path == "/snapshot.jpg":
                    _, jpeg = sink.broadcaster.latest()
                    if jpeg is None:
                        self.send_error(503, "no frame yet")
                        return
                    self.send_response(200)
                    self.send_header("Content-Type", "image/jpeg")
                    self.send_header("Content-Length", str(len(jpeg)))
                    self.end_headers()
                    self.wfile.write(jpeg)
                elif path in ("/", "/index.html"):
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.end_headers()
                    self.wfile.write(_INDEX)
                else:
                    self.send_error(404, "try /stream.mjpg or /snapshot.jpg")

        try:
            self._server = ThreadingHTTPServer((host, port), Handler)
        except OSError as e:
            raise InputError(f"cannot serve MJPEG on {host}:{port} ({e.strerror}); "
                             "choose another port (--mjpeg-port, or 0 for any free one)") from e
        self._server.daemon_threads = True
        self.host, self.port = self._server.server_address[:2]
        self._thread = threading.Thread(target=self._server.serve_forever, name="mjpeg-http", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/stream.mjpg"

    def _stream(self, h: BaseHTTPRequestHandler) -> None:
        b = self.broadcaster
        if b.viewers >= self.max_clients:
            h.send_error(503, f"too many viewers (max {self.max_clients})")
            return
        h.connection.settimeout(self.client_timeout)  # a stuck client is dropped, not kept forever
        h.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        h.send_response(200)
        h.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        h.send_header("Cache-Control", "no-cache, private")
        h.send_header("Pragma", "no-cache")
        h.end_headers()
        b.join()
        self.clients_served += 1
        seq = -1
        try:
            while not b.closed:
                seq, jpeg = b.wait_newer(seq)
                if jpeg is None:
                    continue
                h.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode())
                h.wfile.write(jpeg)
                h.wfile.write(b"\r\n")
                h.wfile.flush()
        except (OSError, ValueError):  # client went away or timed out
            pass
        finally:
            b.leave()

    def send(self, frame: VideoFrame) -> None:
        self.broadcaster.publish(frame)

    def close(self) -> None:
        self.broadcaster.close()
        self._server.shutdown()
        self._server.server_close()
