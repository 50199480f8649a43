"""Many avatars in one process: the sessions, and the websocket that creates and ends them.

Each session (plugin/session.py) is a whole avatar: its own engine, generator state, control
mixer, and here its own outputs: an MJPEG stream (plugin/sinks/mjpeg.py) and a control websocket
speaking the full protocol (plugin/control/server.py, docs/protocol.md), each on a port of its
own, so one session's clients can never reach another's controls. What they share is read-only:
the analysed portraits (SharedAssets) and the models. Trade-off: every session's frame loop is a
thread competing for the same cores; the host admits at most ``max_sessions`` and `bench density`
says how many hold their frame rate.

The host websocket (token as for the control server) takes JSON messages:
  {"id": 1, "type": "create_session", "portrait": "face.jpg", "width": 512, "height": 512,
   "fps": 30, "generator": "envelope", "session_id": "optional-name"}
  {"id": 2, "type": "end_session", "session_id": "..."}
  {"id": 3, "type": "list_sessions"}
and answers {"type": "reply", "id": 1, "ok": true, "result": {...}} or
{"type": "error", "id": 1, "code": "...", "message": "..."}.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..control.auth import offered_token, token_matches
from ..session import AvatarOptions, AvatarSession, SharedAssets

log = logging.getLogger(__name__)

SESSION_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
MAX_MESSAGE_BYTES = 16 * 1024


class HostError(Exception):
    """A request the host refuses: ``code`` for programs, the message for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Hosted:
    """A session and the outputs the host opened for it."""

    session: AvatarSession
    mjpeg: Any = None
    control: Any = None  # plugin.control.server.ServerThread
    control_url: str | None = None

    def info(self) -> dict:
        out = self.session.info()
        out["mjpeg_url"] = self.mjpeg.url if self.mjpeg is not None else None
        out["control_url"] = self.control_url
        return out


