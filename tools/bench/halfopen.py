"""Threads and memory of a running `marionette run` while N half-open connections sit on its HTTP ports.

Issue 15's probe, repeatable: start the engine (espeak, no devices, small picture), then for each
port (the MJPEG stream, the control panel) open N sockets that send half a request head and then
nothing, hold them ``seconds``, sampling the engine's thread count and RSS from /proc each second,
and check whether a real viewer still gets a frame meanwhile and afterwards. Prints JSON.
Loopback only. Run another checkout's engine with PYTHONPATH (the "before" figure).

    python -m marionette.tools.bench.halfopen --connections 200 --seconds 30
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from urllib.parse import urlsplit


def _proc(pid: int) -> tuple[int, float]:
    """(threads, RSS in MB) of a process from /proc."""
    threads = rss = 0
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("Threads:"):
                threads = int(line.split()[1])
            elif line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
    return threads, rss


def _viewer_gets_a_frame(url: str, timeout: float = 3.0) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as s:
            path = f"{parts.path}?{parts.query}" if parts.query else parts.path
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: {parts.hostname}:{parts.port}\r\n\r\n".encode())
            data = b""
            deadline = time.monotonic() + timeout
            while b"\xff\xd8" not in data and time.monotonic() < deadline:  # a JPEG start
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            return data.startswith(b"HTTP/1.") and b" 200 " in data[:20] and b"\xff\xd8" in data
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(connections: int, seconds: float) -> dict:
    mjpeg_port, panel_port = _free_port(), _free_port()
    cfg_dir = tempfile.mkdtemp(prefix="marionette-halfopen-")
    env = {**os.environ, "MARIONETTE_CONFIG_DIR": cfg_dir, "OPENBLAS_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "marionette.plugin.cli", "run", "--no-virtualcam", "--source", "tts",
           "--tts-engine", "espeak", "--no-play", "--no-say", "--size", "256x256", "--fps", "15",
           "--mjpeg-port", str(mjpeg_port), "--panel-port", str(panel_port), "--control-port", "0",
           "--stats-every", "0", "--duration", str(2 * seconds + 180)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    url = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip())
        found = re.search(r"watch (http://\S+)", line)
        if found:
            url = found.group(1)
        if "running at" in line:
            break
    if url is None:
        proc.kill()
        raise SystemExit("run did not start:\n" + "\n".join(lines))
    threading.Thread(target=lambda: [lines.append(x.rstrip()) for x in proc.stdout], daemon=True).start()
    time.sleep(3.0)
    out: dict = {"connections": connections, "seconds": seconds, "idle": dict(zip(("threads", "rss_mb"),
                                                                                    _proc(proc.pid)))}
    for name, port in (("mjpeg", mjpeg_port), ("panel", panel_port)):
        held, refused = [], 0
        for _ in range(connections):
            s = socket.socket()
            s.settimeout(2)
            try:
                s.connect(("127.0.0.1", port))
                s.sendall(b"GET / HTTP/1.1\r\n")  # half a request head, then silence
                held.append(s)
            except OSError:
                refused += 1
                s.close()
        samples = []
        viewer_during = None
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            samples.append(_proc(proc.pid))
            if viewer_during is None and time.monotonic() - t0 > 1.0:
                viewer_during = _viewer_gets_a_frame(url)
            time.sleep(1.0)
        still_open = 0
        for s in held:
            s.setblocking(False)
            try:
                s.recv(65536)  # b"": closed by the server; an answer (503, 408): answered and closed
            except BlockingIOError:
                still_open += 1  # nothing to read and not closed: the server still holds it
            except OSError:
                pass  # reset by the server
            s.close()
        time.sleep(2.0)
        after = _proc(proc.pid)
        out[name] = {"max_threads": max(t for t, _ in samples), "max_rss_mb": round(max(r for _, r in samples), 1),
                     "threads_after_close": after[0], "rss_after_close_mb": round(after[1], 1),
                     "connect_refused": refused, "held_open_by_server_at_end": still_open,
                     "viewer_got_a_frame_during": viewer_during, "viewer_got_a_frame_after": _viewer_gets_a_frame(url)}
    out["engine_alive_at_end"] = proc.poll() is None
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
    out["exit_code"] = proc.returncode
    out["tracebacks"] = sum(1 for x in lines if x.startswith("Traceback"))
    kinds: dict[str, int] = {}
    for x in lines:  # the exception line that ends each traceback
        found = re.match(r"^(\w+(?:Error|Exception|Exit))\b", x)
        if found:
            kinds[found.group(1)] = kinds.get(found.group(1), 0) + 1
    out["exceptions"] = kinds
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--connections", type=int, default=200, help="half-open sockets per port (default 200)")
    p.add_argument("--seconds", type=float, default=30.0, help="how long to hold them (default 30)")
    args = p.parse_args(argv)
    print(json.dumps(run(args.connections, args.seconds)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
