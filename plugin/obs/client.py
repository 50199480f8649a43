"""A safe synchronous client for OBS's websocket (protocol 5), built on obs-websocket-py 1.0.

The library does the handshake, auth and event decoding; this wrapper adds what it lacks
(measured with obs-websocket-py 1.0): a connect timeout (a silent port otherwise hangs forever), request errors that keep
OBS's status code and comment, and a connection that knows when it is dead (the library leaves
``ws.connected`` True after a loss and its receive thread dies on a reset). It does not reconnect:
ObsLink (link.py) owns that policy. Calls block the calling thread, never an event loop.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from dataclasses import dataclass
from typing import Any, Callable

from ...core.errors import MarionetteError

log = logging.getLogger(__name__)

DEFAULT_PORT = 4455  # obs-websocket 5's default


@dataclass(frozen=True, kw_only=True)
class ObsConfig:
    """Where OBS listens and how long to wait for it. Defaults do no I/O."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    password: str = ""
    connect_timeout: float = 3.0  # seconds for TCP connect + Hello + Identify together
    request_timeout: float = 5.0  # seconds to wait for one request's answer


class ObsError(MarionetteError):
    """Something went wrong talking to OBS."""


class ObsConnectionError(ObsError):
    """OBS cannot be reached, refused us, or the connection dropped. Retrying may help."""


class ObsRequestError(ObsError):
    """OBS answered a request with a failure. ``code`` is obs-websocket's RequestStatus
    (e.g. 600 ResourceNotFound, 601 ResourceAlreadyExists, 702 RequestProcessingFailed)."""

    def __init__(self, request_type: str, code: int, comment: str) -> None:
        self.request_type = request_type
        self.code = int(code)
        self.comment = comment
        super().__init__(f"OBS refused {request_type}: code {code} ({comment or 'no comment'})")


# RequestStatus codes we act on (obs-websocket 5 protocol.md).
RESOURCE_NOT_FOUND = 600
RESOURCE_ALREADY_EXISTS = 601
REQUEST_PROCESSING_FAILED = 702


def _import_obsws():
    try:
        import websocket  # websocket-client, a dependency of obs-websocket-py
        from obswebsocket import core as obs_core
    except ImportError as e:
        raise ObsError(
            f"OBS support needs obs-websocket-py ({e}); install it with: pip install 'marionette[obs]'"
        ) from None
    return websocket, obs_core


