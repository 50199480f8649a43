"""Mixes the live audio sources into one 16 kHz stream and remembers when each part was heard.

Each source keeps its own small FIFO and stateful resampler, placed on the stream by its clock
stamps: chunks that follow on are appended, a jump re-anchors the lane. A tick mixes up to the
newest sample that every live source has reached, waiting at most ``max_lag`` for a slow one (the
microphone is the slow one, so its latency is untouched: only our own delayed audio waits); a
source later than that is mixed late, shifted to the stream's end. Trade-off: uneven chunk sizes
never insert silence into a source (which chopped speech and ran the stream ahead of the clock),
at the cost of holding audio we play back by the microphone's few milliseconds of lag.
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
        self.start = 0  # stream index of buf[0]
        self.anchored = False
        self.offset = 0  # stream index = round((clock t - t0) * rate) + offset
        self.heard_end = -np.inf  # clock time of the newest sample (its capture/release time)
        self.played = False  # audio we play ourselves (goes to the speaker too), not a microphone

    @property
    def next_pos(self) -> int:
        return self.start + self.n

    def take(self, upto: int) -> np.ndarray:
        """Pop the samples before stream index ``upto``."""
        out, filled = drain_fifo(self.buf, max(0, upto - self.start))
        self.n -= filled
        self.start += filled
        return out[:filled]


class AudioMixer:
    """add(key, chunk) from any number of sources; take() -> one mixed 16 kHz block.

    heard_at(stream_t) maps a time on the mixed stream (seconds since the stream started) to the
    clock time that audio was captured (microphone) or released (audio we play), for latency."""

    def __init__(self, rate: int = 16000, *, max_lag: float = 0.1, jitter: float = 0.2) -> None:
        self.rate = rate
        self.max_lag = max_lag
        self.jitter = jitter  # stamps this far off the lane's end still follow on (callbacks jitter)
        self._lanes: dict[int, _Lane] = {}
        self.samples_out = 0
        self._t0: float | None = None  # clock time of stream index 0 (the first chunk's stamp)
        self._map: deque[tuple[float, float]] = deque(maxlen=2000)  # (stream_end_s, heard_end_clock)
        self.last_played: np.ndarray | None = None  # the played lanes alone in the last take() (None: none)

    def add(self, key: int, chunk: AudioChunk, *, played: bool = False) -> None:
        """played: the source is audio we play ourselves; take() also mixes those lanes alone
        (``last_played``) for the speaker, which must never play the microphone back."""
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane(self.rate)
        lane.played = played
        if lane.resampler is None or lane.resampler.src_rate != chunk.sample_rate:
            lane.resampler = LinearResampler(chunk.sample_rate, self.rate)
        x = lane.resampler.process(chunk.samples)
        if self._t0 is None:
            self._t0 = float(chunk.t)
        stamped = round((chunk.t - self._t0) * self.rate) + lane.offset
        if not lane.anchored or abs(stamped - lane.next_pos) > self.jitter * self.rate:
            # First chunk or a jump (a device back after a gap): place it by its stamp, but never
            # before what was already mixed, nor beyond the newest audio of any source (a lone
            # source that jumps must not make the stream emit the gap as one burst of silence).
            newest = max([self.samples_out] + [o.next_pos for o in self._lanes.values() if o is not lane and o.anchored])
            pos = min(max(stamped, self.samples_out), newest)
            if lane.n and pos < lane.next_pos:
                pos = lane.next_pos
            lane.offset += pos - stamped
            if lane.n and pos > lane.next_pos:
                lane.buf.append(np.zeros(pos - lane.next_pos, np.float32))
                lane.n += pos - lane.next_pos
            elif not lane.n:
                lane.start = pos
            lane.anchored = True
        elif lane.next_pos < self.samples_out:  # late beyond max_lag: mixed late, at the stream's end
            lane.offset += self.samples_out - lane.next_pos
            lane.start = self.samples_out - lane.n
        if x.size:
            lane.buf.append(x)
            lane.n += x.size
        lane.heard_end = max(lane.heard_end, chunk.t + chunk.duration)

    def take(self) -> AudioChunk | None:
        """The mixed block since the last take, t = its start on the stream (s); None if no audio."""
        lanes = [lane for lane in self._lanes.values() if lane.anchored]
        if not lanes:
            return None
        newest = max(lane.next_pos for lane in lanes)
        live = [lane for lane in lanes if lane.next_pos >= newest - self.max_lag * self.rate]
        end = min(lane.next_pos for lane in live)
        n = end - self.samples_out
        if n <= 0:
            return None
        mix = np.zeros(n, np.float32)
        played = None
        for lane in lanes:
            if lane.start < self.samples_out:  # cannot happen after add()'s placement; never mix backwards
                lane.take(self.samples_out)
            a = lane.start - self.samples_out
            x = lane.take(end)
            mix[a:a + x.size] += x
            if lane.played:
                if played is None:
                    played = np.zeros(n, np.float32)
                played[a:a + x.size] += x
        if played is not None:
            np.clip(played, -1.0, 1.0, out=played)
        self.last_played = played
        t = self.samples_out / self.rate
        self.samples_out = end
        heard = max(lane.heard_end - (lane.next_pos - end) / self.rate for lane in live)
        self._map.append((end / self.rate, heard))
        np.clip(mix, -1.0, 1.0, out=mix)
        return AudioChunk(mix, self.rate, t)

    def heard_at(self, stream_t: float) -> float | None:
        """Clock time at which the audio at stream time stream_t was heard (None if forgotten)."""
        for end, heard in self._map:
            # A block's end computed as t + duration can exceed end/rate by a rounding error: half a
            # sample of slack, or the newest block would be "forgotten" and never reach a sink.
            if end >= stream_t - 0.5 / self.rate:
                return heard - (end - stream_t)
        return None

    def stream_time_of(self, key: int, clock_t: float) -> float | None:
        """Stream time (s) at which the audio source ``key`` released at clock time ``clock_t`` sits
        in the mixed stream; call after adding that audio and before the take() that mixes it.
        Exact for audio added since the last take (a lane is contiguous until mixed)."""
        lane = self._lanes.get(key)
        if lane is None or not np.isfinite(lane.heard_end):
            return None
        return lane.next_pos / self.rate - (lane.heard_end - clock_t)

    def remove(self, key: int) -> None:
        self._lanes.pop(key, None)

    def clear(self) -> None:
        """Drop buffered audio (interrupt). The stream time keeps counting: it never goes back."""
        for lane in self._lanes.values():
            lane.buf.clear()
            lane.n = 0
            lane.start = self.samples_out
            lane.anchored = False  # the next chunk is placed by its stamp again
