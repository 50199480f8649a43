"""The control websocket server: protocol v1 over the `websockets` library, 127.0.0.1 by default.

Transport and limits only. Each connection is checked at the handshake (token, Origin, client
count); every text frame is parsed (messages.py), metered per connection and in all, and handed
to the command layer (commands.py), which alone touches the engine; subscribed engine events come
from events.py. Answers and events go out through a bounded per-connection queue: events are dropped for a slow reader, and a client
that stops reading its replies is disconnected, so one client can never hold up the frame loop or
the other clients. Trade-off: messages are parsed before they are metered (the meter depends on
the message type: motion frames have their own 60 Hz budget and are dropped quietly over it),
so a flood costs the server a parse per message; the meters and the late-frame yield bound that.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import logging
import threading
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from ...core.clock import Clock, MonotonicClock
from ...core.control.api import EngineControl
from ...core.errors import InputError
from . import messages as m
from .auth import OriginPolicy, offered_token, token_matches
from .commands import Commands, Session
from .events import EventFanout, event
from .ratelimit import TokenBucket

log = logging.getLogger(__name__)

TOO_MANY_REFUSALS = 2000  # rate-limited messages in a row before the connection is closed


@dataclass(frozen=True, kw_only=True)
class ServerConfig:
    """host/port: where to listen (port 0 picks a free one). rate/burst: messages per second per
    connection. motion_hz: streamed motion frames per second per connection (more are dropped
    quietly). audio_realtime: how many times faster than real time pushed audio may arrive, at any
    sample rate; audio_burst: seconds of audio one connection may push at once. allowed_origins:
    extra browser origins (our own http://127.0.0.1:port pages are always allowed)."""

    host: str = "127.0.0.1"
    port: int = 8768  # 8765 MJPEG, 8766 preview, 8767 control panel
    allowed_origins: tuple[str, ...] = ()
    page_ports: tuple[int, ...] = ()
    max_message_bytes: int = m.MAX_MESSAGE_BYTES
    rate: float = 100.0
    burst: float = 200.0
    motion_hz: float = 60.0
    audio_realtime: float = 4.0
    audio_burst: float = 12.0  # s: a whole push_audio message of 16 kHz audio (the largest that fits)
    max_clients: int = 64
    outbox: int = 512
    # All connections together: what the server thread may spend on messages without starving the
    # frame loop of the GIL (about 150 us each, so 3000/s is under half a core).
    total_rate: float = 3000.0
    # Frames first: while the next frame is this overdue (s), the server pauses between messages so the
    # loop gets the CPU and the GIL; clients see slower replies (TCP backpressure), never frame drops.
    yield_when_late: float | None = 0.05


@dataclass(eq=False)  # identity-hashed: connections live in a set
class _Conn:
    ws: Any
    bucket: TokenBucket
    motion_bucket: TokenBucket
    audio_bucket: TokenBucket
    outbox: asyncio.Queue
    session: Session = field(default_factory=Session)
    subs: set[str] = field(default_factory=set)
    motion_rate: float = 15.0
    stats_rate: float = 1.0
    last_motion: float = -1e9
    last_stats: float = -1e9
    refused_in_row: int = 0
    dropped_events: int = 0
    messages: int = 0
    closing: bool = False
    close_reason: str = ""


class ControlServer:
    """Serves EngineControl over websockets. Use ``async with ControlServer(...)`` or start()/close()."""

    def __init__(self, engine: EngineControl, *, token: str, clock: Clock | None = None,
                 config: ServerConfig = ServerConfig()) -> None:
        if not token or len(token) < 16:
            raise InputError("the control server needs a token of at least 16 characters (auth.load_or_create_token)")
        self.engine, self.config = engine, config
        self.clock = clock or MonotonicClock()
        self.commands = Commands(engine, self.clock)
        self._token = token
        self._conns: set[_Conn] = set()
        self._conn_ids = itertools.count(1)  # names a connection's queued speech (engine limits per owner)
        self._server: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task] = set()
        self.events = EventFanout(engine, self.clock, lambda: tuple(self._conns), self._send,
                                  lambda: {"clients": len(self._conns), **self.counters})
        self.port = config.port
        self._total = TokenBucket(config.total_rate, config.total_rate, self.clock)
        self.counters = {"connections": 0, "refused_handshakes": 0, "messages": 0, "errors": 0,
                         "rate_limited": 0, "motion_dropped": 0, "events_dropped": 0, "dropped_clients": 0,
                         "yields": 0}

    # --- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        from websockets.asyncio.server import serve

        self._loop = asyncio.get_running_loop()
        self._server = await serve(
            self._handle, self.config.host, self.config.port,
            process_request=self._check_handshake,
            max_size=self.config.max_message_bytes,
            max_queue=16,
            compression=None,  # deflate costs CPU we need for frames, and invites decompression bombs
            ping_interval=20, ping_timeout=20, close_timeout=2, open_timeout=10,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._origins = OriginPolicy.for_server(self.config.host, [self.port, *self.config.page_ports],
                                                self.config.allowed_origins)
        self.commands.start()
        self.events.start(self._loop)
        self._spawn(self.events.stats_ticker())

    async def close(self) -> None:
        self.commands.close()
        self.events.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> "ControlServer":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def url(self) -> str:
        return f"ws://{self.config.host}:{self.port}/"

    async def _yield_to_frames(self) -> None:
        """Pause (up to 25 ms per message) until the frame loop has caught up."""
        self.counters["yields"] += 1
        for _ in range(10):
            await asyncio.sleep(0.0025)
            if not self._loop_is_late():
                return

    def _loop_is_late(self) -> bool:
        late = self.config.yield_when_late
        mixer = self.engine.mixer
        last = mixer.last_frame_t
        if late is None or last is None:
            return False
        # late = the next frame is overdue by more than `late` (at any frame rate)
        return self.clock.now() - last > mixer.frame_interval + late

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("control server task failed", exc_info=task.exception())

    # --- handshake -------------------------------------------------------------------------------
    def _check_handshake(self, connection, request):
        refuse = self._refusal(request)
        if refuse is None:
            return None
        self.counters["refused_handshakes"] += 1
        return connection.respond(*refuse)

    def _refusal(self, request) -> tuple[HTTPStatus, str] | None:
        headers = request.headers
        for name in ("Origin", "Authorization", "Host"):
            if len(headers.get_all(name)) > 1:  # which one would count? neither: say so
                return HTTPStatus.BAD_REQUEST, f"the handshake carries {name} more than once; send it once\n"
        origin = headers.get("Origin")
        if not self._origins.allows(origin):
            return HTTPStatus.FORBIDDEN, (f"Origin {origin} is not allowed to drive this avatar; "
                                          "add it to [control] allow_origins if it is yours\n")
        if not token_matches(self._token, offered_token(request.path, headers)):
            return HTTPStatus.UNAUTHORIZED, ("missing or wrong token: send 'Authorization: Bearer <token>' or "
                                             "?token=<token> (the token is in the Marionette config directory)\n")
        if len(self._conns) >= self.config.max_clients:
            return HTTPStatus.SERVICE_UNAVAILABLE, f"too many clients ({self.config.max_clients})\n"
        return None

    # --- one connection ----------------------------------------------------------------------------
    def _new_conn(self, ws) -> _Conn:
        cfg, clock = self.config, self.clock
        audio = TokenBucket(cfg.audio_realtime, max(cfg.audio_burst, cfg.audio_realtime), clock)
        return _Conn(ws, TokenBucket(cfg.rate, cfg.burst, clock), TokenBucket(cfg.motion_hz, cfg.motion_hz / 4, clock),
                     audio, asyncio.Queue(cfg.outbox),
                     session=Session(admit_audio=audio.take, owner=f"ws-{next(self._conn_ids)}"))

    async def _handle(self, ws) -> None:
        cfg = self.config
        conn = self._new_conn(ws)
        self._conns.add(conn)
        self.counters["connections"] += 1
        writer = self._spawn(self._writer(conn))
        self._send(conn, event("welcome", {
            "protocol": m.PROTOCOL_VERSION, "server": _server_version(), "messages": list(m.MESSAGES),
            "events": list(m.SUBSCRIBABLE), "limits": {"max_message_bytes": cfg.max_message_bytes, "rate": cfg.rate,
                                                       "burst": cfg.burst, "motion_hz": cfg.motion_hz,
                                                       "audio_realtime": cfg.audio_realtime}}))
        try:
            async for raw in ws:
                if isinstance(raw, bytes):
                    self._binary_audio(conn, raw)
                else:
                    self._text(conn, raw)
                if conn.closing:
                    break
                if self._loop_is_late():
                    await self._yield_to_frames()
        except Exception as e:  # noqa: BLE001 - a broken connection ends only itself
            log.debug("control connection ended: %s", e)
        finally:
            self._conns.discard(conn)
            writer.cancel()
            with contextlib.suppress(Exception):
                await (ws.close(1008, conn.close_reason) if conn.closing else ws.close())

    async def _writer(self, conn: _Conn) -> None:
        from websockets.exceptions import ConnectionClosed

        with contextlib.suppress(ConnectionClosed):  # the reader side notices and cleans up
            while True:
                text = await conn.outbox.get()
                await conn.ws.send(text)

    def _send(self, conn: _Conn, obj: dict, droppable: bool = False) -> None:
        try:
            conn.outbox.put_nowait(json.dumps(obj, separators=(",", ":")))
        except asyncio.QueueFull:
            if droppable:
                conn.dropped_events += 1
                self.counters["events_dropped"] += 1
            else:
                # It does not read its replies: disconnect it rather than buffer without bound.
                self._drop(conn, "client is not reading its replies")

    def _drop(self, conn: _Conn, reason: str) -> None:
        """Close a misbehaving connection with 1008 (policy violation) once its handler unwinds."""
        if not conn.closing:
            conn.closing, conn.close_reason = True, reason
            self.counters["dropped_clients"] += 1
            self._spawn(conn.ws.close(1008, reason))

    def _error(self, conn: _Conn, err: m.ProtocolError) -> None:
        self.counters["errors"] += 1
        self._send(conn, err.to_json())

    def _text(self, conn: _Conn, raw: str) -> None:
        self.counters["messages"] += 1
        conn.messages += 1
        try:
            parsed = m.parse_message(raw)
        except m.ProtocolError as e:
            if self._admit(conn):
                self._error(conn, e)
            return
        msg = parsed.message
        if isinstance(msg, m.Motion):
            # A tracker's stream has its own budget; frames over it are dropped quietly (docs/protocol.md).
            if not (conn.motion_bucket.take() and self._total.take()):
                self.counters["motion_dropped"] += 1
                if parsed.id is not None:
                    self._send(conn, {"type": "reply", "id": parsed.id, "ok": True, "result": {"dropped": True}})
                return
        elif not self._admit(conn):
            return
        try:
            result, clamps = self._run(conn, msg)
        except m.ProtocolError as e:
            e.id = parsed.id
            if e.code == "rate_limited":
                self.counters["rate_limited"] += 1
            self._error(conn, e)
            return
        except InputError as e:
            self._error(conn, m.ProtocolError("bad_value", str(e), id=parsed.id))
            return
        except Exception as e:  # noqa: BLE001 - the engine failed; the client gets a structured error
            log.exception("engine failed on %s", msg.TYPE)
            self._error(conn, m.ProtocolError("engine_error", f"{msg.TYPE} failed in the engine: {e}", id=parsed.id))
            return
        if result is None:  # streamed motion is answered only when it carries an id
            if parsed.id is None:
                return
            result = {}
        reply: dict[str, Any] = {"type": "reply", "id": parsed.id, "ok": True, "result": result}
        all_clamps = [*parsed.clamps, *clamps]
        if all_clamps:
            reply["clamped"] = [{"channel": c.channel, "requested": c.requested, "applied": c.applied} for c in all_clamps]
        self._send(conn, reply)

    def _admit(self, conn: _Conn) -> bool:
        """Meter one message; a refused one is answered with rate_limited (or, persisting, closes)."""
        if conn.bucket.take() and self._total.take():
            conn.refused_in_row = 0
            return True
        self.counters["rate_limited"] += 1
        conn.refused_in_row += 1
        if conn.refused_in_row > TOO_MANY_REFUSALS:
            self._drop(conn, "rate limit exceeded for too long")
            return False
        cfg = self.config
        self._error(conn, m.ProtocolError("rate_limited", f"more than {cfg.rate:g} messages/s on this connection "
                                          f"(burst {cfg.burst:g}) or {cfg.total_rate:g}/s in all; this message was "
                                          "dropped, slow down"))
        return False

    def _run(self, conn: _Conn, msg: m.Message) -> tuple[dict | None, tuple]:
        """What belongs to the connection (subscriptions, its view of the state) is answered here;
        everything else is the command layer's."""
        if isinstance(msg, m.Subscribe):
            conn.subs.update(msg.events)
            conn.motion_rate, conn.stats_rate = msg.motion_rate, msg.stats_rate
            return {"events": sorted(conn.subs), "motion_rate": conn.motion_rate, "stats_rate": conn.stats_rate}, ()
        if isinstance(msg, m.Unsubscribe):
            conn.subs.difference_update(msg.events if msg.events is not None else m.SUBSCRIBABLE)
            return {"events": sorted(conn.subs)}, ()
        if isinstance(msg, m.GetState):
            return self.state(conn), ()
        out = self.commands.execute(msg, conn.session)
        return out.result, out.clamps

    def _binary_audio(self, conn: _Conn, data: bytes) -> None:
        try:
            self.commands.push_pcm(data, conn.session)
        except m.ProtocolError as e:
            if e.code == "rate_limited":
                self.counters["rate_limited"] += 1
            self._error(conn, e)

    def state(self, conn: _Conn | None = None) -> dict:
        out = {**self.commands.state(), "server": {"clients": len(self._conns), **self.counters}}
        if conn is not None:
            out["connection"] = {"events": sorted(conn.subs), "messages": conn.messages,
                                 "dropped_events": conn.dropped_events}
        return out


@functools.cache
def _server_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"marionette {version('marionette')}"
    except PackageNotFoundError:
        return "marionette"


class ServerThread:
    """Runs a ControlServer on its own event loop in a daemon thread, so that protocol work never
    shares a loop with the frame loop's pacing. start() returns once it listens."""

    def __init__(self, server: ControlServer) -> None:
        self.server = server
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="marionette-control", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stop: asyncio.Event | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        finally:
            self._loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        try:
            await self.server.start()
        except BaseException as e:  # noqa: BLE001 - handed to the starting thread
            self._error = e
            self._ready.set()
            return
        self._ready.set()
        await self._stop.wait()
        await self.server.close()

    def start(self, timeout: float = 10.0) -> "ServerThread":
        self._thread.start()
        self._ready.wait(timeout)
        if self._error is not None:
            raise self._error
        return self

    def cpu_time(self) -> float:
        """CPU seconds the server's thread has used (its own clock: unaffected by a busy machine)."""
        import time

        async def read() -> float:
            return time.thread_time()

        return asyncio.run_coroutine_threadsafe(read(), self._loop).result(5)

    def stop(self) -> None:
        if self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