class ObsClient:
    """One connection to OBS. connect() then request(); close() when done.

    on_event(event_type, event_data) is called on the library's receive thread for every OBS
    event; keep it short (hand work to a queue). on_lost() is called once when the connection
    dies, from whichever thread notices first.
    """

    def __init__(
        self,
        config: ObsConfig,
        *,
        on_event: Callable[[str, dict], None] | None = None,
        on_lost: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self._on_event = on_event
        self._on_lost = on_lost
        self._core: Any = None
        self._lock = threading.Lock()  # one request in flight per client keeps ids and answers simple
        self._alive = False
        self._lost_reported = False
        self.server_version: str | None = None

    # ------------------------------------------------------------------ connection
    def connect(self) -> "ObsClient":
        websocket, obs_core = _import_obsws()
        cfg = self.config
        core = obs_core.obsws(cfg.host, cfg.port, cfg.password, legacy=False, timeout=cfg.request_timeout)
        url = f"ws://{cfg.host}:{cfg.port}"
        ws = websocket.WebSocket()
        try:
            # The timeout covers TCP connect, the HTTP upgrade and (still set) Hello/Identify:
            # a port that accepts and then says nothing fails here instead of hanging.
            ws.connect(url, timeout=cfg.connect_timeout)
            core.ws = ws
            core._auth()
        except obs_core.exceptions.ConnectionFailure as e:
            _close_quietly(ws)
            raise ObsConnectionError(
                f"OBS at {url} refused the handshake ({e}); check --password matches "
                "OBS > Tools > WebSocket Server Settings"
            ) from None
        except (OSError, websocket.WebSocketException, ValueError) as e:
            _close_quietly(ws)
            what = "timed out" if isinstance(e, (socket.timeout, websocket.WebSocketTimeoutException)) else str(e) or type(e).__name__
            raise ObsConnectionError(
                f"cannot reach OBS at {url}: {what}; start OBS and enable Tools > WebSocket Server "
                "Settings > Enable WebSocket server (and check host/port)"
            ) from None
        ws.settimeout(None)  # the receive thread blocks on recv; requests have their own timeout
        self.server_version = core.server_version
        core.eventmanager.register(self._dispatch_event, None)
        core.thread_recv = _make_recv_thread(core, self._mark_lost)
        core.thread_recv.daemon = True
        self._core = core
        self._alive = True
        core.thread_recv.start()
        log.info("connected to OBS at %s (obs-websocket %s)", url, self.server_version)
        return self

    @property
    def connected(self) -> bool:
        core = self._core
        return bool(self._alive and core is not None and core.thread_recv is not None and core.thread_recv.is_alive())

    def close(self) -> None:
        core, self._core = self._core, None
        self._alive = False
        self._lost_reported = True  # a close we asked for is not a loss
        if core is None:
            return
        if core.thread_recv is not None:
            core.thread_recv.running = False
        _close_quietly(core.ws)

    def __enter__(self) -> "ObsClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ requests
    def request(self, request_type: str, **data: Any) -> dict:
        """Send one request; return its responseData (a dict, maybe empty).

        Raises ObsRequestError (with OBS's code) when OBS says no, ObsConnectionError when the
        connection is gone or OBS does not answer within request_timeout.
        """
        core = self._core
        if core is None or not self.connected:
            raise ObsConnectionError("not connected to OBS")
        with self._lock:
            message_id = str(core.id)
            core.id += 1
            event = threading.Event()
            core.events[message_id] = event
            payload = {"op": 6, "d": {"requestType": request_type, "requestId": message_id, "requestData": data}}
            try:
                core.ws.send(json.dumps(payload))
            except Exception as e:  # noqa: BLE001 - websocket-client raises OSError or its own errors here
                core.events.pop(message_id, None)
                self._mark_lost(f"send failed: {e or type(e).__name__}")
                raise ObsConnectionError(f"lost the connection to OBS while sending {request_type} ({e})") from None
            got = event.wait(self.config.request_timeout)
            core.events.pop(message_id, None)
            answer = core.answers.pop(message_id, None)
        if not got or answer is None:
            if not self.connected:
                raise ObsConnectionError(f"lost the connection to OBS during {request_type}")
            raise ObsConnectionError(f"OBS did not answer {request_type} within {self.config.request_timeout:g} s")
        status = answer.get("requestStatus", {})
        if not status.get("result"):
            raise ObsRequestError(request_type, status.get("code", 0), status.get("comment", ""))
        return answer.get("responseData") or {}

    # ------------------------------------------------------------------ internals
    def _dispatch_event(self, event: Any) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(event.name, dict(event.datain))
        except Exception:
            log.exception("OBS event handler failed on %s", event.name)

    def _mark_lost(self, why: str) -> None:
        self._alive = False
        if self._lost_reported:
            return
        self._lost_reported = True
        log.warning("OBS connection lost: %s", why)
        if self._on_lost is not None:
            try:
                self._on_lost(why)
            except Exception:
                log.exception("OBS on_lost handler failed")


def _close_quietly(ws: Any) -> None:
    try:
        ws.close(timeout=0.5)
    except Exception:  # noqa: BLE001 - closing a dead socket may raise anything; nothing to do about it
        pass


def _make_recv_thread(core: Any, on_lost: Callable[[str], None]) -> threading.Thread:
    """The library's receive thread with its loss handling fixed.

    The library re-raises OSError (e.g. a reset when OBS is killed) inside its thread, where the
    caller never hears of it, and on a clean close calls core.disconnect()/reconnect(). Here
    every way out of the loop that we did not ask for is reported through on_lost, and the
    reconnect policy is left to ObsLink.
    """
    _, obs_core = _import_obsws()

    class Thread(obs_core.RecvThread):  # type: ignore[misc, name-defined]
        def run(self) -> None:
            why = "OBS closed the connection"
            try:
                super().run()
            except OSError as e:
                why = f"socket error: {e or type(e).__name__}"
            except Exception as e:  # noqa: BLE001 - anything that kills the loop is a loss
                why = f"receive loop failed: {e!r}"
            if self.running:  # still True: nobody called close()
                on_lost(why)

    core.authreconnect = 0
    core.disconnect = lambda: None  # the library calls this on a clean close; the loop then breaks
    return Thread(core)
