"""`marionette bench NAME`: speed benchmarks, one small function each.

Adding a benchmark: write ``def bench_x(args) -> dict`` (figures, JSON-serialisable) and add one
``Benchmark(...)`` line to BENCHMARKS; give it ``add_args`` if it takes options.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Benchmark:
    name: str
    help: str
    run: Callable[[argparse.Namespace], dict]
    add_args: Callable[[argparse.ArgumentParser], None] | None = None


def _percentiles(ms: list[float]) -> dict:
    import numpy as np

    a = np.asarray(ms)
    p50 = float(np.percentile(a, 50))
    return {"ms_p50": round(p50, 3), "ms_p95": round(float(np.percentile(a, 95)), 3),
            "ms_max": round(float(a.max()), 3), "fps_p50": round(1000.0 / p50, 1)}


# ---------------------------------------------------------------------------- render
def _render_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--portrait", help="photo to benchmark (default: the bundled portrait)")
    p.add_argument("--size", default="512x512", help="output size (default 512x512)")
    p.add_argument("--frames", type=int, default=300, help="frames of varied motion to time (default 300)")
    p.add_argument("--background", metavar="MODE",
                   help="background mode (keep, blur, green, color:#RRGGBB, image:PATH, transparent); "
                        "default: none, the framed photo warped as it is")
    p.add_argument("--framing", default="head-and-shoulders", help="head-and-shoulders (default) or close-up")


def bench_render(args: argparse.Namespace) -> dict:
    """Per-frame render time on one thread over a varied motion (every layer exercised)."""
    import os
    import time

    import numpy as np

    from ...core.render.framing import parse_size
    from ...tools.motion_demo import varied_motion
    from ...core.render.portrait import load_renderer
    from ...core.render.threads import single_thread

    size = parse_size(args.size)
    with single_thread():
        renderer, times = load_renderer(args.portrait, size, shot=args.framing, background=args.background)
        track = varied_motion(args.frames)
        frames = list(track.frames())
        for m in frames[:10]:  # warm caches and code paths
            renderer.render(m)
        ms, cpu, mouth, eyes = [], [], 0, 0
        for m in frames:
            t0, c0 = time.perf_counter(), time.thread_time()
            renderer.render(m)
            ms.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.thread_time() - c0) * 1000)
            mouth += renderer.last_stats.mouth_drawn
            eyes += renderer.last_stats.eyes_drawn > 0
    return {
        "benchmark": "render",
        "size": f"{size[0]}x{size[1]}",
        "threads": 1,
        "frames": len(frames),
        **_percentiles(ms),
        # CPU time of the rendering thread: what the frame costs when the machine is shared
        # (wall time includes waiting for a core).
        "cpu_ms_p50": round(float(np.percentile(cpu, 50)), 3),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "frames_with_mouth_layer": mouth,
        "frames_with_eye_layer": eyes,
        "analysis_ms": round(times.analysis * 1000, 1),
        "precompute_ms": round(times.precompute * 1000, 1),
        "portrait": args.portrait or "default",
        "background": args.background or "none",
        "framing": args.framing,
    }


# ---------------------------------------------------------------------------- pipeline
def _pipeline_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seconds", type=float, default=60.0, help="seconds of microphone-like input (default 60)")
    p.add_argument("--size", default="512x512", help="output size (default 512x512)")
    p.add_argument("--fps", type=float, default=30.0, help="frame rate (default 30)")
    p.add_argument("--generator", default="auto", choices=("auto", "envelope", "teacher", "diffusion"),
                   help="as `run --generator` (default auto: diffusion for the microphone)")
    p.add_argument("--audio-file", help="also play this file through the live path and write its motion as "
                                        "--motion-out does; reports its lag against the same generator offline")
    p.add_argument("--motion-out", metavar="TRACK", help="where the file's motion track goes (.json/.csv; "
                                                         "default: a temporary file); its sound goes next to it as .wav")


def bench_pipeline(args: argparse.Namespace) -> dict:
    """The live engine end to end on the real clock (tools/bench/pipeline.py says what is measured)."""
    from ...tools.bench.pipeline import bench_pipeline as run
    from ...core.render.framing import parse_size

    return {"benchmark": "pipeline", **run(args.seconds, parse_size(args.size), args.fps, generator=args.generator,
                                           audio_file=args.audio_file, motion_out=args.motion_out)}


# ---------------------------------------------------------------------------- control
def _control_args(p: argparse.ArgumentParser) -> None:
    from ..control.bench import bench_args

    bench_args(p)


def _bench_control(args: argparse.Namespace) -> dict:
    from ..control.bench import bench_control

    return bench_control(args)


# ---------------------------------------------------------------------------- features
def _features_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seconds", type=float, default=60.0, help="seconds of speech-like audio (default 60)")


def _bench_features(args: argparse.Namespace) -> dict:
    from ...tools.bench.audio import bench_features

    return {"benchmark": "features", **bench_features(args.seconds)}


# ---------------------------------------------------------------------------- generator
def _generator_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seconds", type=float, default=20.0, help="seconds of speech-like audio (default 20)")
    p.add_argument("--model", help="diffusion model directory (default: the shipped models/diffusion)")


def _bench_generator(args: argparse.Namespace) -> dict:
    from ...tools.bench.generator import bench_generator

    return {"benchmark": "generator", **bench_generator(args.seconds, model_dir=args.model)}


# ---------------------------------------------------------------------------- camera
def _camera_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seconds", type=float, default=20.0, help="seconds measured after calibration (default 20)")
    p.add_argument("--camera-file", help="video standing in for the camera (default: a clip rendered first)")
    p.add_argument("--portrait", help="portrait the camera drives (default: the bundled one)")


def _bench_camera(args: argparse.Namespace) -> dict:
    from ...tools.bench.camera import bench_camera

    return {"benchmark": "camera", **bench_camera(args.seconds, args.camera_file, args.portrait)}


def _density_args(p: argparse.ArgumentParser) -> None:
    from ...tools.bench.density import add_args

    add_args(p)


def _bench_density(args: argparse.Namespace) -> dict:
    from ...tools.bench.density import bench_density

    return bench_density(args)


BENCHMARKS: list[Benchmark] = [
    Benchmark("render", "portrait renderer: ms/frame p50/p95 and fps on one thread", bench_render, _render_args),
    Benchmark("pipeline", "live engine at 30 fps 512x512 with run's defaults: mic onset -> open-mouth frame p50/p95, "
              "sustained fps, CPU share, A/V offset per output (recording, speaker, sound stamps); --audio-file: "
              "a file through the live path, its motion track written", bench_pipeline, _pipeline_args),
    Benchmark("control", "control websocket under load (20 agents x 50 msg/s for 60 s while rendering 30 fps): "
              "frame drops, message loss, reply and command-to-frame latency", _bench_control, _control_args),
    Benchmark("features", "audio features (log-mel, loudness, F0, VAD): x realtime on one pinned core, whole file "
              "and 20 ms pushes", _bench_features, _features_args),
    Benchmark("generator", "diffusion motion generator: amortised ms per output frame on one pinned core (wall and "
              "CPU), first-frame delay and lookahead, for 1/2/4/8 sampling steps", _bench_generator, _generator_args),
    Benchmark("density", "avatars per process (marionette serve): how many talking avatars hold the frame rate, "
              "CPU cores and memory per avatar", _bench_density, _density_args),
    Benchmark("camera", "camera path on a video stand-in: tracking ms/frame, camera-frame-to-avatar-frame latency "
              "p50/p95, CPU cores with rendering at 30 fps", _bench_camera, _camera_args),
]


def register(subparsers) -> None:
    p = subparsers.add_parser("bench", help="speed benchmarks (render, ...)",
                              description="Speed benchmarks. Each prints its figures; --json for machines.")
    sub = p.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    for b in BENCHMARKS:
        bp = sub.add_parser(b.name, help=b.help, description=b.help)
        bp.add_argument("--json", action="store_true", help="print the figures as one JSON object")
        if b.add_args:
            b.add_args(bp)
        bp.set_defaults(func=_runner(b))


def _runner(b: Benchmark) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        figures = b.run(args)
        if args.json:
            print(json.dumps(figures))
        else:
            for k, v in figures.items():
                print(f"{k}: {v}")
        return 0

    return run
