"""A small HTTP/1.1 server on asyncio for the MJPEG stream and the control panel (GET and HEAD only).

Why asyncio and not a thread per client (http.server's ThreadingHTTPServer, which we used):
a client that opens a socket and sends nothing held a thread forever there (200 half-open
connections = 200 threads), and a cap checked in one thread and joined in another let 20 viewers
past a cap of 16. Here every connection is a coroutine on one event-loop thread, so an idle socket
costs a few kilobytes, the connection and viewer counts are changed only on that thread (no race),
and every read and write has a deadline. Requests are parsed by h11 (a strict, sans-IO HTTP/1.1
parser); each response closes its connection (no keep-alive), which keeps the states few.

Every request is checked before the handler sees it: a Host this server does not answer to is
refused (421; a DNS-rebinding page carries its own name), a header that must appear once but came
twice gets 400, and past ``max_connections`` the socket that has waited longest without sending
a request (for a second or more) is closed to make room; else the newcomer gets 503 at once.
Trade-off: one loop thread does all the I/O; heavy work (a JPEG encode for a snapshot) goes to a
small bounded thread pool.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ipaddress
import logging
import socket
import threading
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import h11

from ..core.errors import InputError

log = logging.getLogger(__name__)

SINGLE_HEADERS = ("host", "authorization", "origin", "cookie")  # which copy would count? refuse both
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


@dataclass(frozen=True, kw_only=True)
class HttpLimits:
    """max_connections: open sockets at once (more get 503 and are closed). header_timeout: seconds
    a client has to send its whole request head. write_timeout: seconds one write may wait for a
    client that does not read (then it is dropped). max_header_bytes: the request head's size.
    evict_idle_after: when full, a socket that has sent no whole request for this long is closed
    to make room for a new one."""

    max_connections: int = 32
    header_timeout: float = 5.0
    write_timeout: float = 10.0
    max_header_bytes: int = 8192
    pool_threads: int = 2
    # When full, a socket silent for this long gives way to a newcomer: a real client sends its
    # request within milliseconds, so half-open sockets cannot keep viewers out.
    evict_idle_after: float = 1.0


@dataclass(frozen=True)
class Request:
    """A checked request: method (GET/HEAD), path without the query, query parameters, headers
    (lower-case names, each present once)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class Response:
    """status, content type and body; or ``stream``: an async iterator of body pieces sent as they
    come (the connection closes when it ends). headers: extra (name, value) pairs."""

    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)
    stream: AsyncGenerator[bytes, None] | None = None
    on_close: Callable[[], None] | None = None  # called once the response is over, however it ended


Handler = Callable[[Request], Awaitable[Response]]


def text(status: int, message: str) -> Response:
    return Response(status, (message.rstrip("\n") + "\n").encode())


