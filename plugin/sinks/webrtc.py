"""WebRTC out (aiortc): the avatar's picture and the sound we play, to browsers, in one connection
(MJPEG carries no sound), the browser's jitter buffer keeping the two tracks in step, at a video
bitrate a network can carry. Latency on one machine is not lower than MJPEG's: aiortc encodes VP8
in Python-driven software (`marionette bench pipeline` measures both viewers, docs/agents.md).

A browser POSTs its SDP offer to ``http://host:port/offer?token=...`` and gets the answer; each
peer gets a video track (the newest frame when the encoder asks: a slow peer skips frames, never
stalls the engine) and an audio track of the sound we play (16 kHz, placed by its presentation
stamp, silence between utterances). Non-trickle ICE on loopback or a LAN: no STUN/TURN is used.
Trade-off: aiortc encodes VP8 in software, per peer (about 10-20 ms a 512x512 frame), so peers are
capped (``max_peers``). Needs the `webrtc` extra (aiortc, aiohttp).
"""

from __future__ import annotations

import asyncio
import fractions
import hmac
import logging
import secrets
import threading
import time
from collections import deque

import numpy as np

from marionette.core.types import AudioChunk, VideoFrame

log = logging.getLogger(__name__)

AUDIO_RATE = 16000
PTIME = 0.02  # s of sound per RTP packet
MAX_AUDIO_QUEUED = 500  # sound blocks waiting for their time (about 15 s)


class WebRtcUnavailable(RuntimeError):
    """aiortc or aiohttp is missing, or the port is taken."""


class WebRtcSink:
    """core.stages FrameSink, SpeakerSink and Interruptible, serving WebRTC peers on its own thread.
    token: what an offer must carry (?token= or Authorization: Bearer); accept: more tokens that
    open it (the control token, for the control panel). A page on any origin may offer (the answer
    carries CORS headers) but only with a token: the token is the authorization, as for MJPEG."""

    name = "webrtc"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 8769, token: str | None = None,
                 accept: tuple[str, ...] = (), max_peers: int = 4) -> None:
        try:
            import aiohttp  # noqa: F401
            import aiortc  # noqa: F401
        except ImportError as e:
            raise WebRtcUnavailable(f"WebRTC out needs aiortc and aiohttp: pip install 'marionette[webrtc]' ({e})") from None
        self.token = token or secrets.token_urlsafe(24)
        self._accepted = tuple(t.encode() for t in (self.token, *accept) if t)
        self.max_peers = max_peers
        self.peers: set = set()
        self.frames_sent = 0
        self._frame: VideoFrame | None = None
        self._frame_event: asyncio.Event | None = None
        self._audio: deque[AudioChunk] = deque(maxlen=MAX_AUDIO_QUEUED)
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._runner = None
        self.host, self.port = host, port
        self._thread = threading.Thread(target=self._run, name="webrtc", daemon=True)
        self._thread.start()
        self._ready.wait(15)
        if self._error is not None:
            raise WebRtcUnavailable(f"cannot serve WebRTC offers on {host}:{port} ({self._error}); "
                                    "choose another port (--webrtc-port, or 0 for any free one)") from None

    @property
    def url(self) -> str:
        """Where a page POSTs its offer (with the token)."""
        return f"http://{self.host}:{self.port}/offer?token={self.token}"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/offer"

    # --- sink (engine threads) -----------------------------------------------------------
    def send(self, frame: VideoFrame) -> None:
        self._frame = frame
        ev = self._frame_event
        if ev is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(ev.set)

    def send_played(self, chunk: AudioChunk) -> None:
        with self._lock:
            self._audio.append(chunk)

    def clear(self) -> None:
        """Interrupted: the sound handed over but not yet due is dropped."""
        with self._lock:
            self._audio.clear()

    def close(self) -> None:
        if self._loop.is_closed():
            return
        fut = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        try:
            fut.result(10)
        except Exception:  # noqa: BLE001 - closing is best effort
            log.exception("webrtc shutdown")
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    # --- the server thread ------------------------------------------------------------------
    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._start())
        except BaseException as e:  # noqa: BLE001 - reported by __init__
            self._error = e
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        self._loop.close()

    async def _start(self) -> None:
        from aiohttp import web

        self._frame_event = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024)
        app.router.add_post("/offer", self._offer)
        app.router.add_route("OPTIONS", "/offer", self._preflight)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # port 0: the one picked

    async def _shutdown(self) -> None:
        await asyncio.gather(*(pc.close() for pc in list(self.peers)), return_exceptions=True)
        self.peers.clear()
        if self._runner is not None:
            await self._runner.cleanup()

    def _cors(self, request) -> dict:
        origin = request.headers.get("Origin")
        if origin:
            return {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Headers": "Content-Type, Authorization",
                    "Access-Control-Allow-Methods": "POST", "Vary": "Origin"}
        return {}

    async def _preflight(self, request):
        from aiohttp import web

        return web.Response(status=204, headers=self._cors(request))

    async def _offer(self, request):
        from aiohttp import web
        from aiortc import RTCPeerConnection, RTCSessionDescription

        headers = self._cors(request)
        offered = request.query.get("token") or request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not any(hmac.compare_digest(offered.encode(), t) for t in self._accepted):
            return web.json_response({"error": "missing or wrong token"}, status=401, headers=headers)
        if len(self.peers) >= self.max_peers:
            return web.json_response({"error": f"{len(self.peers)} viewers already, the most this sink serves"},
                                     status=503, headers=headers)
        try:
            body = await request.json()
            offer = RTCSessionDescription(sdp=str(body["sdp"]), type=str(body["type"]))
        except (ValueError, KeyError, TypeError):
            return web.json_response({"error": 'expected JSON {"sdp": "...", "type": "offer"}'}, status=400, headers=headers)
        pc = RTCPeerConnection()
        self.peers.add(pc)

        @pc.on("connectionstatechange")
        async def _state() -> None:
            if pc.connectionState in ("failed", "closed"):
                self.peers.discard(pc)
                await pc.close()

        pc.addTrack(_VideoTrack(self))
        pc.addTrack(_AudioTrack(self))
        await pc.setRemoteDescription(offer)
        await pc.setLocalDescription(await pc.createAnswer())
        return web.json_response({"sdp": pc.localDescription.sdp, "type": pc.localDescription.type}, headers=headers)

    # --- for the tracks (server thread) ---------------------------------------------------
    def _take_audio(self, until: float, n: int) -> np.ndarray:
        """``n`` samples of the sound due before ``until`` (clock time of the frames' stamps)."""
        out = np.zeros(n, np.float32)
        filled = 0
        with self._lock:
            while self._audio and filled < n:
                chunk = self._audio[0]
                if chunk.t > until:
                    break
                take = min(n - filled, chunk.samples.size)
                out[filled:filled + take] = chunk.samples[:take]
                filled += take
                if take == chunk.samples.size:
                    self._audio.popleft()
                else:  # the rest waits for the next packet
                    rest = chunk.samples[take:]
                    self._audio[0] = AudioChunk(rest, chunk.sample_rate, chunk.t + take / chunk.sample_rate)
        return out


