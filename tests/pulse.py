"""A user-space PulseAudio server for tests: a virtual microphone fed from a FIFO and a null-sink
speaker whose monitor we can record. Real timing, bit-exact audio, no sound card.

Clients in this process reach it through PULSE_SERVER (PortAudio -> ALSA -> pulse plugin), so
the server must start before PortAudio is (re)initialised: use ``reinit_portaudio()``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np

MIC_RATE = 16000


def available() -> str | None:
    """None if a PulseAudio server can run here, else why not."""
    for tool in ("pulseaudio", "pactl", "parec"):
        if shutil.which(tool) is None:
            return f"{tool} not found (apt install pulseaudio pulseaudio-utils; scripts/setup.sh --test does)"
    try:
        import sounddevice  # noqa: F401
    except OSError as e:
        return f"PortAudio missing ({e}); apt install libportaudio2 libasound2-plugins"
    return None


class PulseServer:
    """start() / stop(); feed_mic(samples) plays float32 16 kHz audio into the virtual microphone
    at real-time pace (silence in between); record_speaker() captures what was played."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.runtime = self.root / "rt"
        self.fifo = self.root / "mic.fifo"
        self.socket = self.runtime / "pulse" / "native"
        self.proc: subprocess.Popen | None = None
        self._feeder: threading.Thread | None = None
        self._stop = threading.Event()
        self._queue: list[np.ndarray] = []
        self._lock = threading.Lock()
        self.fed_at: list[tuple[float, int]] = []  # (time.monotonic() when written, sample index)
        self.samples_fed = 0

    @property
    def env(self) -> dict[str, str]:
        return {"PULSE_SERVER": f"unix:{self.socket}", "PULSE_SOURCE": "vmic", "PULSE_SINK": "speaker",
                "XDG_RUNTIME_DIR": str(self.runtime)}

    def start(self) -> "PulseServer":
        self.runtime.mkdir(parents=True, exist_ok=True)
        os.chmod(self.runtime, 0o700)
        env = {**os.environ, "HOME": str(self.root), "XDG_RUNTIME_DIR": str(self.runtime)}
        self.proc = subprocess.Popen(
            ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--disallow-exit", "--use-pid-file=no",
             "--log-level=error", "-L", "module-native-protocol-unix auth-anonymous=1",
             "-L", "module-null-sink sink_name=speaker rate=48000 channels=1",
             "-L", f"module-pipe-source source_name=vmic file={self.fifo} format=s16le rate={MIC_RATE} channels=1",
             "-L", "module-always-sink"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            r = subprocess.run(["pactl", "info"], env={**env, **self.env}, capture_output=True)
            if r.returncode == 0:
                break
            time.sleep(0.1)
        else:
            err = self.proc.stderr.read1(4000).decode(errors="replace") if self.proc.poll() is not None else ""
            self.stop()
            raise RuntimeError(f"PulseAudio did not start within 10 s {err}")
        if not self.fifo.exists():  # module-pipe-source makes the FIFO itself
            r = subprocess.run(["pactl", "list", "short", "sources"], env={**env, **self.env}, capture_output=True, text=True)
            self.stop()
            raise RuntimeError(f"the virtual microphone did not come up; sources: {r.stdout}")
        for k, v in self.env.items():
            os.environ[k] = v
        subprocess.run(["pactl", "set-default-source", "vmic"], env=os.environ, check=False)
        subprocess.run(["pactl", "set-default-sink", "speaker"], env=os.environ, check=False)
        self._stop.clear()
        self._feeder = threading.Thread(target=self._feed, name="pulse-mic-feeder", daemon=True)
        self._feeder.start()
        return self

    def feed_mic(self, samples: np.ndarray) -> None:
        """Queue float32 mono 16 kHz samples for the virtual microphone."""
        with self._lock:
            self._queue.append(np.asarray(samples, np.float32))

    def _feed(self) -> None:
        # Open read-write so open() does not block waiting for the server's reader end.
        fd = os.open(self.fifo, os.O_RDWR)
        block = MIC_RATE // 100  # 10 ms
        t0 = time.monotonic()
        sent = 0
        try:
            while not self._stop.is_set():
                due = int((time.monotonic() - t0) * MIC_RATE) - sent
                if due < block:
                    time.sleep(0.003)
                    continue
                out = np.zeros(due, np.float32)
                with self._lock:
                    filled = 0
                    while filled < due and self._queue:
                        head = self._queue[0]
                        k = min(due - filled, head.size)
                        out[filled:filled + k] = head[:k]
                        filled += k
                        if k == head.size:
                            self._queue.pop(0)
                        else:
                            self._queue[0] = head[k:]
                pcm = (np.clip(out, -1, 1) * 32767).astype("<i2").tobytes()
                self.fed_at.append((time.monotonic(), self.samples_fed))
                os.write(fd, pcm)
                sent += due
                self.samples_fed += due
        except OSError:
            pass
        finally:
            os.close(fd)

    def record_speaker(self, seconds: float, rate: int = 48000) -> np.ndarray:
        """Record the speaker's monitor for ``seconds``; float32 mono."""
        proc = subprocess.Popen(["parec", "-d", "speaker.monitor", "--format=s16le", f"--rate={rate}",
                                 "--channels=1", "--raw"], env=os.environ, stdout=subprocess.PIPE)
        time.sleep(seconds)
        proc.send_signal(signal.SIGINT)
        data, _ = proc.communicate(timeout=5)
        return np.frombuffer(data, "<i2").astype(np.float32) / 32768.0

    def kill(self) -> None:
        """Take the server away (the microphone 'vanishes'); start() brings it back."""
        self._stop.set()
        if self._feeder is not None:
            self._feeder.join(2)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def stop(self) -> None:
        self.kill()
        for k in self.env:
            os.environ.pop(k, None)
        try:
            reinit_portaudio()  # forget the devices of the server we just stopped
        except OSError:
            pass


def reinit_portaudio() -> None:
    """PortAudio reads its device list once: re-read it after the server starts or stops."""
    import sounddevice as sd

    sd._terminate()
    sd._initialize()
