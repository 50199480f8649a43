"""Sinks with real clients: MJPEG read by OpenCV/PyAV and raw HTTP, the WebSocket preview by a
websockets client, mp4 read back by PyAV, pyvirtualcam through a backend registered for the test."""

from __future__ import annotations

import asyncio
import http.client
import socket
import threading
import time
from urllib.parse import urlsplit

import numpy as np
import pytest

from marionette.core.engine import SinkRunner
from marionette.core.types import AudioChunk, VideoFrame
from marionette.plugin.sinks import (
    MjpegSink,
    RecordingSink,
    VirtualCameraSink,
    VirtualCameraUnavailable,
    WebSocketPreviewSink,
    install_hint,
)


def frame(i: int, value: int | None = None, size=(96, 128)) -> VideoFrame:
    img = np.zeros((*size, 3), np.uint8)
    img[..., 0] = (i * 37) % 256 if value is None else value
    img[: size[0] // 2, :, 1] = 200
    return VideoFrame(img, i / 30.0, i)


def read_mjpeg_frames(url: str, n: int, timeout: float = 10.0) -> list[bytes]:
    """A minimal multipart reader (what a browser does): the JPEG bodies of the first n parts."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    conn.request("GET", f"{parts.path}?{parts.query}")  # the query carries the stream's token
    resp = conn.getresponse()
    assert resp.status == 200 and "multipart/x-mixed-replace" in resp.getheader("Content-Type")
    out = []
    while len(out) < n:
        line = resp.fp.readline()
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
            resp.fp.readline()  # blank line
            out.append(resp.fp.read(length))
    conn.close()
    return out


def publish_until(sink, stop: threading.Event, fps: float = 60.0) -> threading.Thread:
    def run():
        i = 0
        while not stop.is_set():
            sink.send(frame(i))
            i += 1
            time.sleep(1 / fps)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_mjpeg_serves_several_clients_and_a_stalled_one_does_not_hold_them_up():
    import cv2

    sink = MjpegSink(port=0)
    assert sink.host == "127.0.0.1"  # loopback by default
    stop = threading.Event()
    publish_until(sink, stop)
    try:
        # A client that connects and never reads: its socket buffer fills, its thread blocks.
        stalled = socket.create_connection((sink.host, sink.port))
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.sendall(f"GET /stream.mjpg?token={sink.token} HTTP/1.0\r\nHost: 127.0.0.1:{sink.port}\r\n\r\n".encode())
        time.sleep(0.5)
        t0 = time.monotonic()
        bodies = read_mjpeg_frames(sink.url, 20)
        bodies2 = read_mjpeg_frames(sink.url, 20)
        assert time.monotonic() - t0 < 3.0  # 40 frames at 60 fps: well under a second each
        img = cv2.imdecode(np.frombuffer(bodies[-1], np.uint8), cv2.IMREAD_COLOR)
        assert img.shape == (96, 128, 3)
        assert img[:40, :, 1].mean() > 150 and img[60:, :, 1].mean() < 50  # the picture we sent (BGR)
        assert len(set(bodies)) > 10 and len(bodies2) == 20  # new frames, not one repeated
        # OpenCV's own FFmpeg reader understands the stream too.
        cap = cv2.VideoCapture(sink.url)
        ok, img2 = cap.read()
        cap.release()
        if ok:
            assert img2.shape == (96, 128, 3)
        stalled.close()
    finally:
        stop.set()
        sink.close()


def test_mjpeg_snapshot_and_index_and_port_in_use():
    sink = MjpegSink(port=0)
    try:
        snapshot = sink.snapshot_url.split(str(sink.port), 1)[1]
        conn = http.client.HTTPConnection(sink.host, sink.port, timeout=5)
        conn.request("GET", snapshot)
        assert conn.getresponse().status == 503  # nothing rendered yet: say so
        sink.send(frame(1))
        conn = http.client.HTTPConnection(sink.host, sink.port, timeout=5)
        conn.request("GET", snapshot)
        r = conn.getresponse()
        assert r.status == 200 and r.read()[:2] == b"\xff\xd8"
        conn = http.client.HTTPConnection(sink.host, sink.port, timeout=5)
        conn.request("GET", f"/?token={sink.token}")
        assert f"/stream.mjpg?token={sink.token}".encode() in conn.getresponse().read()
        for path in ("/snapshot.jpg", "/", "/stream.mjpg", "/snapshot.jpg?token=wrong"):  # the picture is private
            conn = http.client.HTTPConnection(sink.host, sink.port, timeout=5)
            conn.request("GET", path)
            r = conn.getresponse()
            assert r.status == 401 and b"token" in r.read(), path
        with pytest.raises(Exception, match="choose another port"):
            MjpegSink(port=sink.port)
    finally:
        sink.close()


def test_websocket_preview_sends_jpeg_frames():
    import cv2
    import websockets

    sink = WebSocketPreviewSink(port=0)
    stop = threading.Event()
    publish_until(sink, stop)

    async def client() -> list[bytes]:
        async with websockets.connect(sink.url) as ws:
            return [await asyncio.wait_for(ws.recv(), 5) for _ in range(10)]

    async def refused(url: str) -> int:
        try:
            async with websockets.connect(url):
                return 101
        except websockets.exceptions.InvalidStatus as e:
            return e.response.status_code

    try:
        msgs = asyncio.run(client())
        assert all(isinstance(m, bytes) and m[:2] == b"\xff\xd8" for m in msgs)
        img = cv2.imdecode(np.frombuffer(msgs[-1], np.uint8), cv2.IMREAD_COLOR)
        assert img.shape == (96, 128, 3)
        # any web page may open a WebSocket to 127.0.0.1: without the token it sees nothing
        assert asyncio.run(refused(sink.base_url)) == 401
        assert asyncio.run(refused(sink.base_url + "?token=wrong")) == 401
    finally:
        stop.set()
        sink.close()


def test_recording_has_video_and_audio_in_place(tmp_path):
    import av

    path = tmp_path / "rec.mp4"
    rec = RecordingSink(path, fps=30)
    rate = 16000
    for i in range(60):  # 2 s; audio is a 1 kHz tone from 1.0 s to 1.5 s only
        t = i / 30
        n = rate // 30
        tt = t + np.arange(n) / rate
        x = np.where((tt >= 1.0) & (tt < 1.5), 0.5 * np.sin(2 * np.pi * 1000 * tt), 0.0).astype(np.float32)
        rec.send_audio(AudioChunk(x, rate, t))
        rec.send(frame(i, value=255 if i >= 30 else 0))
    rec.close()
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        a = c.streams.audio[0]
        assert (v.codec_context.width, v.codec_context.height) == (128, 96)
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 60
    assert frames[10][60:, :, 0].mean() < 40 and frames[40][60:, :, 0].mean() > 200
    with av.open(str(path)) as c:
        pcm = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])
    sr = a.codec_context.sample_rate
    env = np.abs(pcm)
    loud = np.flatnonzero(env > 0.2)
    assert abs(loud[0] / sr - 1.0) < 0.06 and abs(loud[-1] / sr - 1.5) < 0.06  # the tone sits where it was


class RecordingCameraBackend:
    """A pyvirtualcam backend that records frames: a fake of hardware this machine cannot have,
    registered through pyvirtualcam's real backend interface."""

    instances: list["RecordingCameraBackend"] = []

    def __init__(self, width, height, fps, fourcc, device, **kw):
        self.width, self.height, self.fps, self.fourcc = width, height, fps, fourcc
        self._device = device or "/dev/video-test"
        self.frames: list[np.ndarray] = []
        self.closed = False
        RecordingCameraBackend.instances.append(self)

    def send(self, frame):
        self.frames.append(np.array(frame))

    def close(self):
        self.closed = True

    def device(self):
        return self._device

    def native_fourcc(self):
        return None


def test_virtualcam_through_registered_backend_and_engine_runner():
    import pyvirtualcam

    pyvirtualcam.register_backend("marionette-test", RecordingCameraBackend)
    try:
        cam = VirtualCameraSink.open(128, 96, 30, backend="marionette-test")
        assert cam.backend == "marionette-test" and cam.device == "/dev/video-test"
        events = []
        runner = SinkRunner(cam, events.append)
        for i in range(5):
            runner.send(frame(i))
            time.sleep(0.02)
        runner.close()
        be = RecordingCameraBackend.instances[-1]
        assert be.closed and len(be.frames) == 5 and not events
        last = be.frames[-1].reshape(96, 128, 3)  # backends get flat RGB bytes
        assert last[0, 0, 0] == (4 * 37) % 256 and last[0, 0, 1] == 200
        with pytest.raises(VirtualCameraUnavailable, match="unknown"):
            VirtualCameraSink.open(128, 96, 30, backend="nope")
    finally:
        from pyvirtualcam.camera import BACKENDS

        BACKENDS.pop("marionette-test", None)


def test_virtualcam_unavailable_here_lists_failures_and_the_fix():
    """On a machine without v4l2loopback the error names every backend tried and what to install."""
    from pyvirtualcam.camera import BACKENDS

    if any(name != "v4l2loopback" for name in BACKENDS):
        pytest.skip("another backend is registered")
    try:
        cam = VirtualCameraSink.open(128, 96, 30)
    except VirtualCameraUnavailable as e:
        msg = str(e)
        assert "v4l2loopback" in msg and install_hint() in msg
    else:  # a real virtual camera exists on this machine
        cam.close()


def test_sink_runner_drops_for_a_slow_sink_without_blocking():
    class Slow:
        name = "slow"

        def __init__(self):
            self.got = []

        def send(self, f):
            time.sleep(0.05)
            self.got.append(f.index)

        def close(self):
            pass

    sink = Slow()
    runner = SinkRunner(sink, lambda e: None)
    t0 = time.perf_counter()
    for i in range(100):
        runner.send(frame(i))
    assert time.perf_counter() - t0 < 0.05  # send() never waits for the sink
    runner.close()
    assert sink.got[-1] == 99  # the newest frame always gets through
    assert runner.dropped + len(sink.got) == 100 and runner.dropped > 90
