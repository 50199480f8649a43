"""A WebRTC viewer for benches and tests (aiortc): offers to a WebRtcSink (plugin/sinks/webrtc.py),
decodes what arrives and keeps (arrival time, RGB picture) and (arrival time, sound block) pairs,
as a browser would receive them (without a browser's jitter buffer and display).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.request
from collections.abc import Callable

import numpy as np


class RtcViewer:
    """keep(t): whether to keep the picture arriving at monotonic time t (pictures are large)."""

    def __init__(self, url: str, keep: Callable[[float], bool] = lambda t: True, max_frames: int = 3000) -> None:
        self.url, self.keep, self.max_frames = url, keep, max_frames
        self.frames = 0
        self.pictures: list[tuple[float, np.ndarray]] = []
        self.sound: list[tuple[float, np.ndarray]] = []
        self.error: BaseException | None = None
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._connected = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rtc-viewer", daemon=True)

    def start(self, timeout: float = 20.0) -> "RtcViewer":
        self._thread.start()
        if not self._connected.wait(timeout):
            raise TimeoutError(f"no WebRTC answer from {self.url} in {timeout:g} s ({self.error})")
        if self.error is not None:
            raise self.error
        return self

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)

    def _run(self) -> None:
        self._loop.run_until_complete(self._main())

    async def _main(self) -> None:
        from aiortc import RTCPeerConnection, RTCSessionDescription

        self._stop = asyncio.Event()
        pc = RTCPeerConnection()
        tasks: list[asyncio.Task] = []
        try:
            pc.addTransceiver("video", direction="recvonly")
            pc.addTransceiver("audio", direction="recvonly")

            @pc.on("track")
            def on_track(track) -> None:
                tasks.append(asyncio.ensure_future(self._read(track)))

            await pc.setLocalDescription(await pc.createOffer())
            body = json.dumps({"sdp": pc.localDescription.sdp, "type": pc.localDescription.type}).encode()
            req = urllib.request.Request(self.url, body, {"Content-Type": "application/json"})
            answer = await asyncio.to_thread(lambda: json.loads(urllib.request.urlopen(req, timeout=10).read()))
            await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))
        except BaseException as e:  # noqa: BLE001 - handed to start()
            self.error = e
            self._connected.set()
            await pc.close()
            return
        self._connected.set()
        await self._stop.wait()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await pc.close()

    async def _read(self, track) -> None:
        while True:
            frame = await track.recv()
            t = time.monotonic()
            if track.kind == "video":
                self.frames += 1
                if self.keep(t) and len(self.pictures) < self.max_frames:
                    self.pictures.append((t, frame.to_ndarray(format="rgb24")))
            elif len(self.sound) < 100_000:
                x = frame.to_ndarray().astype(np.float32).reshape(-1) / 32768.0
                if frame.layout.name == "stereo":
                    x = x.reshape(-1, 2).mean(axis=1)
                self.sound.append((t, x))
