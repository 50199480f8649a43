"""`marionette run` driven through a real (user-space) PulseAudio server: the virtual microphone
gets voiced bursts, a real client (PyAV) reads the MJPEG stream, and the mouth in the pictures
opens with the loud audio and closes in the pauses. Also measures microphone-to-frame latency
from the moment audio is written into the microphone to the moment the open mouth arrives.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import pulse
from engine_doubles import MouthMeter, tone_bursts

pytestmark = pytest.mark.skipif(pulse.available() is not None, reason=str(pulse.available()))
ROOT = Path(__file__).resolve().parents[1]
SIZE = 256


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def pa(tmp_path):
    server = pulse.PulseServer(tmp_path / "pulse").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def meter():
    from marionette.core.render.portrait import load_renderer

    renderer, _ = load_renderer(None, (SIZE, SIZE))
    return MouthMeter(renderer)


class Viewer(threading.Thread):
    """Reads the MJPEG stream with PyAV, keeping (arrival time, picture) of every frame."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.frames: list[tuple[float, np.ndarray]] = []
        self.error: Exception | None = None

    def run(self) -> None:
        import av

        try:
            with av.open(self.url, format="mpjpeg", timeout=10) as c:
                for f in c.decode(video=0):
                    self.frames.append((time.monotonic(), f.to_ndarray(format="rgb24")))
        except Exception as e:  # noqa: BLE001 - the stream ends when run stops; kept for the assert
            self.error = e


def start_run(args: list[str], env: dict) -> tuple[subprocess.Popen, list[str]]:
    proc = subprocess.Popen([sys.executable, "-m", "marionette.plugin.cli", "run", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip())
        if "running at" in line:
            threading.Thread(target=lambda: lines.extend(l.rstrip() for l in proc.stdout), daemon=True).start()
            return proc, lines
    proc.kill()
    raise AssertionError("run did not start:\n" + "\n".join(lines))


@pytest.mark.slow
def test_run_from_virtual_microphone_mouth_follows_audio(pa, meter, tmp_path):
    port = free_port()
    env = {**os.environ, **pa.env, "OPENBLAS_NUM_THREADS": "1"}
    proc, lines = start_run(["--source", "mic", "--device", "pulse", "--no-say", "--no-virtualcam", "--no-play",
                             "--no-control", "--no-panel", "--size", f"{SIZE}x{SIZE}", "--mjpeg-port", str(port),
                             "--duration", "14", "--record", str(tmp_path / "mic.mp4"), "--stats-every", "0"], env)
    viewer = Viewer(f"http://127.0.0.1:{port}/stream.mjpg")
    viewer.start()
    time.sleep(1.5)
    # Bursts of voice from 1 s after now, each 0.8 s long with 1.2 s pauses.
    bursts = [(1.0 + 2.0 * k, 1.8 + 2.0 * k) for k in range(5)]
    signal = np.concatenate([c.samples for c in tone_bursts(pulse.MIC_RATE, 11.0, bursts)])
    n0 = pa.samples_fed  # the signal's first sample goes into the FIFO right after what is queued
    pa.feed_mic(signal)
    out, _ = proc.communicate(timeout=60)
    viewer.join(10)
    text = "\n".join(lines)
    assert proc.returncode == 0, text
    assert "ok   microphone" in text and "pulse" in text
    assert "stopped after" in text and len(viewer.frames) > 200, text

    # When did each onset enter the microphone? The feeder logs (time written, first sample index).
    fed = np.array(pa.fed_at)
    def written(sample: int) -> float:
        i = np.searchsorted(fed[:, 1], sample, side="right") - 1
        return float(fed[i, 0])

    onsets = [written(n0 + int(a * pulse.MIC_RATE)) for a, _ in bursts]
    ends = [written(n0 + int(b * pulse.MIC_RATE)) for _, b in bursts]
    times = np.array([t for t, _ in viewer.frames])
    opening = np.array([meter(img) for _, img in viewer.frames])
    latencies = []
    for on, off in zip(onsets, ends):
        during = opening[(times > on + 0.3) & (times < off)]
        pause = opening[(times > off + 0.4) & (times < off + 1.1)]
        assert during.size and during.mean() > 0.35, f"mouth not open while loud: {np.round(during, 2)}"
        assert pause.size and pause.max() < 0.2, f"mouth not closed in the pause: {np.round(pause, 2)}"
        first = times[(times >= on) & (opening > 0.25)]
        latencies.append(first[0] - on)
    lat = np.array(latencies) * 1e3
    print(f"microphone-to-frame latency over PulseAudio + MJPEG: p50 {np.percentile(lat, 50):.0f} ms, "
          f"p95 {np.percentile(lat, 95):.0f} ms, each {np.round(lat).tolist()}")
    assert np.percentile(lat, 95) < 250
