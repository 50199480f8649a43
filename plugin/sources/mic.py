"""The microphone, through sounddevice: live audio with the lowest latency we can get.

PortAudio's callback hands 10-20 ms blocks to a queue; nothing is delayed or buffered beyond that.
A supervisor thread reopens the device when it vanishes (unplugged, server restarted) and says so
as a status event. Trade-off: PortAudio keeps its device list from start-up, so a reappearing
device is found by re-initialising PortAudio, which briefly interrupts every stream of the process.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Callable

import numpy as np

from marionette.core.clock import Clock
from marionette.core.engine import StatusEvent
from marionette.core.errors import InputError
from marionette.core.types import AudioChunk

from . import portaudio

log = logging.getLogger(__name__)


class MicrophoneUnavailable(InputError):
    """No input device (or not the one asked for); the message lists what exists and how to fix it."""


def _sd():
    try:
        import sounddevice as sd
    except OSError as e:  # the wheel is there but PortAudio (libportaudio2) is not
        raise MicrophoneUnavailable(f"sounddevice cannot load PortAudio ({e}); install it: apt install libportaudio2") from e
    except ImportError as e:
        raise MicrophoneUnavailable("sounddevice is not installed: pip install sounddevice") from e
    return sd


def input_devices() -> list[tuple[int, str, int]]:
    """(index, name, max input channels) of every input device PortAudio sees now."""
    sd = _sd()
    return [(i, d["name"], int(d["max_input_channels"])) for i, d in enumerate(sd.query_devices())
            if d["max_input_channels"] > 0]


def find_input_device(device: int | str | None) -> int:
    """Index of the input device named (substring, case-insensitive) or numbered; default if None."""
    sd = _sd()
    devices = input_devices()
    listing = ", ".join(f"{i}: {n}" for i, n, _ in devices) or "none"
    if not devices:
        raise MicrophoneUnavailable("no audio input device found (PortAudio lists none). Plug in a microphone, "
                                    "or start PulseAudio/PipeWire; `marionette doctor` shows what is seen")
    if device is None:
        idx = sd.default.device[0]
        if idx is None or idx < 0 or idx not in [d[0] for d in devices]:
            idx = devices[0][0]
        return int(idx)
    if isinstance(device, int) or str(device).isdigit():
        idx = int(device)
        if idx not in [d[0] for d in devices]:
            raise MicrophoneUnavailable(f"input device {idx} not found; input devices: {listing}")
        return idx
    hits = [i for i, n, _ in devices if str(device).lower() in n.lower()]
    if not hits:
        raise MicrophoneUnavailable(f"no input device named like {device!r}; input devices: {listing}")
    return hits[0]


class MicrophoneSource:
    """Live input (core.stages.AudioSource). chunk t = clock time of the chunk's first sample,
    estimated as (callback time - chunk duration - PortAudio's input latency)."""

    name = "microphone"

    def __init__(self, clock: Clock, *, device: int | str | None = None, sample_rate: int = 16000,
                 block: float = 0.01, retry_every: float = 1.0) -> None:
        self.clock = clock
        self.device = device
        self.sample_rate = sample_rate
        self.blocksize = max(16, int(block * sample_rate))
        self.retry_every = retry_every
        self._q: queue.Queue[AudioChunk] = queue.Queue(maxsize=500)
        self._report: Callable[[StatusEvent], None] = lambda e: log.info("%s", e)
        self._stream = None
        self._generation = -1
        self._lost = threading.Event()
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        self.input_latency = 0.0
        self.opened_device: str | None = None
        self.reopens = 0

    def set_reporter(self, report: Callable[[StatusEvent], None]) -> None:
        self._report = report

    def start(self, *, wait: bool = True) -> "MicrophoneSource":
        """Open the device (raising MicrophoneUnavailable if wait and it cannot), then supervise it."""
        err = self._open()
        if err is not None and wait:
            raise err
        if err is not None:
            self._report(StatusEvent("source:microphone", str(err), "error", retrying=True))
        self._thread = threading.Thread(target=self._supervise, name="mic-supervisor", daemon=True)
        self._thread.start()
        return self

    def _open(self) -> MicrophoneUnavailable | None:
        try:
            sd = _sd()
            idx = find_input_device(self.device)
            self._generation = portaudio.generation()
            stream = sd.InputStream(device=idx, channels=1, samplerate=self.sample_rate, dtype="float32",
                                    blocksize=self.blocksize, latency="low", callback=self._callback,
                                    finished_callback=self._lost.set)
            stream.start()
        except MicrophoneUnavailable as e:
            return e
        except Exception as e:  # noqa: BLE001 - PortAudioError and friends: report, retry
            return MicrophoneUnavailable(f"cannot open microphone {self.device!r}: {e}")
        self._lost.clear()
        self._generation = portaudio.generation()
        self._stream = stream
        self.input_latency = float(stream.latency)
        self.opened_device = sd.query_devices(idx)["name"]
        return None

    def _callback(self, indata, frames, time_info, status) -> None:  # PortAudio's thread
        now = self.clock.now()
        x = np.array(indata[:, 0], np.float32)
        t = now - frames / self.sample_rate - self.input_latency
        try:
            self._q.put_nowait(AudioChunk(x, self.sample_rate, t))
        except queue.Full:
            pass  # nobody reads: drop the oldest audio rather than grow

    def _supervise(self) -> None:
        while not self._closing.is_set():
            if self._stream is not None:
                if self._lost.wait(0.5) or self._generation != portaudio.generation() or not self._stream.active:
                    if self._closing.is_set():
                        return
                    self._drop_stream()
                    self._report(StatusEvent("source:microphone", f"device {self.opened_device!r} stopped", "error", retrying=True))
                continue
            if self._closing.wait(self.retry_every):
                return
            self._reinit_portaudio()
            if self._open() is None:
                self.reopens += 1
                self._report(StatusEvent("source:microphone", f"recording from {self.opened_device!r} again", "recovered"))

    def _drop_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None and self._generation == portaudio.generation():  # else PortAudio closed it
            try:
                stream.abort()
                stream.close()
            except Exception:  # noqa: BLE001 - the device is already gone
                pass

    @staticmethod
    def _reinit_portaudio() -> None:
        _sd()
        portaudio.reinit()

    @property
    def alive(self) -> bool:
        s = self._stream
        return s is not None and self._generation == portaudio.generation() and s.active

    def read(self) -> AudioChunk | None:
        try:
            return self._q.get_nowait()
        except queue.Empty:
            return None

    def clear(self) -> None:
        while self.read() is not None:
            pass

    def close(self) -> None:
        self._closing.set()
        self._lost.set()
        if self._thread is not None:
            self._thread.join(3)
        self._drop_stream()