@dataclass
class AvatarHost:
    """Creates, lists and ends avatar sessions on the running event loop.

    portrait_dir: the only place portraits are read from (a client names a file in it; None = only
    the bundled portrait), so a remote client cannot make the host read and stream any file.
    token: for the control websockets (and the host websocket in ``serve_host``)."""

    token: str
    host: str = "127.0.0.1"
    max_sessions: int = 16
    portrait_dir: Path | None = None
    mjpeg: bool = True
    control: bool = True
    assets: SharedAssets = field(default_factory=SharedAssets)
    sessions: dict[str, Hosted] = field(default_factory=dict)

    def options_from(self, msg: dict) -> AvatarOptions:
        portrait = msg.get("portrait")
        if portrait is not None:
            if not isinstance(portrait, str) or self.portrait_dir is None:
                raise HostError("bad_value", "portrait: this host serves only the bundled portrait "
                                "(start it with --portraits DIR to offer photos by file name)")
            if Path(portrait).name != portrait or portrait.startswith("."):
                raise HostError("bad_value", f"portrait {portrait!r}: expected a file name in the host's portrait "
                                "folder, without a path")
            portrait = str(self.portrait_dir / portrait)
            if not Path(portrait).is_file():
                raise HostError("not_found", f"portrait {msg['portrait']!r} is not in the host's portrait folder")
        try:
            return AvatarOptions(portrait=portrait, width=int(msg.get("width", 512)), height=int(msg.get("height", 512)),
                                 fps=float(msg.get("fps", 30.0)), generator=str(msg.get("generator", "envelope")))
        except (TypeError, ValueError) as e:
            raise HostError("bad_value", str(e)) from None

    async def create(self, options: AvatarOptions | None = None, session_id: str | None = None) -> dict:
        if len(self.sessions) >= self.max_sessions:
            raise HostError("full", f"{len(self.sessions)} sessions running, the most this host takes "
                            f"(--max-sessions {self.max_sessions}); end one first")
        if session_id is not None:
            if not isinstance(session_id, str) or not SESSION_ID.fullmatch(session_id):
                raise HostError("bad_value", f"session_id {session_id!r}: expected 1-64 letters, digits, '.', '_' or '-'")
            if session_id in self.sessions:
                raise HostError("exists", f"session {session_id!r} exists already")
        t0 = time.perf_counter()
        try:
            # A portrait's first analysis takes seconds: off the loop, so other sessions keep running.
            session = await asyncio.to_thread(AvatarSession.create, self.assets, options, session_id=session_id)
        except FileNotFoundError as e:
            raise HostError("not_found", str(e)) from None
        except Exception as e:  # noqa: BLE001 - a face not found, a bad photo: the host goes on
            raise HostError("cannot_create", f"{type(e).__name__}: {e}") from None
        hosted = Hosted(session)
        if self.mjpeg:
            from ..sinks import MjpegSink

            hosted.mjpeg = MjpegSink(host=self.host, port=0, token=self.token)
            session.add_output(hosted.mjpeg)
        if self.control:
            from ..control.server import ControlServer, ServerConfig, ServerThread

            server = ControlServer(session.control, token=self.token, clock=session.clock,
                                   config=ServerConfig(host=self.host, port=0))
            hosted.control = ServerThread(server).start()
            hosted.control_url = server.url
        self.sessions[session.session_id] = hosted
        session.start()
        session.start_seconds = time.perf_counter() - t0
        log.info("session %s started in %.2f s", session.session_id, session.start_seconds)
        return hosted.info()

    async def end(self, session_id: str) -> dict:
        hosted = self.sessions.pop(session_id, None)
        if hosted is None:
            raise HostError("not_found", f"no session {session_id!r}; list_sessions says which run")
        if hosted.control is not None:
            await asyncio.to_thread(hosted.control.stop)
        info = hosted.info()
        await hosted.session.close()  # closes its outputs (the MJPEG server) too
        return info

    def list(self) -> list[dict]:
        return [h.info() for h in self.sessions.values()]

    async def close(self) -> None:
        for sid in list(self.sessions):
            await self.end(sid)

    # --- the host websocket ---------------------------------------------------------------
    async def handle(self, raw: str | bytes) -> dict:
        """One request -> its reply (never raises)."""
        mid = None
        try:
            if isinstance(raw, bytes) or len(raw) > MAX_MESSAGE_BYTES:
                raise HostError("bad_message", f"expected a JSON text message under {MAX_MESSAGE_BYTES} bytes")
            try:
                msg = json.loads(raw)
            except ValueError:
                raise HostError("bad_message", 'not JSON; expected an object like {"type": "list_sessions"}') from None
            if not isinstance(msg, dict):
                raise HostError("bad_message", f"expected a JSON object, got {type(msg).__name__}")
            mid, kind = msg.get("id"), msg.get("type")
            if kind == "create_session":
                result: Any = await self.create(self.options_from(msg), msg.get("session_id"))
            elif kind == "end_session":
                result = await self.end(str(msg.get("session_id")))
            elif kind == "list_sessions":
                result = {"sessions": self.list(), "max_sessions": self.max_sessions}
            else:
                raise HostError("unknown_type", f"type {kind!r}; expected create_session, end_session or list_sessions")
            return {"type": "reply", "id": mid, "ok": True, "result": result}
        except HostError as e:
            return {"type": "error", "id": mid, "code": e.code, "message": str(e)}

    async def serve_host(self, port: int = 8770):
        """Start the host websocket on ``port`` (0: any free one); returns the websockets server."""
        from websockets.asyncio.server import serve
        from websockets.http11 import Response
        from websockets.datastructures import Headers

        async def check(connection, request):
            if not token_matches(self.token, offered_token(request.path, request.headers)):
                return Response(401, "Unauthorized", Headers(), b"missing or wrong token\n")
            return None

        async def handler(ws) -> None:
            async for raw in ws:
                await ws.send(json.dumps(await self.handle(raw)))

        return await serve(handler, self.host, port, process_request=check, max_size=MAX_MESSAGE_BYTES)
