"""Recording to mp4 (H.264 + AAC) with PyAV: frames and the audio the viewer heard, in sync.

Both streams are placed by their clock times relative to the first frame, so dropped frames
and audio gaps keep their true timing instead of sliding. Trade-off: x264 costs CPU on the
sink's own thread (veryfast preset); under load the recorder drops frames, never the loop.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from marionette.core.types import AudioChunk, VideoFrame


class RecordingSink:
    """FrameSink writing ``path``; also takes audio through send_audio(AudioChunk) (t = when heard)."""

    name = "record"

    def __init__(self, path: str | Path, *, fps: float = 30.0, audio_rate: int = 16000,
                 preset: str = "veryfast", crf: int = 23) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fps, self.audio_rate, self.preset, self.crf = fps, audio_rate, preset, crf
        self._out = None
        self._v = self._a = None
        self._t0: float | None = None
        self._last_pts = -1
        self._cursor = 0  # next audio sample index on the recording's timeline
        self._pending = np.zeros(0, np.float32)
        self._early: list[AudioChunk] = []
        self.frames = 0
        self.audio_seconds = 0.0

    def _open(self, frame: VideoFrame) -> None:
        import av

        self._out = av.open(str(self.path), "w")
        v = self._out.add_stream("libx264", rate=Fraction(self.fps).limit_denominator(1001))
        v.width, v.height, v.pix_fmt = frame.width - frame.width % 2, frame.height - frame.height % 2, "yuv420p"
        v.options = {"preset": self.preset, "crf": str(self.crf)}
        v.codec_context.thread_count = 1  # the engine owns the cores
        a = self._out.add_stream("aac", rate=self.audio_rate)
        a.layout = "mono"
        self._v, self._a = v, a
        self._t0 = frame.t

    def send(self, frame: VideoFrame) -> None:
        import av

        if self._out is None:
            self._open(frame)
            for chunk in self._early:
                self.send_audio(chunk)
            self._early.clear()
        pts = int(round((frame.t - self._t0) * self.fps))
        if pts <= self._last_pts:
            return
        self._last_pts = pts
        img = frame.image[: self._v.height, : self._v.width]
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
        vf.pts = pts
        for pkt in self._v.encode(vf):
            self._out.mux(pkt)
        self.frames += 1

    def send_audio(self, chunk: AudioChunk) -> None:
        if self._out is None:
            self._early.append(chunk)
            del self._early[:-200]
            return
        x = np.asarray(chunk.samples, np.float32)
        if chunk.sample_rate != self.audio_rate:
            from marionette.core.engine import LinearResampler

            x = LinearResampler(chunk.sample_rate, self.audio_rate).process(x)
        start = int(round((chunk.t - self._t0) * self.audio_rate))
        if start > self._cursor + self._pending.size:  # a gap: silence keeps later audio in place
            self._pending = np.concatenate([self._pending, np.zeros(start - self._cursor - self._pending.size, np.float32)])
        elif start < self._cursor + self._pending.size:  # overlap (or before the first frame): drop it
            x = x[self._cursor + self._pending.size - start:]
        self._pending = np.concatenate([self._pending, x])
        self._encode_audio(final=False)

    def _encode_audio(self, final: bool) -> None:
        import av

        size = self._a.codec_context.frame_size or 1024
        while self._pending.size >= size or (final and self._pending.size):
            block = self._pending[:size]
            if block.size < size:
                block = np.concatenate([block, np.zeros(size - block.size, np.float32)])
            self._pending = self._pending[size:]
            af = av.AudioFrame.from_ndarray(block.reshape(1, -1), format="flt", layout="mono")
            af.sample_rate = self.audio_rate
            af.pts = self._cursor
            self._cursor += size
            self.audio_seconds += size / self.audio_rate
            for pkt in self._a.encode(af):
                self._out.mux(pkt)

    def close(self) -> None:
        if self._out is None:
            return
        self._encode_audio(final=True)
        for stream in (self._v, self._a):
            for pkt in stream.encode(None):
                self._out.mux(pkt)
        self._out.close()
        self._out = None
