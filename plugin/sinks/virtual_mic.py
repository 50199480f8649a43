"""The virtual microphone "Marionette Microphone": the user's voice (microphone or synthesized
speech, whatever the avatar says) delayed to leave with the avatar's picture, for call apps.

A video call app that takes our virtual camera should take this microphone too: then lips and
voice arrive in sync. The engine creates it on the user's PulseAudio or PipeWire (pipewire-pulse)
server with `pactl load-module module-pipe-source` and removes it on close; one left behind by a
crash is removed at the next start. A writer thread feeds the pipe at real-time pace on the clock,
each sample at the moment the engine stamped on it (core.stages.SoundSink), silence in between,
so the source never runs dry or ahead. Trade-off: the pipe source adds PulseAudio's own few
milliseconds; we do not try to guess the call app's buffering.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Callable

import numpy as np

from marionette.core.clock import Clock
from marionette.core.engine import StatusEvent
from marionette.core.errors import InputError
from marionette.core.types import AudioChunk

from .stamped_audio import StampedAudio

log = logging.getLogger(__name__)

SOURCE_NAME = "marionette_mic"
DESCRIPTION = "Marionette Microphone"
RATE = 16000
BLOCK = 0.01  # s written per wake-up


class VirtualMicUnavailable(InputError):
    """No PulseAudio/PipeWire server to create the virtual microphone on; the message says how to fix it."""


def _pactl(*args: str, timeout: float = 5.0) -> subprocess.CompletedProcess:
    return subprocess.run(["pactl", *args], capture_output=True, text=True, timeout=timeout)


def server_info() -> str:
    """'PulseAudio 16.1' (or PipeWire's pulse server name); raises VirtualMicUnavailable."""
    if shutil.which("pactl") is None:
        raise VirtualMicUnavailable("pactl not found (apt install pulseaudio-utils); it creates the virtual microphone")
    try:
        r = _pactl("info", timeout=3.0)
    except subprocess.TimeoutExpired as e:
        raise VirtualMicUnavailable("the PulseAudio/PipeWire server does not answer (pactl info timed out)") from e
    if r.returncode != 0:
        why = "; ".join(line.strip() for line in (r.stderr or r.stdout).splitlines() if line.strip())
        raise VirtualMicUnavailable(f"no PulseAudio/PipeWire server ({why}); start one "
                                    "(pulseaudio --start, or PipeWire with pipewire-pulse)")
    name = version = ""
    for line in r.stdout.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "Server Name":
            name = value.strip()
        elif key.strip() == "Server Version":
            version = value.strip()
    return f"{name} {version}".strip() or "a PulseAudio server"


def remove_stale(source_name: str = SOURCE_NAME) -> int:
    """Unload modules a crashed run left behind for ``source_name``; returns how many."""
    r = _pactl("list", "short", "modules")
    n = 0
    for line in r.stdout.splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and parts[1] == "module-pipe-source" and f"source_name={source_name}" in parts[2]:
            _pactl("unload-module", parts[0])
            n += 1
    return n


class VirtualMicSink:
    """core.stages.SoundSink (and Reporting): open() creates the source, close() removes it."""

    name = "virtual-mic"

    def __init__(self, clock: Clock, *, source_name: str = SOURCE_NAME, description: str = DESCRIPTION,
                 tolerance: float = 0.015) -> None:
        self.clock = clock
        self.source_name, self.description = source_name, description
        self.tolerance = tolerance
        self.module: int | None = None
        self.server = ""
        self._dir: Path | None = None
        self._fd: int | None = None
        self._queue = StampedAudio(RATE, tolerance=tolerance)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._report: Callable[[StatusEvent], None] = lambda e: log.info("%s", e)
        self.written_s = 0.0
        self.first_write: float | None = None  # clock time sample 0 of the source was written

    @classmethod
    def open(cls, clock: Clock, **kw) -> "VirtualMicSink":
        """Create the source now (raises VirtualMicUnavailable with the reason)."""
        sink = cls(clock, **kw)
        sink._create()
        return sink

    def set_reporter(self, report: Callable[[StatusEvent], None]) -> None:
        self._report = report

    def _create(self) -> None:
        self.server = server_info()
        stale = remove_stale(self.source_name)
        if stale:
            log.info("removed %d virtual microphone(s) a previous run left behind", stale)
        self._dir = Path(tempfile.mkdtemp(prefix="marionette-mic-"))
        fifo = self._dir / "mic.fifo"
        desc = self.description.replace("'", "")  # quoted for the module-argument parser, as one value
        r = _pactl("load-module", "module-pipe-source", f"source_name={self.source_name}", f"file={fifo}",
                   "format=s16le", f"rate={RATE}", "channels=1", f"source_properties=\"device.description='{desc}'\"")
        if r.returncode != 0 or not r.stdout.strip().isdigit():
            self._cleanup_dir()
            raise VirtualMicUnavailable(f"{self.server} refused module-pipe-source: {(r.stderr or r.stdout).strip()}")
        self.module = int(r.stdout.strip())
        if not fifo.exists():
            os.mkfifo(fifo)  # PipeWire's emulation may leave making it to us
        # Read-write, so opening never blocks on the server's reader end; writes then never fail
        # with EPIPE if the server goes away (the status line says so instead).
        self._fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
        self._thread = threading.Thread(target=self._write_loop, name="virtual-mic", daemon=True)
        self._thread.start()

    # --- from the engine (the sink's thread) ----------------------------------------------
    def send_audio(self, chunk: AudioChunk) -> None:
        x = np.asarray(chunk.samples, np.float32)
        if chunk.sample_rate != RATE:
            from marionette.core.engine import LinearResampler

            x = LinearResampler(chunk.sample_rate, RATE).process(x)
        self._queue.push(chunk.t, x)

    # --- the writer thread ------------------------------------------------------------------
    def _write_loop(self) -> None:
        import time

        cursor = self.clock.now()  # clock time of the next sample we write
        failing = False
        while not self._stop.is_set():
            now = self.clock.now()
            n = int((now - cursor) * RATE)
            if n < int(BLOCK * RATE):
                time.sleep(BLOCK / 2)
                continue
            if n > RATE:  # we were stopped for over a second: start again from now
                cursor = now - BLOCK
                n = int(BLOCK * RATE)
            pcm = (np.clip(self._queue.take(cursor, n)[0], -1.0, 1.0) * 32767).astype("<i2").tobytes()
            try:
                os.write(self._fd, pcm)
                if self.first_write is None:
                    self.first_write = cursor
                if failing:
                    failing = False
                    self._report(StatusEvent("sink:virtual-mic", "writing again", "recovered"))
            except (BlockingIOError, OSError) as e:  # nobody drains the pipe (server gone): keep time
                if not failing:
                    failing = True
                    self._report(StatusEvent("sink:virtual-mic", f"cannot feed {self.description}: {e}", "warning",
                                             retrying=True))
            cursor += n / RATE
            self.written_s += n / RATE

    # --- shutdown -----------------------------------------------------------------------------
    def close(self) -> None:
        """Stop writing and remove the source from the server."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        if self.module is not None:
            try:
                _pactl("unload-module", str(self.module))
            except (OSError, subprocess.TimeoutExpired) as e:
                log.warning("could not remove %s: %s", self.description, e)
            self.module = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._cleanup_dir()

    def _cleanup_dir(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
