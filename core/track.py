"""Motion tracks on disk: JSON (columnar, keyed by channel name) and CSV (one column per channel).

A track is a frame rate and a (T, 58) matrix in ALL_CHANNELS order. Files may name any subset
of channels; absent channels take their neutral value. Unknown names are an error that lists
the valid ones; out-of-range values are clamped and every clamp is reported, never hidden.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import InputError
from .motion_space import ALL_CHANNELS, CHANNEL_INDEX, check_channel
from .types import MOTION_HIGH, MOTION_LOW, NEUTRAL_VECTOR, N_CHANNELS, Clamp, MotionFrame

FORMAT_NAME = "marionette.motion"
FORMAT_VERSION = 1


class TrackFormatError(InputError):
    """A track file that cannot be read; the message says what was expected."""


@dataclass
class ClampReport:
    """Which channels were clamped on load, how often, and the worst value seen."""

    clamps: list[Clamp] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.clamps)

    def summary(self) -> str:
        if not self.clamps:
            return "no values clamped"
        counts = Counter(c.channel for c in self.clamps)
        parts = []
        for name, n in counts.most_common():
            worst = max((c for c in self.clamps if c.channel == name), key=lambda c: abs(c.requested - c.applied))
            parts.append(f"{name} x{n} (e.g. {worst.requested:g} -> {worst.applied:g})")
        return f"clamped {len(self.clamps)} values to the motion space: " + "; ".join(parts)


@dataclass
class MotionTrack:
    """fps: frames per second. values: float32 (T, 58) in ALL_CHANNELS order."""

    fps: float
    values: np.ndarray

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, np.float32)
        if self.values.ndim != 2 or self.values.shape[1] != N_CHANNELS:
            raise ValueError(f"track values shape {self.values.shape}, expected (T, {N_CHANNELS})")
        if not (math.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"track fps {self.fps}, expected a positive number")

    def __len__(self) -> int:
        return int(self.values.shape[0])

    @property
    def duration(self) -> float:
        return len(self) / self.fps

    def frame(self, i: int) -> MotionFrame:
        return MotionFrame.from_vector(self.values[i], t=i / self.fps)

    def frames(self):
        for i in range(len(self)):
            yield self.frame(i)

    def channel(self, name: str) -> np.ndarray:
        return self.values[:, CHANNEL_INDEX[check_channel(name)]]

    @classmethod
    def from_frames(cls, frames, fps: float) -> "MotionTrack":
        rows = [f.to_vector() for f in frames]
        return cls(fps, np.stack(rows) if rows else np.zeros((0, N_CHANNELS), np.float32))

    @classmethod
    def neutral(cls, n: int, fps: float) -> "MotionTrack":
        return cls(fps, np.tile(NEUTRAL_VECTOR, (n, 1)))

    def clamped(self) -> tuple["MotionTrack", ClampReport]:
        v = self.values
        bad = ~np.isfinite(v) | (v < MOTION_LOW) | (v > MOTION_HIGH)
        if not bad.any():
            return self, ClampReport()
        fixed = np.clip(np.where(np.isfinite(v), v, NEUTRAL_VECTOR), MOTION_LOW, MOTION_HIGH)
        rows, cols = np.nonzero(bad)
        clamps = [Clamp(ALL_CHANNELS[c], float(v[r, c]), float(fixed[r, c])) for r, c in zip(rows, cols)]
        return MotionTrack(self.fps, fixed), ClampReport(clamps)

    # ------------------------------------------------------------------ writing
    def to_json(self) -> str:
        # Channels that never leave neutral are left out: the file stays readable.
        used = [i for i in range(N_CHANNELS) if not np.all(self.values[:, i] == NEUTRAL_VECTOR[i])]
        doc = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "fps": self.fps,
            "frames": len(self),
            "channels": {ALL_CHANNELS[i]: [round(float(x), 5) for x in self.values[:, i]] for i in used},
        }
        return json.dumps(doc, separators=(",", ":"))

    def to_csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(("time",) + ALL_CHANNELS)
        for i, row in enumerate(self.values):
            w.writerow([f"{i / self.fps:.6f}"] + [f"{x:.5g}" for x in row.tolist()])
        return buf.getvalue()

    def save(self, path: str | Path) -> None:
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".json":
            path.write_text(self.to_json())
        elif suffix == ".csv":
            path.write_text(self.to_csv())
        else:
            raise TrackFormatError(f"track file {path}: unknown extension {suffix!r}, expected .json or .csv")


# ---------------------------------------------------------------------- reading
def load_track(path: str | Path) -> tuple[MotionTrack, ClampReport]:
    """Read a .json or .csv track; returns the clamped track and what was clamped."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"motion track {path} does not exist")
    suffix = path.suffix.lower()
    text = path.read_text()
    if suffix == ".json":
        track = parse_json(text, source=str(path))
    elif suffix == ".csv":
        track = parse_csv(text, source=str(path))
    else:
        raise TrackFormatError(f"track file {path}: unknown extension {suffix!r}, expected .json or .csv")
    return track.clamped()