try:  # the track classes subclass aiortc's; without the extra the sink raises WebRtcUnavailable
    from aiortc import MediaStreamTrack as _Track
except ImportError:  # pragma: no cover
    _Track = object  # type: ignore[assignment,misc]


class _VideoTrack(_Track):  # type: ignore[misc,valid-type]
    """The newest frame each time the encoder asks (at most once per new frame)."""

    kind = "video"

    def __init__(self, sink: WebRtcSink) -> None:
        super().__init__()
        self.sink = sink
        self._last_index = -1
        self._t0: float | None = None

    async def recv(self):
        from av import VideoFrame as AvVideoFrame

        ev = self.sink._frame_event
        while True:
            frame = self.sink._frame
            if frame is not None and frame.index != self._last_index:
                break
            ev.clear()
            await ev.wait()
        self._last_index = frame.index
        if self._t0 is None:
            self._t0 = frame.t
        out = AvVideoFrame.from_ndarray(frame.image, format="rgb24")
        out.pts = int(round((frame.t - self._t0) * 90000))  # the frame's own time: no drift, no jitter added
        out.time_base = fractions.Fraction(1, 90000)
        self.sink.frames_sent += 1
        return out


class _AudioTrack(_Track):  # type: ignore[misc,valid-type]
    """20 ms packets of the sound we play, each carrying what is due by then (silence otherwise)."""

    kind = "audio"

    def __init__(self, sink: WebRtcSink) -> None:
        super().__init__()
        self.sink = sink
        self._start: float | None = None
        self._n = 0

    async def recv(self):
        from av import AudioFrame

        step = int(AUDIO_RATE * PTIME)
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self._n * PTIME
        wait = due - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        elif wait < -0.2:  # fell behind (a stalled loop): skip ahead rather than lag forever
            self._start, self._n = time.monotonic(), 0
        # Stamps are MonotonicClock (time.monotonic) times: take what is due now (pictures trail by their encode).
        x = self.sink._take_audio(time.monotonic(), step)
        frame = AudioFrame.from_ndarray((np.clip(x, -1, 1) * 32767).astype(np.int16)[None, :], format="s16", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = self._n * step
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        self._n += 1
        return frame