class HttpServer:
    """Serves ``handler`` on host:port from its own event-loop thread. The socket is bound in
    the constructor, so a taken port is an InputError at once (port 0 = any free port)."""

    def __init__(self, handler: Handler, *, host: str, port: int, name: str, limits: HttpLimits = HttpLimits(),
                 what: str = "HTTP", port_hint: str = "choose another port (0 for any free one)") -> None:
        self.handler, self.limits, self.name = handler, limits, name
        try:
            self._sock = socket.create_server((host, port), backlog=128)
        except OSError as e:
            raise InputError(f"cannot serve {what} on {host}:{port} ({e.strerror or e}); {port_hint}") from None
        self.host, self.port = host, self._sock.getsockname()[1]
        # Connections still sending their request head (oldest first), and those being answered.
        self._pending: dict[object, tuple[asyncio.StreamWriter, float]] = {}
        self._active: set[object] = set()
        self.counters = {"requests": 0, "refused_busy": 0, "evicted_idle": 0, "bad_requests": 0, "wrong_host": 0,
                         "timeouts": 0, "dropped_clients": 0}
        self.loop = asyncio.new_event_loop()
        self.pool = concurrent.futures.ThreadPoolExecutor(limits.pool_threads, thread_name_prefix=f"{name}-work")
        self._server: asyncio.Server | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        self._ready.wait(10)

    # ------------------------------------------------------------------ lifecycle
    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.set_exception_handler(_quiet_exceptions)
        self._server = self.loop.run_until_complete(asyncio.start_server(self._connection, sock=self._sock))
        self._ready.set()
        try:
            self.loop.run_forever()
        finally:
            self.loop.close()

    def close(self) -> None:
        if self.loop.is_closed():
            return

        async def stop() -> None:
            if self._server is not None:
                self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks, timeout=2) if tasks else None

        with contextlib.suppress(RuntimeError, concurrent.futures.TimeoutError):
            asyncio.run_coroutine_threadsafe(stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.pool.shutdown(wait=False, cancel_futures=True)

    @property
    def open_connections(self) -> int:
        return len(self._pending) + len(self._active)

    def call_soon(self, fn: Callable[[], None]) -> None:
        """Run fn on the server's loop (from any thread); a closed server ignores it."""
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(fn)

    def host_ok(self, host: str | None) -> bool:
        """Our own names (loopback, the bound host) or any IP address, on our port. DNS rebinding
        needs a domain name, so an address typed as an IP (a LAN viewer of a 0.0.0.0 server) is
        safe; any other name is refused."""
        if not host:
            return False
        name, port = _split_host(host.lower())
        if port is not None and port != self.port:
            return False
        if name in {self.host.lower(), *LOOPBACK_NAMES}:
            return True
        try:
            ipaddress.ip_address(name.strip("[]"))
        except ValueError:
            return False
        return True

    # ------------------------------------------------------------------ one connection
    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # The counts change only on this thread and before any await: no two connections can both
        # see room for one. When full, the connection that has waited longest without sending its
        # request gives way (a real client sends it at once, so half-open sockets cannot starve
        # viewers); only when every connection is busy being answered is the newcomer refused.
        key, now = object(), self.loop.time()
        if self.open_connections >= self.limits.max_connections:
            oldest = next(iter(self._pending), None)
            if oldest is None or now - self._pending[oldest][1] < self.limits.evict_idle_after:
                self.counters["refused_busy"] += 1
                await self._send_text(writer, 503, f"busy: {self.limits.max_connections} connections are open; "
                                      "try again shortly", [("Retry-After", "2")])
                return
            self._pending.pop(oldest)[0].transport.abort()
            self.counters["evicted_idle"] += 1
        self._pending[key] = (writer, now)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):  # frames go out as they are written, not batched
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            request = await self._read_request(reader, writer)
            if request is not None and self._pending.pop(key, None) is not None:
                self._active.add(key)
                await self._respond(request, writer)
        except TimeoutError:  # before OSError, of which it is a subclass
            self.counters["timeouts"] += 1
            log.debug("%s: client too slow, dropped", self.name)
        except (ConnectionError, OSError, asyncio.IncompleteReadError) as e:
            self.counters["dropped_clients"] += 1
            log.debug("%s: client went away (%s)", self.name, e)
        except Exception:  # noqa: BLE001 - one bad request must not end the server
            log.exception("%s: request failed", self.name)
        finally:
            self._pending.pop(key, None)
            self._active.discard(key)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def _read_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Request | None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=self.limits.max_header_bytes)
        try:
            event = await asyncio.wait_for(self._next_request(conn, reader), self.limits.header_timeout)
        except h11.RemoteProtocolError as e:
            self.counters["bad_requests"] += 1
            await self._send_text(writer, e.error_status_hint or 400, f"bad request: {e}")
            return None
        if event is None:  # closed before a whole request
            return None
        names = [n.decode("latin-1").lower() for n, _ in event.headers]
        for single in SINGLE_HEADERS:
            if names.count(single) > 1:
                self.counters["bad_requests"] += 1
                await self._send_text(writer, 400, f"the request carries {single.title()} more than once; send it once")
                return None
        headers = {n.decode("latin-1").lower(): v.decode("latin-1") for n, v in event.headers}
        method = event.method.decode("ascii", "replace")
        if method not in ("GET", "HEAD"):
            await self._send_text(writer, 405, f"{method} is not served here; use GET", [("Allow", "GET, HEAD")])
            return None
        if not self.host_ok(headers.get("host")):
            # DNS rebinding: a foreign name resolved to 127.0.0.1 arrives with its own Host.
            self.counters["wrong_host"] += 1
            await self._send_text(writer, 421, f"wrong Host {headers.get('host')!r} for this server; "
                                  f"use http://127.0.0.1:{self.port}/")
            return None
        target = urlsplit(event.target.decode("latin-1"))
        return Request(method, target.path or "/", parse_qs(target.query), headers)

    @staticmethod
    async def _next_request(conn: h11.Connection, reader: asyncio.StreamReader) -> h11.Request | None:
        while True:
            event = conn.next_event()
            if isinstance(event, h11.Request):
                return event
            if event is h11.NEED_DATA:
                data = await reader.read(4096)
                conn.receive_data(data)  # b"" = end of stream; h11 then raises or reports the close
                if not data and conn.their_state is not h11.SEND_BODY:
                    return None
                continue
            return None  # ConnectionClosed or anything else: no request

    async def _respond(self, request: Request, writer: asyncio.StreamWriter) -> None:
        self.counters["requests"] += 1
        response = await self.handler(request)
        try:
            head = _head(response.status, response.content_type,
                         None if response.stream is not None else len(response.body), response.headers)
            if response.stream is None:
                await self._send_and_close(writer, head, body=b"" if request.method == "HEAD" else response.body)
                return
            writer.write(head)
            await self._drain(writer)
            if request.method == "HEAD":
                return
            async for piece in response.stream:
                writer.write(piece)
                await self._drain(writer)
        finally:
            if response.stream is not None:
                await response.stream.aclose()
            if response.on_close is not None:
                response.on_close()

    async def _drain(self, writer: asyncio.StreamWriter) -> None:
        await asyncio.wait_for(writer.drain(), self.limits.write_timeout)

    async def _send_text(self, writer: asyncio.StreamWriter, status: int, message: str,
                         headers: list[tuple[str, str]] | None = None) -> None:
        body = (message.rstrip("\n") + "\n").encode()
        await self._send_and_close(writer, _head(status, "text/plain; charset=utf-8", len(body), headers or []), body)

    async def _send_and_close(self, writer: asyncio.StreamWriter, head: bytes, body: bytes | str = b"") -> None:
        writer.write(head + (body.encode() if isinstance(body, str) else body))
        with contextlib.suppress(ConnectionError, OSError, TimeoutError):
            await self._drain(writer)
        writer.close()