def parse_json(text: str, source: str = "<json>") -> MotionTrack:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise TrackFormatError(f"{source}: not valid JSON ({e})") from None
    if not isinstance(doc, dict):
        raise TrackFormatError(f"{source}: expected a JSON object with 'fps' and 'channels' or 'frames'")
    fps = doc.get("fps")
    if not isinstance(fps, (int, float)) or not fps > 0:
        raise TrackFormatError(f"{source}: 'fps' must be a positive number, got {fps!r}")
    channels = doc.get("channels")
    frames = doc.get("frames")
    if isinstance(channels, dict):
        lengths = {len(v) for v in channels.values() if isinstance(v, list)}
        n = frames if isinstance(frames, int) else (lengths.pop() if len(lengths) == 1 else None)
        if n is None or any(not isinstance(v, list) or len(v) != n for v in channels.values()):
            raise TrackFormatError(f"{source}: every channel must be a list of the same length")
        values = np.tile(NEUTRAL_VECTOR, (n, 1))
        for name, column in channels.items():
            values[:, CHANNEL_INDEX[check_channel(name)]] = _floats(column, source, name)
    elif isinstance(frames, list):
        # Row form: [{"jawOpen": 0.3, ...}, ...], convenient for hand-written tracks.
        values = np.tile(NEUTRAL_VECTOR, (len(frames), 1))
        for i, row in enumerate(frames):
            if not isinstance(row, dict):
                raise TrackFormatError(f"{source}: frame {i} is {type(row).__name__}, expected an object of channel values")
            for name, value in row.items():
                values[i, CHANNEL_INDEX[check_channel(name)]] = _floats([value], source, name)[0]
    else:
        raise TrackFormatError(f"{source}: expected 'channels' (name -> list) or 'frames' (list of objects)")
    return MotionTrack(float(fps), values)


def parse_csv(text: str, source: str = "<csv>") -> MotionTrack:
    rows = list(csv.reader(io.StringIO(text)))
    rows = [r for r in rows if r and not r[0].startswith("#")]
    if len(rows) < 1 or not rows[0] or rows[0][0].strip() != "time":
        raise TrackFormatError(f"{source}: expected a header row starting with 'time' followed by channel names")
    header = [h.strip() for h in rows[0][1:]]
    cols = [CHANNEL_INDEX[check_channel(h)] for h in header]
    body = rows[1:]
    if len(body) < 2:
        raise TrackFormatError(f"{source}: need at least two rows to know the frame rate")
    try:
        data = np.array([[float(x) for x in r] for r in body], np.float64)
    except ValueError as e:
        raise TrackFormatError(f"{source}: non-numeric value ({e})") from None
    if data.shape[1] != len(header) + 1:
        raise TrackFormatError(f"{source}: rows have {data.shape[1]} columns, header has {len(header) + 1}")
    dt = np.diff(data[:, 0])
    if not np.all(dt > 0):
        raise TrackFormatError(f"{source}: 'time' must increase from row to row")
    fps = round(1.0 / float(np.median(dt)), 3)
    values = np.tile(NEUTRAL_VECTOR, (len(body), 1))
    values[:, cols] = data[:, 1:]
    return MotionTrack(fps, values)


def _floats(column, source: str, name: str) -> np.ndarray:
    try:
        return np.array([float("nan") if v is None else float(v) for v in column], np.float32)
    except (TypeError, ValueError):
        raise TrackFormatError(f"{source}: channel {name!r} has a non-numeric value") from None
