"""Reading audio files of any format into 16 kHz mono float32, whole or streamed.

soundfile (libsndfile) reads WAV/FLAC/OGG and tells the length before reading; everything else
(mp3, opus, m4a, raw G.722 ...) goes through PyAV. load_audio refuses files longer than a limit so
a 10-hour file cannot fill memory; iter_audio streams any length with bounded memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import InputError
from ..types import AudioChunk
from .resample import TARGET_RATE, StreamingResampler, resample

# Containers PyAV cannot recognise without a hint (raw codec streams named by extension).
_RAW_FORMATS = {".g722": "g722", ".722": "g722", ".ulaw": "mulaw", ".alaw": "alaw", ".gsm": "gsm", ".sln16": "s16le"}
_RAW_RATES = {".sln16": 16000, ".ulaw": 8000, ".alaw": 8000}


class AudioFileError(InputError):
    """An audio file that cannot be used; the message says what is wrong and what to do."""


def to_mono_16k(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """(N,) or (N, channels) samples (float in -1..1, or integer PCM) at any rate -> float32 (M,) at 16 kHz.

    Channels are averaged; integer PCM is scaled to -1..1. Same resampler as the streaming path.
    """
    x = np.asarray(samples)
    if x.ndim not in (1, 2):
        raise InputError(f"audio samples with shape {x.shape}, expected (N,) mono or (N, channels)")
    scale = 1.0
    if np.issubdtype(x.dtype, np.integer):
        scale = 1.0 / float(np.iinfo(x.dtype).max + 1)  # int16 32768 -> 1.0
        x = x.astype(np.float64)
    if x.ndim == 2:
        x = x.mean(axis=1, dtype=np.float64)
    if scale != 1.0:
        x = x * scale
    x = np.asarray(x, np.float32)
    if sample_rate == TARGET_RATE:
        return x
    return resample(x, int(sample_rate))


def _check_path(path: str | Path) -> Path:
    p = Path(path)
    if not p.exists():
        raise AudioFileError(f"audio file {p} does not exist; expected a path to a wav/flac/ogg/mp3/opus file")
    if p.is_dir():
        raise AudioFileError(f"audio path {p} is a directory, expected a file")
    if p.stat().st_size == 0:
        raise AudioFileError(f"audio file {p} is empty (0 bytes); expected audio samples")
    return p


def _sf_info(p: Path):
    """soundfile's header info, or None when libsndfile cannot read this format."""
    import soundfile as sf

    if p.suffix.lower() in _RAW_FORMATS:
        return None
    try:
        return sf.info(str(p))
    except (sf.LibsndfileError, RuntimeError):
        return None


def _check_finite(x: np.ndarray, p: Path, t: float) -> None:
    bad = ~np.isfinite(x)
    if bad.any():
        i = int(np.argmax(bad))
        raise AudioFileError(
            f"audio file {p} has {int(bad.sum())} NaN/inf samples (first at {t + i / TARGET_RATE:.3f} s); "
            "expected finite samples. Re-export the file (e.g. `ffmpeg -i IN -c:a pcm_s16le OUT.wav`)"
        )


def _too_long(p: Path, seconds: float, max_seconds: float) -> AudioFileError:
    return AudioFileError(
        f"audio file {p} is {seconds:.0f} s long; load_audio reads at most {max_seconds:.0f} s into memory. "
        "Stream it with marionette.core.audio.iter_audio(path), cut it shorter, or pass a larger max_seconds"
    )


