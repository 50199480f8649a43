"""Recording to mp4 (H.264 + AAC) with PyAV: frames and the audio the viewer heard, in sync.

Both streams are placed by their clock times relative to the first frame, so dropped frames
and audio gaps keep their true timing instead of sliding. Trade-off: x264 costs CPU on the
sink's own thread (veryfast preset); under load the recorder drops frames, never the loop.

A recording can fail (disk full, a device that takes no data): the first write error stops it,
``failure`` says why, and `run` exits non-zero. mp4/mov are written fragmented (a fragment per
keyframe, every 2 s), so what was written before the failure stays playable without a trailer;
a file with nothing playable is removed. The path is checked when the sink is made, so a
directory or a device is refused before the avatar starts.
"""

from __future__ import annotations

import errno
import os
import stat
from fractions import Fraction
from pathlib import Path

import numpy as np

from marionette.core.errors import InputError
from marionette.core.types import AudioChunk, VideoFrame

# Container per file suffix (the muxer is named because we write to a file object we own).
FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
FRAGMENTED = "frag_keyframe+delay_moov+default_base_moof"  # playable up to the last whole fragment
KEYFRAME_SECONDS = 2.0


class RecordingFailed(OSError):
    """The recording stopped; the message says why (no space left, a write error)."""


def _reason(err: BaseException) -> str:
    if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        return f"no space left for the recording ({err.strerror})"
    if isinstance(err, OSError) and err.strerror:
        return f"cannot write the recording: {err.strerror}"
    return f"cannot write the recording: {type(err).__name__}: {err}"


class RecordingSink:
    """FrameSink writing ``path``; also takes audio through send_audio(AudioChunk) (t = when heard)."""

    name = "record"

    def __init__(self, path: str | Path, *, fps: float = 30.0, audio_rate: int = 16000,
                 preset: str = "veryfast", crf: int = 23) -> None:
        self.path = Path(path)
        try:
            st = self.path.stat()
        except FileNotFoundError:
            st = None
        except OSError as e:
            raise InputError(f"record to {str(self.path)!r}: {e.strerror}") from None
        if st is not None and stat.S_ISDIR(st.st_mode):
            raise InputError(f"record to {str(self.path)!r}: that is a directory; expected a file such as "
                             f"{self.path / 'run.mp4'}")
        if st is not None and not stat.S_ISREG(st.st_mode):
            raise InputError(f"record to {str(self.path)!r}: not a regular file (a device or pipe cannot hold "
                             "a seekable mp4); expected a file path")
        self.format = FORMATS.get(self.path.suffix.lower())
        if self.format is None:
            raise InputError(f"record to {str(self.path)!r}: unknown suffix {self.path.suffix!r}; "
                             f"expected a file ending in {', '.join(FORMATS)}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "wb")  # noqa: SIM115 - held until close(); errors now, not mid-run
        except OSError as e:
            raise InputError(f"record to {str(self.path)!r}: {e.strerror or e}") from None
        self.fps, self.audio_rate, self.preset, self.crf = fps, audio_rate, preset, crf
        self.failure: str | None = None  # why the recording stopped, once it has
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

        options = {"movflags": FRAGMENTED} if self.format in ("mp4", "mov") else {}
        self._out = av.open(self._file, "w", format=self.format, options=options)
        v = self._out.add_stream("libx264", rate=Fraction(self.fps).limit_denominator(1001))
        v.width, v.height, v.pix_fmt = frame.width - frame.width % 2, frame.height - frame.height % 2, "yuv420p"
        v.options = {"preset": self.preset, "crf": str(self.crf),
                     "g": str(max(1, round(self.fps * KEYFRAME_SECONDS)))}
        v.codec_context.thread_count = 1  # the engine owns the cores
        a = self._out.add_stream("aac", rate=self.audio_rate)
        a.layout = "mono"
        self._v, self._a = v, a
        self._t0 = frame.t

    def _mux(self, packets) -> None:
        try:
            for pkt in packets:
                self._out.mux(pkt)
        except Exception as e:  # noqa: BLE001 - any write error ends the recording, said once
            self.failure = self.failure or _reason(e)
            raise RecordingFailed(self.failure) from None

    def send(self, frame: VideoFrame) -> None:
        import av

        if self.failure:
            raise RecordingFailed(self.failure)
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
        self._mux(self._v.encode(vf))
        self.frames += 1

    def send_audio(self, chunk: AudioChunk) -> None:
        if self.failure:
            raise RecordingFailed(self.failure)
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
            self._mux(self._a.encode(af))

    def close(self) -> None:
        """Finish the file. After a failure: keep what plays, remove a file with nothing in it."""
        if self._file is None:
            return
        if self._out is not None:
            try:
                if not self.failure:
                    self._encode_audio(final=True)
                    for stream in (self._v, self._a):
                        self._mux(stream.encode(None))
            except RecordingFailed:
                pass
            try:
                self._out.close()
            except Exception as e:  # noqa: BLE001 - the trailer could not be written either
                self.failure = self.failure or _reason(e)
            self._out = None
        try:
            self._file.close()
        except OSError as e:
            self.failure = self.failure or _reason(e)
        self._file = None
        if self.frames == 0 and not self.failure:
            self._remove()  # nothing was recorded: leave no empty file behind
        elif self.failure:
            seconds = self.playable_seconds()
            if seconds > 0:
                self.failure += f"; {self.path} keeps the first {seconds:.1f} s (playable)"
            else:
                self._remove()
                self.failure += f"; {self.path} held nothing playable and was removed"

    def playable_seconds(self) -> float:
        """Seconds of video a player can read back from the file (0 when it cannot be opened)."""
        import av

        last = None
        try:
            with av.open(str(self.path)) as c:
                next(c.decode(video=0))  # at least the first picture decodes
            with av.open(str(self.path)) as c:
                stream = c.streams.video[0]
                for pkt in c.demux(stream):
                    if pkt.pts is not None and pkt.size:
                        last = float(pkt.pts * stream.time_base)
        except Exception:  # noqa: BLE001 - a truncated tail ends the count; an unreadable file counts 0
            pass
        return 0.0 if last is None else last + 1.0 / self.fps

    def _remove(self) -> None:
        try:
            os.unlink(self.path)
        except OSError:
            pass
