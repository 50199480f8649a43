"""Sustained-run check for the live engine (issue 5): `marionette run --source mic` for N seconds
(default 600) fed by a user-space PulseAudio virtual microphone, with an MJPEG viewer attached as
OBS would be. Prints the engine's own stats lines, then one JSON line: CPU share of the run process
and of PulseAudio, memory every 30 s, load average.

    .venv/bin/python scripts/soak_mic.py [SECONDS]

Needs the test extras (`bash scripts/setup.sh --test`): pulseaudio and PyAV. Run it on a quiet
machine; other load changes the CPU figure."""
import json, os, re, subprocess, sys, tempfile, threading, time
from pathlib import Path
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
import numpy as np
import pulse
from engine_doubles import tone_bursts
SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 600
pa = pulse.PulseServer(tempfile.mkdtemp(prefix="marionette-soak-")).start()
env = {**os.environ, **pa.env}
proc = subprocess.Popen([sys.executable, "-m", "marionette.plugin.cli", "run", "--source", "mic", "--device", "pulse",
                         "--no-say", "--mjpeg-port", "8799", "--duration", str(SECONDS), "--stats-every", "60",
                         "--no-control", "--no-panel"],
                        cwd=str(REPO), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
lines = []
def reader():
    for l in proc.stdout:
        lines.append(l.rstrip()); print(l.rstrip(), flush=True)
threading.Thread(target=reader, daemon=True).start()
while not any("running at" in l for l in lines):
    time.sleep(0.1)
# speech-like input for the whole run: syllables of buzz in sentences with pauses
rng = np.random.default_rng(1)
t = 0.0
while t < SECONDS + 5:
    speak, pause = rng.uniform(1, 4), rng.uniform(0.5, 2)
    bursts = [(a, min(a + 0.2, speak)) for a in np.arange(0, speak, 0.3)]
    pa.feed_mic(tone_bursts(16000, speak + pause, bursts, chunk=speak + pause)[0].samples)
    t += speak + pause
def cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")
# a viewer, as OBS would be
def view():
    import av
    n = 0
    try:
        url = next(m.group(1) for l in lines if (m := re.search(r"watch (http://\S+)", l)))  # carries the token
        with av.open(url, format="mpjpeg", timeout=10) as c:
            for f in c.demux(video=0):
                n += 1
    except Exception as e:
        pass
    print("viewer packets", n, flush=True)
threading.Thread(target=view, daemon=True).start()
time.sleep(2)
c0, w0, pc0 = cpu(proc.pid), time.monotonic(), cpu(pa.proc.pid)
load0 = os.getloadavg()
def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        return [int(l.split()[1]) // 1024 for l in f if l.startswith("VmRSS")][0]
rsses = []
end = time.monotonic() + SECONDS - 4
while time.monotonic() < end:
    rsses.append(rss(proc.pid)); time.sleep(min(30, max(0.1, end - time.monotonic())))
c1, w1, pc1 = cpu(proc.pid), time.monotonic(), cpu(pa.proc.pid)
print("rss MB every 30 s", rsses, flush=True)
proc.wait()
time.sleep(1)
res = {"seconds_measured": round(w1 - w0, 1), "run_cpu_percent_of_one_core": round(100 * (c1 - c0) / (w1 - w0), 1),
       "pulseaudio_cpu_percent": round(100 * (pc1 - pc0) / (w1 - w0), 1), "loadavg_start": load0, "loadavg_end": os.getloadavg()}
print(json.dumps(res), flush=True)
pa.stop()
