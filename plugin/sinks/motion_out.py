"""--motion-out: the motion exactly as rendered, as a motion track (core/track.py), on the time
base of the sound as heard, so the live path can be scored like an offline generator.

The engine hands every rendered MotionFrame at its presentation time and the whole sound stamped
with the time it is heard (core.stages.MotionSink, SoundSink, SpeechSink). Track time 0 is the
first sound heard; the heard sound is written next to the track (same name, .wav) from the same
zero, so track and wav line up sample for sample. For a file source that is the file's first
sample. Trade-off: frames are kept in memory until close (58 floats a frame, about 25 MB an hour
at 30 fps; refused beyond MAX_SECONDS); the sound streams to disk as it comes.
"""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np

from marionette.core.track import MotionTrack
from marionette.core.types import AudioChunk, MotionFrame, SpeechMark

MAX_SECONDS = 4 * 3600.0
RATE = 16000


class MotionTrackSink:
    """Writes ``path`` (.json or .csv) and ``path`` with .wav on close."""

    name = "motion-out"

    def __init__(self, path: str | Path, *, fps: float = 30.0) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() not in (".json", ".csv"):
            raise ValueError(f"--motion-out {self.path}: expected a .json or .csv file name")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.wav_path = self.path.with_suffix(".wav")
        self.fps = float(fps)
        self._t: list[float] = []
        self._v: list[np.ndarray] = []
        self._zero: float | None = None  # clock time of track time 0 (the first sound heard)
        self._wav: wave.Wave_write | None = None
        self._written = 0  # samples in the wav
        self.speech_starts: list[float] = []  # track times at which our utterances are heard to start
        self.frames = 0

    # --- from the engine ---------------------------------------------------------------------
    def send_motion(self, frame: MotionFrame) -> None:
        if self._zero is not None and frame.t - self._zero > MAX_SECONDS:
            return
        self._t.append(float(frame.t))
        self._v.append(frame.to_vector())

    def send_audio(self, chunk: AudioChunk) -> None:
        x = np.asarray(chunk.samples, np.float32)
        if chunk.sample_rate != RATE:
            from marionette.core.engine import LinearResampler

            x = LinearResampler(chunk.sample_rate, RATE).process(x)
        if self._zero is None:
            self._zero = float(chunk.t)
            self._wav = wave.open(str(self.wav_path), "wb")
            self._wav.setnchannels(1)
            self._wav.setsampwidth(2)
            self._wav.setframerate(RATE)
        start = int(round((chunk.t - self._zero) * RATE))
        if start > self._written:  # a gap (av_delay moved, a stall): silence keeps later sound in place
            self._write(np.zeros(start - self._written, np.float32))
        elif start < self._written:  # overlap: the part already written stays
            x = x[self._written - start:]
        if self._written / RATE < MAX_SECONDS:
            self._write(x)

    def send_speech(self, mark: SpeechMark) -> None:
        if mark.kind == "start" and self._zero is not None:
            self.speech_starts.append(round(mark.t - self._zero, 4))

    def _write(self, x: np.ndarray) -> None:
        if x.size:
            self._wav.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())
            self._written += x.size

    # --- the track -----------------------------------------------------------------------------
    def track(self) -> MotionTrack:
        """The frames resampled onto track times k/fps from the first sound heard (linear between
        frames; a skipped tick is bridged)."""
        if self._zero is None or len(self._t) < 2:
            return MotionTrack(self.fps, np.zeros((0, len(MotionFrame().to_vector())), np.float32))
        t = np.asarray(self._t) - self._zero
        v = np.stack(self._v)
        end = min(t[-1], self._written / RATE)
        grid = np.arange(0.0, max(end, 0.0) + 1e-9, 1.0 / self.fps)
        grid = grid[grid >= t[0] - 0.5 / self.fps]
        out = np.stack([np.interp(grid, t, v[:, c]) for c in range(v.shape[1])], axis=1)
        if grid.size and grid[0] > 1e-9:  # frames began after the sound: hold the first one
            lead = np.repeat(out[:1], int(round(grid[0] * self.fps)), axis=0)
            out = np.concatenate([lead, out])
        return MotionTrack(self.fps, out.astype(np.float32))

    def close(self) -> None:
        if self._wav is not None:
            self._wav.close()
        track = self.track()
        self.frames = len(track)
        if self.path.suffix.lower() == ".json":
            doc = json.loads(track.to_json())
            doc["time_base"] = {"zero": "the first sound heard", "audio": self.wav_path.name,
                                "speech_starts": self.speech_starts}
            self.path.write_text(json.dumps(doc, separators=(",", ":")))
        else:
            track.save(self.path)
