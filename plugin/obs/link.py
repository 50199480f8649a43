"""Keeps Marionette connected to OBS for a whole run, on one background thread.

OBS may start after us, be restarted, or crash; none of that may touch the avatar. The link
reconnects with exponential backoff, reports every change as an ObsStatus (which the engine
turns into a status event for the control panel), and runs OBS work as queued jobs so the
frame loop only ever enqueues. Trade-off: jobs queued while OBS is away are kept latest-wins
per key (a caption from a minute ago is not worth replaying), so only the newest of each survives.
"""

from __future__ import annotations

import logging
import random
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Iterator

from .client import ObsClient, ObsConfig, ObsConnectionError, ObsError

log = logging.getLogger(__name__)

Job = Callable[[ObsClient], None]


@dataclass(frozen=True, kw_only=True)
class Backoff:
    """Reconnect delays: initial, then times factor, capped; +-jitter (fraction) so many
    clients restarting with OBS do not knock in lockstep."""

    initial: float = 0.5
    factor: float = 2.0
    maximum: float = 10.0
    jitter: float = 0.1

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        rng = rng or random.Random()
        d = self.initial
        while True:
            yield d * (1.0 + self.jitter * (2.0 * rng.random() - 1.0))
            d = min(d * self.factor, self.maximum)


@dataclass(frozen=True)
class ObsStatus:
    """One change in the OBS connection, for logs and the control panel.

    state: "connecting", "connected", "lost", "unreachable" or "stopped".
    retrying: whether the link will try again by itself; retry_in: seconds until it does.
    """

    state: str
    message: str
    retrying: bool = False
    retry_in: float | None = None
    component: str = "obs"


class ObsLink:
    """A self-healing OBS connection. start() returns at once; OBS may come and go.

    on_connect(client) runs on the link thread after every (re)connect: scene lookups, the
    current caption. on_event(type, data) runs on the library's receive thread. on_status gets
    every ObsStatus. Exceptions from callbacks are logged, never raised into the link.
    """

    def __init__(
        self,
        config: ObsConfig,
        *,
        on_status: Callable[[ObsStatus], None] | None = None,
        on_connect: Job | None = None,
        on_event: Callable[[str, dict], None] | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.config = config
        self._on_status = on_status
        self._on_connect = on_connect
        self._on_event = on_event
        self._backoff = backoff or Backoff()
        self._client: ObsClient | None = None
        self._jobs: OrderedDict[object, Job] = OrderedDict()
        self._cond = threading.Condition()
        self._stop = False
        self._stop_event = threading.Event()  # backoff sleeps wait on this, not on new jobs
        self._thread: threading.Thread | None = None
        self._connected = threading.Event()
        self.status = ObsStatus("stopped", "not started")
        self.connects = 0  # how many times a connection was made (tests watch reconnects with it)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "ObsLink":
        if self._thread is not None:
            return self
        self._stop = False
        self._stop_event.clear()
        self._thread = threading.Thread(target=self._run, name="obs-link", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 3.0) -> None:
        with self._cond:
            self._stop = True
            self._stop_event.set()
            self._cond.notify_all()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
        client, self._client = self._client, None
        if client is not None:
            client.close()
        self._connected.clear()
        self._set_status(ObsStatus("stopped", "OBS link stopped"))

    def __enter__(self) -> "ObsLink":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    # ------------------------------------------------------------------ work
    def submit(self, job: Job, key: object | None = None) -> None:
        """Queue job(client) to run on the link thread once connected. Never blocks.

        Jobs with the same key replace each other (latest wins) and keep their queue place;
        key None means the job is unique.
        """
        with self._cond:
            k = key if key is not None else object()
            self._jobs[k] = job
            self._cond.notify_all()

    def call(self, request_type: str, timeout: float | None = None, **data: object) -> dict:
        """Run one request on the link thread and wait for its answer (for CLI and tests;
        never from the frame loop). Raises ObsConnectionError if OBS is away past timeout."""
        timeout = self.config.request_timeout if timeout is None else timeout
        done = threading.Event()
        box: dict[str, object] = {}

        def job(client: ObsClient) -> None:
            try:
                box["ok"] = client.request(request_type, **data)
            except ObsError as e:
                box["err"] = e
                if isinstance(e, ObsConnectionError):
                    raise
            finally:
                done.set()

        self.submit(job)
        if not done.wait(timeout):
            raise ObsConnectionError(f"OBS not available for {request_type} within {timeout:g} s ({self.status.message})")
        if "err" in box:
            raise box["err"]  # type: ignore[misc]
        return box["ok"]  # type: ignore[return-value]

    # ------------------------------------------------------------------ the thread
    def _run(self) -> None:
        delays = self._backoff.delays()
        while not self._stopping():
            client = self._client
            if client is None or not client.connected:
                if client is not None:
                    client.close()
                    self._client = None
                    self._connected.clear()
                    delay = next(delays)
                    self._set_status(ObsStatus("lost", "lost the connection to OBS; reconnecting", True, delay))
                    if self._wait(delay):
                        break
                failure = self._try_connect()
                if failure is None:
                    delays = self._backoff.delays()
                    continue
                delay = next(delays)
                self._set_status(ObsStatus("unreachable", failure, True, round(delay, 3)))
                if self._wait(delay):
                    break
                continue
            job = self._next_job(timeout=0.5)
            if job is None:
                continue
            try:
                job(client)
            except ObsConnectionError as e:
                log.info("OBS job interrupted by connection loss: %s", e)
                client.close()  # the loop above notices and reconnects
            except Exception:
                log.exception("OBS job failed")

    def _try_connect(self) -> str | None:
        """Connect and run on_connect; None on success, else why not."""
        if self.status.state not in ("unreachable", "lost"):  # one "connecting", not one per retry
            self._set_status(ObsStatus("connecting", f"connecting to OBS at {self.config.host}:{self.config.port}", True))
        client = ObsClient(self.config, on_event=self._on_event, on_lost=self._wake)
        try:
            client.connect()
        except ObsError as e:
            return str(e)
        self._client = client
        self.connects += 1
        if self._on_connect is not None:
            try:
                self._on_connect(client)
            except ObsConnectionError as e:
                log.info("OBS went away during on_connect: %s", e)
                client.close()
                return f"OBS went away while setting up: {e}"
            except Exception:
                log.exception("OBS on_connect hook failed")
        self._connected.set()
        self._set_status(ObsStatus("connected", f"connected to OBS at {self.config.host}:{self.config.port} "
                                                f"(obs-websocket {client.server_version})"))
        return None

    def _next_job(self, timeout: float) -> Job | None:
        with self._cond:
            if not self._jobs and not self._stop:
                self._cond.wait(timeout)
            if self._stop or not self._jobs:
                return None
            _, job = self._jobs.popitem(last=False)
            return job

    def _wake(self, why: str) -> None:
        with self._cond:
            self._cond.notify_all()

    def _wait(self, seconds: float) -> bool:
        """Sleep up to seconds, waking early on stop(); True if stopping."""
        return self._stop_event.wait(seconds)

    def _stopping(self) -> bool:
        with self._cond:
            return self._stop

    def _set_status(self, status: ObsStatus) -> None:
        changed = (status.state, status.message) != (self.status.state, self.status.message)
        self.status = status
        if not changed:
            return
        log.info("OBS status: %s: %s", status.state, status.message)
        if self._on_status is not None:
            try:
                self._on_status(status)
            except Exception:
                log.exception("OBS status handler failed")
