"""A small async client for the control protocol (used by the MCP server, examples and benchmarks).

request() sends one message and waits for its reply; events arrive on ``events`` (an asyncio.Queue,
bounded: oldest dropped). Trade-off: one reader task per connection demultiplexes replies by id.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from typing import Any

from ...core.errors import MarionetteError


class RemoteError(MarionetteError):
    """The server refused a message; code and field as in docs/protocol.md."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.field = code, field


class ControlClient:
    def __init__(self, url: str, token: str, *, origin: str | None = None, max_events: int = 1000) -> None:
        self.url, self._token, self._origin = url, token, origin
        self._ids = itertools.count(1)
        self._pending: dict[Any, asyncio.Future] = {}
        self.events: asyncio.Queue = asyncio.Queue(max_events)
        self.welcome: dict | None = None
        self._ws: Any = None
        self._reader: asyncio.Task | None = None

    async def connect(self, timeout: float = 5.0) -> "ControlClient":
        from websockets.asyncio.client import connect

        headers = {"Authorization": f"Bearer {self._token}"}
        self._ws = await connect(self.url, additional_headers=headers, origin=self._origin, open_timeout=timeout,
                                 compression=None, max_size=2**22)
        first = json.loads(await asyncio.wait_for(self._ws.recv(), timeout))
        self.welcome = first.get("data")
        self._reader = asyncio.get_running_loop().create_task(self._read())
        return self

    async def __aenter__(self) -> "ControlClient":
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader

    async def _read(self) -> None:
        try:
            async for raw in self._ws:
                msg = json.loads(raw)
                fut = self._pending.pop(msg.get("id"), None) if msg.get("type") in ("reply", "error") else None
                if fut is not None and not fut.done():
                    fut.set_result(msg)
                    continue
                if self.events.full():
                    self.events.get_nowait()
                self.events.put_nowait(msg)
        finally:
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(ConnectionError("control connection closed"))

    async def send(self, message: dict) -> None:
        """Fire and forget (no id, no reply awaited)."""
        await self._ws.send(json.dumps(message))

    async def send_bytes(self, data: bytes) -> None:
        await self._ws.send(data)

    async def request(self, type: str, timeout: float = 10.0, **fields: Any) -> dict:
        """Send one message; return its reply's result (with 'clamped' when present) or raise RemoteError."""
        msg_id = next(self._ids)
        fut = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = fut
        await self._ws.send(json.dumps({"id": msg_id, "type": type, **fields}))
        reply = await asyncio.wait_for(fut, timeout)
        if reply["type"] == "error":
            raise RemoteError(reply["code"], reply["message"], reply.get("field"))
        result = dict(reply.get("result") or {})
        if reply.get("clamped"):
            result["clamped"] = reply["clamped"]
        return result

    async def next_event(self, name: str, timeout: float = 5.0) -> dict:
        """Wait for the next event called ``name`` (others are discarded)."""
        async def wait() -> dict:
            while True:
                msg = await self.events.get()
                if msg.get("type") == "event" and msg.get("event") == name:
                    return msg["data"]

        return await asyncio.wait_for(wait(), timeout)