def _split_host(host: str) -> tuple[str, int | None]:
    """'127.0.0.1:8765' -> ('127.0.0.1', 8765); '[::1]' -> ('[::1]', None); a malformed port -> -1."""
    if host.startswith("["):
        end = host.find("]")
        name, rest = (host, "") if end < 0 else (host[:end + 1], host[end + 1:])
        if end < 0 or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return name, -1
        return name, int(rest[1:]) if rest else None
    name, sep, port = host.partition(":")
    if not sep:
        return host, None
    return name, int(port) if port.isdigit() else -1


SECURITY_HEADERS = [("Cache-Control", "no-store"), ("Referrer-Policy", "no-referrer"),
                    ("X-Content-Type-Options", "nosniff")]


def _head(status: int, content_type: str, length: int | None, headers: list[tuple[str, str]]) -> bytes:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Status"
    lines = [f"HTTP/1.1 {status} {reason}", f"Content-Type: {content_type}", "Connection: close"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    names = {n.lower() for n, _ in headers}
    lines += [f"{n}: {v}" for n, v in headers]
    lines += [f"{n}: {v}" for n, v in SECURITY_HEADERS if n.lower() not in names]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _quiet_exceptions(loop: asyncio.AbstractEventLoop, context: dict) -> None:
    """A client that vanished mid-write is not an error worth a traceback."""
    exc = context.get("exception")
    if isinstance(exc, (ConnectionError, TimeoutError)):
        log.debug("http: %s", exc)
        return
    loop.default_exception_handler(context)
