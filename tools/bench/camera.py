"""`marionette bench camera`: the camera path live, on the real clock, with a video file standing in
for the camera (paced at its own frame rate, as a webcam delivers).

The engine renders at 30 fps with CameraDrive where the control mixer sits (camera mode); the
camera thread captures and tracks. Measured after calibration and warm-up: tracking ms per
camera frame (wall and the thread's CPU), camera-frame-to-avatar-frame latency (capture of the
frame whose motion is shown -> that avatar frame handed to the sinks), p50/p95, and the CPU
share of the whole process (tracking + rendering + everything else) in cores, both as taken and
as needed for 30 camera + 30 avatar frames a second (they differ when other programs hold the cores).
Trade-off: a file has no sensor and driver delay (a webcam adds 30-100 ms of its own before
the frame reaches us), so the latency is ours alone.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from marionette.core.clock import MonotonicClock

WARMUP = 3.5  # s: the 2 s calibration, then the filter settles


def demo_clip(path: Path, seconds: float, portrait: str | None = None, fps: float = 30.0) -> Path:
    """A stand-in performance: 2.5 s of neutral face (calibration), then varied motion, rendered
    on ``portrait`` (default: the bundled one) with our renderer."""
    from marionette.core.render.portrait import load_renderer
    from marionette.core.render.video import write_video
    from marionette.core.track import MotionTrack
    from marionette.core.types import NEUTRAL_VECTOR
    from marionette.tools.motion_demo import varied_motion

    renderer, _ = load_renderer(portrait, (640, 480))
    n = int(seconds * fps)
    calm = int(2.5 * fps)
    moving = varied_motion(n - calm).values
    track = MotionTrack(fps, np.concatenate([np.tile(NEUTRAL_VECTOR, (calm, 1)), moving]))
    write_video((renderer.render(m) for m in track.frames()), path, fps)
    return path


def bench_camera(seconds: float = 20.0, camera_file: str | None = None, portrait: str | None = None,
                 size: tuple[int, int] = (512, 512), fps: float = 30.0) -> dict:
    from marionette.core.audio import StreamingFeatureExtractor
    from marionette.core.control import ControlMixer
    from marionette.core.engine.loop import Engine
    from marionette.core.generators import get_generator
    from marionette.core.render.portrait import load_renderer
    from marionette.core.render.threads import single_thread
    from marionette.plugin.camera_live import attach_camera
    from marionette.plugin.config import load_config

    with tempfile.TemporaryDirectory() as tmp, single_thread():
        clip = Path(camera_file) if camera_file else demo_clip(Path(tmp) / "camera.mp4", seconds + WARMUP)
        cfg = load_config(None, {"camera.enabled": True, "camera.file": str(clip), "camera.calibrate": True,
                                 "audio.source": "none", "engine.fps": fps})
        clock = MonotonicClock()
        renderer, _ = load_renderer(portrait, size)
        mixer = ControlMixer(clock=clock)
        engine = Engine(renderer=renderer, generator=get_generator("envelope", fps=fps),
                        features=StreamingFeatureExtractor.load(), clock=clock, fps=fps, mixer=mixer)
        notes: list[str] = []
        link = attach_camera(cfg, engine, mixer, renderer, clock, lambda c, ok, m: notes.append(f"{c}: {m}"),
                             config_dir=Path(tmp))
        events: list[str] = []
        engine.subscribe(lambda e: events.append(str(e)))
        marks: dict[str, tuple[float, float, int, int]] = {}

        async def run() -> None:
            task = asyncio.create_task(engine.run(WARMUP + seconds))
            await asyncio.sleep(WARMUP)
            link.drive.latency._d.clear()  # noqa: SLF001 - count the steady state only
            marks["start"] = (time.perf_counter(), _cpu(), engine.frames, link.source.frames)
            await task
            marks["end"] = (time.perf_counter(), _cpu(), engine.frames, link.source.frames)
            await engine.close()

        asyncio.run(run())
        w0, c0, f0, k0 = marks["start"]
        w1, c1, f1, k1 = marks["end"]
        src = link.source
        track_ms = src.track_ms.values()[-max(1, k1 - k0):]
        cpu_ms = src.cpu_ms.values()[-max(1, k1 - k0):]
        lat = link.drive.latency.values() * 1e3
        rest_ms = ((c1 - c0) * 1e3 - float(np.sum(cpu_ms))) / max(1, f1 - f0)
        st = engine.stats()
        render = st.stage("render")
    return {
        "camera_file": str(camera_file or "demo clip (bundled portrait, 640x480)"),
        "seconds": seconds,
        "output": f"{size[0]}x{size[1]} at {fps:g} fps",
        "camera_frames_tracked": int(k1 - k0),
        "avatar_frames": int(f1 - f0),
        "avatar_fps": round((f1 - f0) / (w1 - w0), 2),
        "late_ticks": st.late_ticks,
        "track_ms_p50": round(float(np.percentile(track_ms, 50)), 2),
        "track_ms_p95": round(float(np.percentile(track_ms, 95)), 2),
        "track_cpu_ms_p50": round(float(np.percentile(cpu_ms, 50)), 2),
        "track_cpu_ms_p95": round(float(np.percentile(cpu_ms, 95)), 2),
        "render_ms_mean": None if render is None else round(render.mean_ms, 2),
        "latency_ms_p50": round(float(np.percentile(lat, 50)), 1) if lat.size else None,
        "latency_ms_p95": round(float(np.percentile(lat, 95)), 1) if lat.size else None,
        "latency_goal_p95_ms": 80.0,
        "cpu_cores": round((c1 - c0) / (w1 - w0), 3),
        # On a shared machine the process gets what the others leave (cpu_cores above is then what
        # it got, not what it needs): what 30 camera frames plus 30 avatar frames a second cost,
        # from CPU time per tracked frame and per avatar frame (everything but tracking).
        "cpu_ms_per_tracked_frame": round(float(np.mean(cpu_ms)), 2),
        "cpu_ms_per_avatar_frame_besides_tracking": round(rest_ms, 2),
        "cores_needed_at_30fps": round(30.0 * (float(np.mean(cpu_ms)) + rest_ms) / 1e3, 3),
        "cpu_goal_cores": 1.0,
        "detections": src._tracker.detections if src._tracker is not None else None,  # noqa: SLF001
        "load_average_1min": round(os.getloadavg()[0], 2),
        "status": events[-6:],
    }


def _cpu() -> float:
    t = os.times()
    return t.user + t.system
