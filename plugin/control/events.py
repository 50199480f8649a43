"""Engine events to the websocket connections that subscribed to them (speech, motion, status,
errors, stats), each at the rate the connection asked for.

Engine events arrive on the engine's threads and are handed to the server's event loop; from
there each goes into the bounded outbox of every subscriber (server.py). Motion, status and stats
are droppable for a slow reader; speech events and errors are not. Trade-off: one JSON encoding
per event per connection, which is small next to a frame.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import asdict, is_dataclass
from typing import Any, Protocol

import numpy as np

from ...core.clock import Clock
from ...core.control.api import EngineControl, MotionEvent, SpeechEvent
from ...core.engine.stats import StatusEvent
from ...core.types import MotionFrame


class Subscriber(Protocol):
    """What the fan-out reads and writes on a connection."""

    subs: set[str]
    motion_rate: float
    stats_rate: float
    last_motion: float
    last_stats: float


Send = Callable[[Any, dict, bool], None]  # (connection, message, droppable)


def event(name: str, data: dict) -> dict:
    return {"type": "event", "event": name, "data": data}


class EventFanout:
    """start(loop) subscribes to the engine; close() unsubscribes. stats() gives the server part
    of a stats event."""

    def __init__(self, engine: EngineControl, clock: Clock, subscribers: Callable[[], Iterable[Subscriber]],
                 send: Send, stats: Callable[[], dict]) -> None:
        self.engine, self.clock = engine, clock
        self._subscribers, self._send, self._stats = subscribers, send, stats
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unsubscribe: Callable[[], None] | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._unsubscribe = self.engine.subscribe(self._from_engine_thread)

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _from_engine_thread(self, ev: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self.on_event, ev)
        except RuntimeError:  # loop shutting down
            pass

    def on_event(self, ev: Any) -> None:
        """On the server's loop: deliver one engine event."""
        if isinstance(ev, SpeechEvent):
            data = event(f"speech_{ev.kind}", {"speech_id": ev.speech_id, "text": ev.text, "t": round(ev.t, 6),
                                               "interrupted": ev.interrupted})
            for conn in self._subscribers():
                if "speech" in conn.subs:
                    self._send(conn, data, False)
        elif isinstance(ev, (MotionEvent, MotionFrame)):
            frame = ev.frame if isinstance(ev, MotionEvent) else ev
            now = self.clock.now()
            data = None
            for conn in self._subscribers():
                if "motion" in conn.subs and now - conn.last_motion >= 0.95 / conn.motion_rate:
                    conn.last_motion = now
                    data = data or event("motion", {"t": round(frame.t, 6), "values": frame.to_dict(nonzero_only=True)})
                    self._send(conn, data, True)
        elif isinstance(ev, StatusEvent):
            data = jsonable(ev)
            for conn in self._subscribers():
                if "status" in conn.subs:
                    self._send(conn, event("status", data), True)
                if ev.level == "error" and "errors" in conn.subs:
                    self._send(conn, event("error", data), False)

    async def stats_ticker(self) -> None:
        while True:
            await asyncio.sleep(0.1)
            now = self.clock.now()
            due = [c for c in self._subscribers() if "stats" in c.subs and now - c.last_stats >= 0.95 / c.stats_rate]
            if not due:
                continue
            data = event("stats", {"t": now, "engine": self.engine.status(), "server": self._stats()})
            for conn in due:
                conn.last_stats = now
                self._send(conn, data, True)


def jsonable(obj: Any) -> Any:
    if is_dataclass(obj) and not isinstance(obj, type):
        obj = asdict(obj)
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)
