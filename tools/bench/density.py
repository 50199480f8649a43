"""`marionette bench density`: how many avatars one process holds at the target frame rate.

Sessions are added one at a time, as `marionette serve` hosts them (plugin/session.py: one engine
each, the portrait analysed once and shared), every one of them talking all the time (espeak-ng
speech pushed on a loop, so the generator runs and the mouth layer is drawn). After each addition
the bench waits for the loops to settle and measures every session's frame rate, the process's
CPU (cores busy) and resident memory. An avatar "holds" when it renders at least 97 % of the
target rate with at most 2 % of its ticks late. Trade-off: the figure is for this machine as it is
now (shared cores, other work); the load average is reported next to it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

import numpy as np

HOLD_FPS = 0.97
HOLD_LATE = 0.02


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--size", default="512x512", help="avatar size (default 512x512)")
    p.add_argument("--fps", type=float, default=30.0, help="target frame rate (default 30)")
    p.add_argument("--max", type=int, default=16, help="most avatars to try (default 16)")
    p.add_argument("--seconds", type=float, default=5.0, help="measured seconds per step (default 5)")
    p.add_argument("--settle", type=float, default=2.0, help="seconds after each addition before measuring (default 2)")
    p.add_argument("--generator", default="envelope", help="motion generator of every avatar (default envelope)")
    p.add_argument("--silent", action="store_true", help="avatars idle instead of talking")


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def bench_density(args: argparse.Namespace) -> dict:
    from marionette.core.render.framing import parse_size
    from marionette.core.speech import synthesize
    from marionette.plugin.session import AvatarOptions, AvatarSession, SharedAssets

    w, h = parse_size(args.size)
    options = AvatarOptions(width=w, height=h, fps=args.fps, generator=args.generator)
    speech, _ = synthesize("I can talk all day, and so can every one of my friends on this machine. "
                           "Each of us has a face, a voice and a mind of our own.", engine="espeak")
    pcm = (np.clip(speech.samples, -1, 1) * 32767).astype("<i2").tobytes()
    seconds_of_speech = len(pcm) / 2 / speech.sample_rate

    async def feed(session: AvatarSession) -> None:
        """Keep the avatar talking: the next utterance is queued before the last one ends."""
        while True:
            session.push_pcm16(pcm, speech.sample_rate)
            session.control.end_segment()
            await asyncio.sleep(seconds_of_speech + 0.3)

    async def main() -> dict:
        assets = SharedAssets()
        t0 = time.perf_counter()
        assets.renderer(options)
        analysis_s = time.perf_counter() - t0
        rss_base = _rss_mb()
        sessions: list[AvatarSession] = []
        feeders: list[asyncio.Task] = []
        rows, held = [], 0
        try:
            for n in _progress(range(1, args.max + 1)):
                s = AvatarSession.create(assets, options)
                sessions.append(s)
                s.start()
                if not args.silent:
                    feeders.append(asyncio.create_task(feed(s)))
                await asyncio.sleep(args.settle)
                before = [(x.engine.frames, x.engine.late_ticks) for x in sessions]
                c0, w0 = time.process_time(), time.perf_counter()
                await asyncio.sleep(args.seconds)
                wall = time.perf_counter() - w0
                cores = (time.process_time() - c0) / wall
                fps, late = [], []
                for x, (f0, l0) in zip(sessions, before):
                    frames, lates = x.engine.frames - f0, x.engine.late_ticks - l0
                    fps.append(frames / wall)
                    late.append(lates / max(frames + lates, 1))
                ok = min(fps) >= HOLD_FPS * args.fps and max(late) <= HOLD_LATE
                frames_all = sum(fps) * wall
                rows.append({"avatars": n, "fps_min": round(min(fps), 1), "fps_mean": round(float(np.mean(fps)), 1),
                             # process CPU per rendered frame: what an avatar costs whatever the load
                             "cpu_ms_per_frame": round(cores * wall / max(frames_all, 1) * 1e3, 2),
                             "late_max": round(max(late), 3), "cpu_cores": round(cores, 2), "rss_mb": round(_rss_mb(), 1),
                             "start_ms": round(s.start_seconds * 1e3, 1), "held": ok,
                             "load_average_1min": round(os.getloadavg()[0], 2)})
                if not ok:
                    break
                held = n
        finally:
            for t in feeders:
                t.cancel()
            await asyncio.gather(*feeders, return_exceptions=True)
            for x in sessions:
                await x.close()
        first = rows[0]
        top = rows[held - 1] if held else None
        per_frame = float(np.median([r["cpu_ms_per_frame"] for r in rows]))
        cores_each = per_frame * args.fps / 1e3
        return {
            "benchmark": "density",
            "size": f"{w}x{h}", "target_fps": args.fps, "generator": args.generator, "talking": not args.silent,
            "avatars_held": held,
            # The same question answered from CPU cost alone (all cores, nothing else running): the
            # figure to compare when the machine was busy with other work during the run.
            "cpu_cores_per_avatar_by_cost": round(cores_each, 3),
            "avatars_by_cpu_cost": int((os.cpu_count() or 1) / cores_each) if cores_each > 0 else None,
            "cpu_cores_per_avatar": round(top["cpu_cores"] / held, 3) if top else None,
            # What one more avatar costs in memory once the portrait is analysed and shared.
            "memory_per_extra_avatar_mb": round((top["rss_mb"] - first["rss_mb"]) / (held - 1), 1) if top and held > 1 else None,
            "memory_first_avatar_mb": round(first["rss_mb"] - rss_base, 1),
            "portrait_analysis_s": round(analysis_s, 2),
            "session_start_ms_median": round(float(np.median([r["start_ms"] for r in rows])), 1),
            "cpus": os.cpu_count(),
            "steps": rows,
        }

    return asyncio.run(main())


def _progress(it):
    try:
        from tqdm import tqdm

        return tqdm(it, desc="avatars", file=sys.stderr, leave=False)
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return it
