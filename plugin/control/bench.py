"""`marionette bench control`: many agents flooding the control websocket while the engine renders.

N clients (in a separate process, so the load is real socket traffic) each send ``rate``
set_expression messages per second on their own channel, with a value that names the message.
A frame listener on the engine notes when each value first appears in an emitted frame, which gives
command-to-frame latency without touching the server's code path. Reported: frame drops (ticks the
engine skipped), message outcomes, reply and command-to-frame latency percentiles, CPU shares.
Trade-off: values superseded before the next frame are never shown, by design; latency is measured
on the ones that are (their share is reported too).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from ...core.motion_space import CHANNEL_INDEX

# Channels the clients write (one each): mouth and brow shapes that idle life never touches.
BENCH_CHANNELS = ("mouthFunnel", "mouthPucker", "mouthLeft", "mouthRight", "mouthRollLower", "mouthRollUpper",
                  "mouthShrugLower", "mouthShrugUpper", "mouthPressLeft", "mouthPressRight", "mouthDimpleLeft",
                  "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight", "cheekPuff", "noseSneerLeft",
                  "noseSneerRight", "mouthUpperUpLeft", "mouthUpperUpRight", "tongueOut", "jawForward",
                  "mouthLowerDownLeft", "mouthLowerDownRight", "browOuterUpLeft", "browOuterUpRight")
CODES = 997  # values (k % CODES + 1) / 1000: unique per channel for ~20 s at 50 msg/s


def value_code(k: int) -> int:
    return k % CODES + 1


def _pct(values: list[float], qs=(50, 95, 99)) -> dict:
    if not values:
        return {f"p{q}_ms": None for q in qs}
    a = np.asarray(values) * 1e3
    return {f"p{q}_ms": round(float(np.percentile(a, q)), 2) for q in qs} | {"max_ms": round(float(a.max()), 2)}


# --- the clients' side (its own process) ---------------------------------------------------------
async def run_clients(url: str, token: str, n: int, rate: float, duration: float) -> dict:
    from .client import ControlClient

    clients = [await ControlClient(url, token, max_events=100).connect() for _ in range(n)]
    t0 = time.monotonic() + 0.5
    sends: list[list] = []  # [client, k, send time, reply latency or None, error code or None]

    async def one(i: int, c: ControlClient) -> None:
        ch = BENCH_CHANNELS[i]
        pending: dict[int, list] = {}
        waiters = []
        for k in range(int(rate * duration)):
            due = t0 + (k + i / n) / rate  # clients staggered across each period
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            rec = [i, k, time.monotonic(), None, None]
            sends.append(rec)
            pending[k] = rec
            waiters.append(asyncio.ensure_future(_send(c, ch, k, rec)))
        await asyncio.gather(*waiters)

    await asyncio.gather(*(one(i, c) for i, c in enumerate(clients)))
    for c in clients:
        await c.close()
    return {"t0": t0, "sends": sends}


async def _send(c, ch: str, k: int, rec: list) -> None:
    from .client import RemoteError

    try:
        await c.request("set_expression", timeout=10, values={ch: value_code(k) / 1000}, transition=0)
        rec[3] = time.monotonic() - rec[2]
    except RemoteError as e:
        rec[4] = e.code
    except (TimeoutError, asyncio.TimeoutError, ConnectionError):
        rec[4] = "no_reply"


def _clients_main(argv: list[str]) -> int:
    url, token, n, rate, duration, out = argv
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    t = time.monotonic()
    result = asyncio.run(run_clients(url, token, int(n), float(rate), float(duration)))
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.monotonic() - t
    result["cpu_share"] = (usage1.ru_utime + usage1.ru_stime - usage0.ru_utime - usage0.ru_stime) / wall
    Path(out).write_text(json.dumps(result))
    return 0


# --- the engine's side ------------------------------------------------------------------------------
def bench_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--clients", type=int, default=20, help="concurrent agents (default 20, at most 25)")
    p.add_argument("--rate", type=float, default=50.0, help="messages per second per agent (default 50)")
    p.add_argument("--duration", type=float, default=60.0, help="seconds of load (default 60)")
    p.add_argument("--engine", choices=("live", "sim"), default="live",
                   help="live: the real engine rendering the portrait; sim: the simulated engine (no pixels)")
    p.add_argument("--size", default="512x512", help="render size for the live engine (default 512x512)")
    p.add_argument("--fps", type=float, default=30.0, help="frames per second (default 30)")
    p.add_argument("--baseline", type=float, default=10.0,
                   help="seconds measured with no clients first, to tell the load's cost from the machine's (default 10)")


def bench_control(args: argparse.Namespace) -> dict:
    from ...core.clock import MonotonicClock
    from ...core.errors import InputError
    from .server import ControlServer, ServerConfig, ServerThread

    if not 1 <= args.clients <= len(BENCH_CHANNELS):
        raise InputError(f"--clients {args.clients}, expected 1..{len(BENCH_CHANNELS)}")
    token = "bench-" + os.urandom(16).hex()
    sightings: dict[tuple[int, int], list[float]] = defaultdict(list)
    idx = [CHANNEL_INDEX[c] for c in BENCH_CHANNELS[: args.clients]]
    last = [-1] * len(idx)

    def watch(vec: np.ndarray) -> None:
        now = time.monotonic()
        for i, j in enumerate(idx):
            code = int(round(float(vec[j]) * 1000))
            if code != last[i]:
                last[i] = code
                sightings[(i, code)].append(now)

    engine, run, stop, stats = _engine(args, watch)
    # The bench's own rates: 50 msg/s per client is the load we measure, not a flood to refuse.
    config = ServerConfig(port=0, rate=max(100.0, 2 * args.rate), burst=max(200.0, 4 * args.rate))
    server = ControlServer(engine, token=token, clock=MonotonicClock(), config=config)
    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    thread = ServerThread(server).start()
    time.sleep(1.0)  # let the loop settle before the load starts
    b_frames, b_late = stats()
    b_u = resource.getrusage(resource.RUSAGE_SELF)
    b_w = time.monotonic()
    time.sleep(args.baseline)
    b_frames, b_late = stats()[0] - b_frames, stats()[1] - b_late
    b_u1 = resource.getrusage(resource.RUSAGE_SELF)
    b_wall = time.monotonic() - b_w
    baseline = {
        "seconds": args.baseline,
        "fps": round(b_frames / b_wall, 2),
        "frame_drop_pct": round(100.0 * b_late / max(1, b_frames + b_late), 3),
        "engine_process_cpu_share": round((b_u1.ru_utime + b_u1.ru_stime - b_u.ru_utime - b_u.ru_stime) / b_wall, 3),
    }
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "clients.json"
        f0, late0 = stats()
        c0 = thread.cpu_time()
        u0 = resource.getrusage(resource.RUSAGE_SELF)
        w0 = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", __name__, "clients", server.url, token, str(args.clients),
                               str(args.rate), str(args.duration), str(out)], capture_output=True, text=True,
                              timeout=args.duration * 3 + 60)
        w1 = time.monotonic()
        u1 = resource.getrusage(resource.RUSAGE_SELF)
        c1 = thread.cpu_time()
        f1, late1 = stats()
        if proc.returncode != 0:
            raise RuntimeError(f"bench clients failed: {proc.stderr[-2000:]}")
        clients = json.loads(out.read_text())
    thread.stop()
    stop()
    runner.join(10)

    sends = clients["sends"]
    ok = [s for s in sends if s[3] is not None]
    frame_lat, shown = [], 0
    for i, k, t_send, _, err in sends:
        if err is not None:
            continue
        times = sightings.get((i, value_code(k)), [])
        j = bisect.bisect_left(times, t_send)
        if j < len(times) and times[j] - t_send < 2.0:
            frame_lat.append(times[j] - t_send)
            shown += 1
    frames, late = f1 - f0, late1 - late0
    errors: dict[str, int] = defaultdict(int)
    for s in sends:
        if s[4] is not None:
            errors[s[4]] += 1
    return {
        "benchmark": "control",
        "engine": args.engine,
        "size": args.size if args.engine == "live" else None,
        "clients": args.clients,
        "rate_per_client": args.rate,
        "duration_s": args.duration,
        "messages_sent": len(sends),
        "replies_ok": len(ok),
        "errors": dict(errors),
        "message_loss_pct": round(100.0 * (len(sends) - len(ok)) / max(1, len(sends)), 3),
        "reply_latency": _pct([s[3] for s in ok]),
        "command_to_frame_latency": _pct(frame_lat),
        "values_shown_pct": round(100.0 * shown / max(1, len(ok)), 1),
        "frames": frames,
        "frames_dropped": late,
        "frame_drop_pct": round(100.0 * late / max(1, frames + late), 3),
        "fps": round(frames / (w1 - w0), 2),
        # CPU the protocol server's own thread spent per message: independent of how busy the machine is
        "server_cpu_us_per_message": round((c1 - c0) / max(1, len(sends)) * 1e6, 1),
        "engine_process_cpu_share": round((u1.ru_utime + u1.ru_stime - u0.ru_utime - u0.ru_stime) / (w1 - w0), 3),
        "client_process_cpu_share": round(clients["cpu_share"], 3),
        "baseline_without_clients": baseline,
        "machine_load_avg_1min": round(os.getloadavg()[0], 2),
        "cpu_count": os.cpu_count(),
        "server_counters": dict(server.counters),
    }


def _engine(args: argparse.Namespace, watch):
    """(EngineControl, run, stop, stats() -> (frames, late)) for --engine live or sim."""
    from ...core.clock import MonotonicClock

    if args.engine == "sim":
        from .sim_engine import SimEngine

        eng = SimEngine(clock=MonotonicClock(), fps=args.fps)
        eng.frame_hooks.append(lambda frame, t: watch(frame.to_vector()))
        return eng, lambda: asyncio.run(eng.run()), eng.stop, lambda: (eng.frames, eng.late_frames)

    from ..config import load_config
    from ..live import build_live

    w, h = (int(x) for x in args.size.lower().split("x"))
    cfg = load_config(None, {"audio.source": "none", "sinks.virtualcam": False, "sinks.mjpeg": False,
                             "engine.width": w, "engine.height": h, "engine.fps": args.fps})
    app = build_live(cfg)
    app.engine.on_frame(lambda video, motion: watch(motion.to_vector()))

    def run() -> None:
        from ...core.render.threads import single_thread

        with single_thread():  # as `marionette run` does: one BLAS/OpenCV thread
            asyncio.run(app.run(None))

    def stats() -> tuple[int, int]:
        st = app.engine.stats()
        return st.frames, st.late_ticks

    return app, run, app.stop, stats


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "clients":
        sys.exit(_clients_main(sys.argv[2:]))
    sys.exit("usage: python -m marionette.plugin.control.bench clients URL TOKEN N RATE DURATION OUT")
