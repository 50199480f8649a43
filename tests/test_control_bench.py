"""`marionette bench control` runs end to end (short and small here; the 20 x 50 x 60 s figures
come from running the command itself, not from a timing assertion)."""

import json
import subprocess
import sys


def test_bench_control_smoke():
    out = subprocess.run([sys.executable, "-m", "marionette.plugin.cli", "bench", "control", "--engine", "sim",
                          "--clients", "3", "--rate", "20", "--duration", "2", "--baseline", "0.5", "--json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert r["messages_sent"] == 120 and r["replies_ok"] == 120 and r["message_loss_pct"] == 0.0
    assert r["command_to_frame_latency"]["p99_ms"] is not None and r["values_shown_pct"] > 50
    assert r["frames"] > 30 and "baseline_without_clients" in r
