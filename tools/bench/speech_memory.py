"""Memory and first-sound latency of `speak` on a running `marionette run` (issue 15, item 1).

Starts the engine as a user would (piper voice, greeting, no devices, its control websocket on
a free port), waits for the greeting to end, and samples the engine's RSS from /proc every
100 ms while it speaks unpunctuated text of several lengths (the worst case: nothing to split
at but spaces). For each: RSS before, the peak while speaking, and after speech_end; the longest
text is interrupted after ``--hold`` seconds and RSS is read again. Time to first sound is the
time from sending `speak` to its speech_start event, which fires on the frame that shows the
first sound (the speaker plays it then too, held back by the A/V delay). Texts over the
protocol's 4,000 characters go as several messages on one connection. Prints JSON. Loopback only.

    python -m marionette.tools.bench.speech_memory --lengths 250 1000 10000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class _Sampler:
    """Peak RSS of a process between reset() and peak()."""

    def __init__(self, pid: int) -> None:
        self.pid, self._peak, self._stop = pid, 0.0, threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._peak = max(self._peak, _rss_mb(self.pid))
            except OSError:
                return
            time.sleep(0.1)

    def reset(self) -> None:
        self._peak = _rss_mb(self.pid)

    def peak(self) -> float:
        return round(self._peak, 1)

    def stop(self) -> None:
        self._stop.set()


def start_engine(tmp: str, extra: list[str]) -> tuple[subprocess.Popen, str, str, list[str]]:
    """`marionette run` with its control websocket on a free port; (process, url, token, output lines)."""
    token_file = os.path.join(tmp, "token")
    cfg = os.path.join(tmp, "run.toml")
    import dataclasses

    from marionette.plugin.config import SinksConfig

    # Older checkouts (the "before" figure, run with PYTHONPATH) have no virtual microphone.
    vmic = "virtual_mic = false\n" if "virtual_mic" in {f.name for f in dataclasses.fields(SinksConfig)} else ""
    with open(cfg, "w") as fh:
        fh.write(f'[sinks]\nvirtualcam = false\nmjpeg = false\n{vmic}'
                 f'[control]\nport = 0\ntoken_file = "{token_file}"\n[panel]\nenabled = false\n')
    cmd = [sys.executable, "-m", "marionette.plugin.cli", "run", "--config", cfg, "--no-play",
           "--stats-every", "0", *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    url = None
    deadline = time.monotonic() + 180
    while url is None:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("the engine exited during start:\n" + "\n".join(lines[-20:]))
        lines.append(line.rstrip())
        m = re.search(r"control websocket (ws://\S+)", line)
        url = m.group(1) if m else None
        if time.monotonic() > deadline:
            raise RuntimeError("the engine did not start in 180 s")
    threading.Thread(target=lambda: [lines.append(x.rstrip()) for x in proc.stdout], daemon=True).start()
    with open(token_file) as fh:
        return proc, url, fh.read().strip(), lines


async def _idle(client, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        st = await client.request("get_state")
        engine = st.get("engine", st)
        if engine.get("speaking") is None and not engine.get("queued_texts") and not engine.get("queued_seconds"):
            return
        if time.monotonic() > deadline:
            raise TimeoutError("the engine never went quiet")
        await asyncio.sleep(0.5)


async def measure(url: str, token: str, pid: int, lengths: list[int], hold: float, settle: float) -> dict:
    from marionette.plugin.control.client import ControlClient

    sampler = _Sampler(pid)
    out: dict = {"runs": []}
    async with ControlClient(url, token) as client:
        await client.request("subscribe", events=["speech"])
        await _idle(client)
        await asyncio.sleep(settle)
        out["idle_rss_mb"] = round(_rss_mb(pid), 1)
        longest = max(lengths)
        for n in lengths:
            text = ("hello world " * (n // 12 + 1))[:n].strip()
            parts = [text[i:i + 4000] for i in range(0, len(text), 4000)]
            while not client.events.empty():
                client.events.get_nowait()
            before = round(_rss_mb(pid), 1)
            sampler.reset()
            t0 = time.monotonic()
            ids = []
            for part in parts:
                ids += (await client.request("speak", text=part))["speech_ids"]
            start = await client.next_event("speech_start", timeout=120)
            first = time.monotonic() - t0
            row = {"chars": len(text), "messages": len(parts), "rss_before_mb": before,
                   "first_sound_s": round(first, 3), "speech_id": start["speech_id"]}
            if n == longest:
                await asyncio.sleep(hold)
                row["rss_peak_speaking_mb"] = sampler.peak()
                await client.request("interrupt")
                t1 = time.monotonic()
                await _idle(client)
                row["idle_after_interrupt_s"] = round(time.monotonic() - t1, 2)
                await asyncio.sleep(settle)
                row["rss_after_interrupt_mb"] = round(_rss_mb(pid), 1)
            else:
                deadline = time.monotonic() + 30 + n / 5
                while True:
                    ev = await client.next_event("speech_end", timeout=max(1.0, deadline - time.monotonic()))
                    if ev["speech_id"] == ids[-1]:
                        break
                row["spoken_s"] = round(time.monotonic() - t0, 1)
                row["rss_peak_speaking_mb"] = sampler.peak()
                await asyncio.sleep(settle)
                row["rss_after_end_mb"] = round(_rss_mb(pid), 1)
            out["runs"].append(row)
    sampler.stop()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lengths", type=int, nargs="+", default=[250, 1000, 10000], help="characters per text")
    p.add_argument("--hold", type=float, default=20.0, help="seconds the longest text speaks before interrupt")
    p.add_argument("--settle", type=float, default=3.0, help="seconds to wait before reading RSS after speech")
    p.add_argument("--tts-engine", default="piper")
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        proc, url, token, lines = start_engine(tmp, ["--tts-engine", a.tts_engine])
        try:
            result = asyncio.run(measure(url, token, proc.pid, a.lengths, a.hold, a.settle))
            t0 = time.monotonic()
            proc.send_signal(2)  # Ctrl-C
            proc.wait(60)
            result["ctrl_c_exit_s"] = round(time.monotonic() - t0, 2)
            result["exit_code"] = proc.returncode
        finally:
            if proc.poll() is None:
                proc.kill()
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
