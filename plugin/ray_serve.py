"""Avatar sessions past one machine, on Ray Serve: each session is a Serve deployment of one replica.

Ray schedules each replica (a worker process holding one AvatarSession, plugin/session.py) on
whichever node has the CPU it asks for; Serve's controller restarts a replica that dies, on any
node, from the deployment's arguments, so a session survives its process or node (its motion
starts afresh; audio in flight is lost). The number of replicas follows the number of sessions,
and a Ray cluster with an autoscaler adds nodes when the sessions' CPU no longer fits: there is no
scheduler of our own. Frames leave each replica by its own MJPEG stream (the URL names the node)
and by Serve HTTP at ``/avatars/<session>/frame.jpg``; controls and audio go through the
deployment handle (``AvatarSessions.call``). docs/ray.md says what a multi-node cluster needs.
Trade-off: a deployment per session costs the Serve controller some bookkeeping per session;
fine for tens to hundreds of sessions, not for tens of thousands. Needs the `ray` extra.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from dataclasses import asdict
from typing import Any

try:
    import ray
    from ray import serve
except ImportError as e:  # pragma: no cover - depends on the extra
    raise ImportError(f"marionette.plugin.ray_serve needs Ray Serve: pip install 'marionette[ray]' ({e})") from e

from .session import AvatarOptions

CPUS_PER_SESSION = 0.25  # what one 512x512 avatar at 30 fps costs (`marionette bench density`)


@serve.deployment(ray_actor_options={"num_cpus": CPUS_PER_SESSION}, max_ongoing_requests=64,
                  health_check_period_s=2, health_check_timeout_s=10, graceful_shutdown_timeout_s=5)
class AvatarReplica:
    """One avatar session in a Serve replica. Built again from the same arguments when the replica
    is replaced (a crash, a lost node)."""

    def __init__(self, session_id: str, options: dict, token: str, mjpeg_host: str = "127.0.0.1") -> None:
        from marionette.plugin.session import AvatarSession, SharedAssets
        from marionette.plugin.sinks import MjpegSink

        t0 = time.perf_counter()
        self.session_id = session_id
        self.session = AvatarSession.create(SharedAssets(), AvatarOptions(**options), session_id=session_id)
        self.mjpeg = MjpegSink(host=mjpeg_host, port=0, token=token)
        self.session.add_output(self.mjpeg)
        self.session.start()  # on the replica's event loop; steps run on the engine's thread
        self.started_at = time.time()
        self.start_seconds = time.perf_counter() - t0

    async def info(self) -> dict:
        out = self.session.info()
        out.update(node=socket.gethostname(), pid=os.getpid(), started_at=self.started_at,
                   start_seconds=round(self.start_seconds, 3), mjpeg_url=self.mjpeg.url)
        return out

    async def say(self, text: str) -> str:
        return self.session.control.say(text)

    async def push_pcm16(self, pcm: bytes, sample_rate: int) -> None:
        self.session.push_pcm16(pcm, sample_rate)

    async def end_segment(self) -> None:
        self.session.control.end_segment()

    async def interrupt(self) -> None:
        self.session.control.interrupt()

    async def control(self, message: dict) -> dict:
        """A control tool call (plugin/pipecat.py's apply_tool: set_emotion, gesture, look_at, ...)."""
        from marionette.plugin.agent_tools import apply_tool

        return apply_tool(self.session.control.mixer, str(message.get("type")), message)

    async def frame_jpeg(self) -> bytes:
        from marionette.plugin.sinks.jpeg import encode_jpeg

        frame = self.session.latest.frame
        if frame is None:
            await asyncio.sleep(0.1)
            frame = self.session.latest.frame
        return encode_jpeg(frame.image, 85) if frame is not None else b""

    async def __call__(self, request) -> Any:
        """Serve HTTP: GET .../frame.jpg (the newest picture), GET .../info (JSON)."""
        from starlette.responses import JSONResponse, Response

        if request.url.path.endswith("/frame.jpg"):
            return Response(await self.frame_jpeg(), media_type="image/jpeg")
        return JSONResponse(await self.info())

    def check_health(self) -> None:
        """Serve replaces a replica whose avatar stopped producing frames."""
        if self.session._task is not None and self.session._task.done():
            raise RuntimeError(f"session {self.session_id}: the frame loop ended")

    async def __del__(self) -> None:  # pragma: no cover - Serve calls it on a graceful stop
        await self.session.close()


class AvatarSessions:
    """Creates and ends sessions on a Ray cluster that is already connected (ray.init) and has
    Serve started. Each session is a Serve application named after it."""

    def __init__(self, *, token: str, mjpeg_host: str = "127.0.0.1", cpus_per_session: float = CPUS_PER_SESSION) -> None:
        self.token, self.mjpeg_host, self.cpus = token, mjpeg_host, cpus_per_session
        self.handles: dict[str, Any] = {}

    def create(self, session_id: str, options: AvatarOptions | None = None, *, timeout: float = 120.0) -> dict:
        """Start the session's replica and wait until it answers; returns its info (with
        ``create_seconds``, from the request to the first answer)."""
        if session_id in self.handles:
            raise ValueError(f"session {session_id!r} exists already")
        t0 = time.perf_counter()
        app = AvatarReplica.options(name=f"avatar-{session_id}", ray_actor_options={"num_cpus": self.cpus}).bind(
            session_id, asdict(options or AvatarOptions()), self.token, self.mjpeg_host)
        handle = serve.run(app, name=session_id, route_prefix=f"/avatars/{session_id}", blocking=False)
        info = self._wait(handle, timeout)
        self.handles[session_id] = handle
        info["create_seconds"] = round(time.perf_counter() - t0, 2)
        return info

    def call(self, session_id: str, method: str, *args) -> Any:
        """Call a method of the session's replica (info, say, push_pcm16, end_segment, interrupt,
        control, frame_jpeg) and return its result."""
        return getattr(self.handles[session_id], method).remote(*args).result(timeout_s=30)

    def end(self, session_id: str) -> None:
        self.handles.pop(session_id)
        serve.delete(session_id)

    def list(self) -> list[str]:
        return list(self.handles)

    @staticmethod
    def _wait(handle, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                return handle.info.remote().result(timeout_s=10)
            except Exception as e:  # noqa: BLE001 - the replica is still starting
                last = e
                time.sleep(0.2)
        raise TimeoutError(f"the avatar replica did not answer in {timeout:g} s ({last})")


def kill_replica(session_id: str) -> None:
    """Kill the session's replica process (what a crash or a lost node does); Serve replaces it."""
    for actor in ray.util.list_named_actors(all_namespaces=True):
        name = actor["name"] if isinstance(actor, dict) else actor
        namespace = actor.get("namespace") if isinstance(actor, dict) else None
        if "SERVE_REPLICA" in name and f"avatar-{session_id}" in name:
            ray.kill(ray.get_actor(name, namespace=namespace), no_restart=True)
            return
    raise LookupError(f"no replica of session {session_id!r} is running")