def load_audio(path: str | Path, *, max_seconds: float = 600) -> AudioChunk:
    """The whole file as one 16 kHz mono float32 AudioChunk (t = 0).

    Raises AudioFileError (an InputError) for a missing, empty, corrupt, NaN-containing or
    over-long file, saying what to do.
    """
    p = _check_path(path)
    info = _sf_info(p)
    if info is not None:
        import soundfile as sf

        if info.frames <= 0:
            raise AudioFileError(f"audio file {p} has no samples (a valid {info.format} header, 0 frames)")
        if info.frames / info.samplerate > max_seconds:
            raise _too_long(p, info.frames / info.samplerate, max_seconds)
        try:
            data, rate = sf.read(str(p), dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as e:
            raise AudioFileError(f"audio file {p} could not be decoded ({e}); expected a readable {info.format} file") from None
        x = to_mono_16k(data, rate)
    else:
        parts = []
        total = 0
        for chunk in _iter_pyav(p, chunk_seconds=10.0):
            total += chunk.samples.size
            if total > max_seconds * TARGET_RATE:
                raise _too_long(p, _pyav_duration(p) or total / TARGET_RATE, max_seconds)
            parts.append(chunk.samples)
        x = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    if x.size == 0:
        raise AudioFileError(f"audio file {p} decoded to no samples; expected audio")
    _check_finite(x, p, 0.0)
    return AudioChunk(x, TARGET_RATE, 0.0)


def iter_audio(path: str | Path, chunk_seconds: float = 1.0) -> Iterator[AudioChunk]:
    """16 kHz mono float32 chunks of ``chunk_seconds`` (the last may be shorter), t = their start time.

    Memory stays bounded by the chunk size whatever the file's length. Errors (corrupt data, NaN)
    are raised when the reader reaches them.
    """
    if not chunk_seconds > 0:
        raise ValueError(f"chunk_seconds {chunk_seconds}, expected > 0")
    p = _check_path(path)
    info = _sf_info(p)
    if info is None:
        yield from _iter_pyav(p, chunk_seconds)
        return
    import soundfile as sf

    if info.frames <= 0:
        raise AudioFileError(f"audio file {p} has no samples (a valid {info.format} header, 0 frames)")
    resampler = StreamingResampler(info.samplerate)
    block = max(1, int(round(chunk_seconds * info.samplerate)))
    rechunk = _Rechunker(int(round(chunk_seconds * TARGET_RATE)))
    try:
        for data in sf.blocks(str(p), blocksize=block, dtype="float32", always_2d=True):
            y = resampler.push(data.mean(axis=1) if data.shape[1] > 1 else data[:, 0])
            for c in rechunk.push(y):
                _check_finite(c.samples, p, c.t)
                yield c
    except (sf.LibsndfileError, RuntimeError) as e:
        raise AudioFileError(f"audio file {p} could not be decoded ({e})") from None
    for c in rechunk.push(resampler.flush(), final=True):
        _check_finite(c.samples, p, c.t)
        yield c


class _Rechunker:
    """Regroups a sample stream into fixed-size AudioChunks with running timestamps."""

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self._pending: list[np.ndarray] = []
        self._n_pending = 0
        self._emitted = 0

    def push(self, x: np.ndarray, final: bool = False) -> Iterator[AudioChunk]:
        if x.size:
            self._pending.append(np.asarray(x, np.float32))
            self._n_pending += x.size
        while self._n_pending >= self.size or (final and self._n_pending):
            buf = np.concatenate(self._pending)
            take = min(self.size, buf.size)
            yield AudioChunk(buf[:take].copy(), TARGET_RATE, self._emitted / TARGET_RATE)
            self._emitted += take
            rest = buf[take:]
            self._pending = [rest] if rest.size else []
            self._n_pending = rest.size


def _open_av(p: Path):
    import av

    fmt = _RAW_FORMATS.get(p.suffix.lower())
    try:
        opts = {"sample_rate": str(_RAW_RATES[p.suffix.lower()])} if p.suffix.lower() in _RAW_RATES else {}
        if fmt == "s16le":
            opts["ch_layout"] = "mono"
        return av.open(str(p), format=fmt, options=opts)
    except (av.error.FFmpegError, UnicodeDecodeError) as e:
        raise AudioFileError(
            f"audio file {p} is not a readable audio file ({e}); expected wav, flac, ogg, mp3, opus, m4a or raw .g722"
        ) from None


def _pyav_duration(p: Path) -> float | None:
    try:
        with _open_av(p) as c:
            return c.duration / 1e6 if c.duration else None
    except AudioFileError:
        return None


def _iter_pyav(p: Path, chunk_seconds: float) -> Iterator[AudioChunk]:
    import av

    container = _open_av(p)
    with container:
        if not container.streams.audio:
            raise AudioFileError(f"file {p} has no audio stream; expected an audio file")
        stream = container.streams.audio[0]
        resampler: StreamingResampler | None = None
        rechunk = _Rechunker(int(round(chunk_seconds * TARGET_RATE)))
        got_any = False
        try:
            for frame in container.decode(stream):
                arr = frame.to_ndarray()  # planar (channels, n) or packed (1, n * channels)
                n_ch = len(frame.layout.channels)
                if frame.format.is_planar:
                    x = arr.reshape(n_ch, -1).T
                else:
                    x = arr.reshape(-1, n_ch)
                if np.issubdtype(x.dtype, np.integer):
                    x = x.astype(np.float32) / float(np.iinfo(x.dtype).max + 1)
                mono = x.mean(axis=1).astype(np.float32) if n_ch > 1 else x[:, 0].astype(np.float32)
                if resampler is None:
                    resampler = StreamingResampler(frame.sample_rate)
                got_any = got_any or mono.size > 0
                for c in rechunk.push(resampler.push(mono)):
                    _check_finite(c.samples, p, c.t)
                    yield c
        except av.error.FFmpegError as e:
            raise AudioFileError(f"audio file {p} could not be decoded ({e}); the file may be corrupt or truncated") from None
        if not got_any or resampler is None:
            raise AudioFileError(f"audio file {p} decoded to no samples; expected audio")
        for c in rechunk.push(resampler.flush(), final=True):
            _check_finite(c.samples, p, c.t)
            yield c
