"""Mixes the live audio sources into one 16 kHz stream and remembers when each part was heard.

Each source keeps its own small FIFO and stateful resampler; a tick takes as much audio as the
fullest source has and pads the others with silence. Trade-off: a source that runs late by a few
milliseconds is mixed a few milliseconds off (bounded by max_lag), which features and lips cannot
see, instead of holding the stream back for it (the microphone path must stay low latency).
"""

from __future__ import annotations

from collections import deque

import numpy as np

from ..types import AudioChunk


def drain_fifo(fifo: deque, n: int) -> tuple[np.ndarray, int]:
    """Pop up to n samples from a deque of float32 blocks; returns (n samples zero-padded, how many were real)."""
    out = np.zeros(n, np.float32)
    filled = 0
    while filled < n and fifo:
        head = fifo[0]
        k = min(n - filled, head.size)
        out[filled:filled + k] = head[:k]
        filled += k
        if k == head.size:
            fifo.popleft()
        else:
            fifo[0] = head[k:]
    return out, filled


class LinearResampler:
    """Stateful linear-interpolation resampler: chunked output equals whole-signal output."""

    def __init__(self, src_rate: int, dst_rate: int) -> None:
        self.src_rate, self.dst_rate = int(src_rate), int(dst_rate)
        self._step = self.src_rate / self.dst_rate
        self._pos = 0.0  # position of the next output sample, in input samples of the buffer
        self._prev: np.ndarray | None = None

    def process(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float32).reshape(-1)
        if self.src_rate == self.dst_rate:
            return x
        buf = x if self._prev is None else np.concatenate([self._prev, x])
        if buf.size < 2:
            self._prev = buf
            return np.zeros(0, np.float32)
        last = buf.size - 1
        n = int(np.floor((last - self._pos) / self._step)) + 1 if self._pos <= last else 0
        pos = self._pos + self._step * np.arange(n)
        out = np.interp(pos, np.arange(buf.size), buf).astype(np.float32)
        self._pos = self._pos + self._step * n - last
        self._prev = buf[-1:]
        return out


class _Lane:
    def __init__(self, rate: int) -> None:
        self.resampler: LinearResampler | None = None
        self.rate = rate
        self.buf: deque[np.ndarray] = deque()
        self.n = 0
        self.heard_end = -np.inf  # clock time of the newest sample (its capture/release time)

    def add(self, chunk: AudioChunk) -> None:
        if self.resampler is None or self.resampler.src_rate != chunk.sample_rate:
            self.resampler = LinearResampler(chunk.sample_rate, self.rate)
        x = self.resampler.process(chunk.samples)
        if x.size:
            self.buf.append(x)
            self.n += x.size
        self.heard_end = max(self.heard_end, chunk.t + chunk.duration)

    def take(self, n: int) -> np.ndarray:
        out, filled = drain_fifo(self.buf, n)
        self.n -= filled
        return out

    def trim(self, keep: int) -> None:
        if self.n > keep:
            self.take(self.n - keep)


class AudioMixer:
    """add(key, chunk) from any number of sources; take() -> one mixed 16 kHz block.

    heard_at(stream_t) maps a time on the mixed stream (seconds since the stream started) to the
    clock time that audio was captured (microphone) or released (audio we play), for latency."""

    def __init__(self, rate: int = 16000, *, max_lag: float = 0.1) -> None:
        self.rate = rate
        self.max_lag = max_lag
        self._lanes: dict[int, _Lane] = {}
        self.samples_out = 0
        self._map: deque[tuple[float, float]] = deque(maxlen=2000)  # (stream_end_s, heard_end_clock)

    def add(self, key: int, chunk: AudioChunk) -> None:
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane(self.rate)
        lane.add(chunk)

    def take(self) -> AudioChunk | None:
        """The mixed block since the last take, t = its start on the stream (s); None if no audio."""
        if not self._lanes:
            return None
        n = max(lane.n for lane in self._lanes.values())
        if n == 0:
            return None
        mix = np.zeros(n, np.float32)
        for lane in self._lanes.values():
            mix += lane.take(n)
            lane.trim(int(self.max_lag * self.rate))
        t = self.samples_out / self.rate
        self.samples_out += n
        heard = max(lane.heard_end for lane in self._lanes.values())
        self._map.append((self.samples_out / self.rate, heard))
        np.clip(mix, -1.0, 1.0, out=mix)
        return AudioChunk(mix, self.rate, t)

    def heard_at(self, stream_t: float) -> float | None:
        """Clock time at which the audio at stream time stream_t was heard (None if forgotten)."""
        for end, heard in self._map:
            if end >= stream_t:
                return heard - (end - stream_t)
        return None

    def remove(self, key: int) -> None:
        self._lanes.pop(key, None)

    def clear(self) -> None:
        """Drop buffered audio (interrupt). The stream time keeps counting: it never goes back."""
        for lane in self._lanes.values():
            lane.buf.clear()
            lane.n = 0
