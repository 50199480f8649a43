"""Reading audio files: every common format in, clear errors for bad files, bounded memory for huge ones."""

import struct
import tracemalloc

import numpy as np
import pytest
import soundfile as sf

from marionette.core.audio import AudioFileError, iter_audio, load_audio, resample, to_mono_16k
from marionette.core.errors import InputError

SR = 16000


def tone(sr, seconds=1.5, hz=440.0):
    t = np.arange(int(sr * seconds)) / sr
    return (0.4 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def encode_av(path, x, sr, codec, fmt=None, rate=None):
    import av

    rate = rate or sr
    with av.open(str(path), "w", format=fmt) as out:
        st = out.add_stream(codec, rate=rate)
        st.layout = "mono"
        src = av.AudioFrame.from_ndarray((np.clip(x, -1, 1) * 32767).astype(np.int16)[None, :], format="s16", layout="mono")
        src.sample_rate = sr
        res = av.AudioResampler(format=st.format.name, layout="mono", rate=rate)
        for f in res.resample(src) + res.resample(None):
            for p in st.encode(f):
                out.mux(p)
        for p in st.encode(None):
            out.mux(p)


def similar(y, ref):
    n = min(y.size, ref.size)
    # Lossy codecs delay and reshape a little: best normalised correlation within +-5 ms.
    best = 0.0
    for lag in range(-80, 81, 4):
        a = y[max(0, lag) : n + min(0, lag)]
        b = ref[max(0, -lag) : n - max(0, lag)]
        m = min(a.size, b.size)
        best = max(best, float(np.dot(a[:m], b[:m]) / (np.linalg.norm(a[:m]) * np.linalg.norm(b[:m]) + 1e-9)))
    return best


@pytest.mark.parametrize("sr,subtype,ext", [(44100, "PCM_16", "wav"), (48000, "FLOAT", "wav"), (8000, "PCM_24", "flac"), (22050, "VORBIS", "ogg")])
def test_soundfile_formats_any_rate_and_channels(tmp_path, sr, subtype, ext):
    x = tone(sr)
    stereo = np.stack([x, x * 0.5], axis=1)
    path = tmp_path / f"a.{ext}"
    sf.write(path, stereo, sr, subtype=subtype)
    got = load_audio(path)
    assert got.sample_rate == SR and got.samples.dtype == np.float32
    assert got.samples.size == pytest.approx(1.5 * SR, abs=2)
    ref = tone(SR) * 0.75
    assert similar(got.samples, ref) > 0.98
    assert abs(np.std(got.samples) - np.std(ref)) < 0.05


@pytest.mark.parametrize("codec,fmt,ext,rate", [("libmp3lame", "mp3", "mp3", 44100), ("libopus", "ogg", "opus", 48000), ("g722", "g722", "g722", 16000)])
def test_pyav_formats(tmp_path, codec, fmt, ext, rate):
    path = tmp_path / f"a.{ext}"
    encode_av(path, tone(SR), SR, codec, fmt, rate)
    got = load_audio(path)
    assert got.samples.size == pytest.approx(1.5 * SR, rel=0.08)
    assert similar(got.samples, tone(SR)) > 0.9
    chunks = list(iter_audio(path, chunk_seconds=0.25))
    np.testing.assert_allclose(np.concatenate([c.samples for c in chunks]), got.samples, atol=1e-6)
    assert [c.t for c in chunks[:3]] == [0.0, 0.25, 0.5]


def test_iter_audio_equals_load_audio_for_wav(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(path, tone(44100, 3.3), 44100)
    whole = load_audio(path).samples
    chunks = list(iter_audio(path, chunk_seconds=0.7))
    assert all(c.samples.size == int(0.7 * SR) for c in chunks[:-1])
    np.testing.assert_allclose(np.concatenate([c.samples for c in chunks]), whole, atol=1e-6)


def test_to_mono_16k_scales_integer_pcm_and_mixes_channels():
    x = (tone(SR) * 32767).astype(np.int16)
    y = to_mono_16k(np.stack([x, np.zeros_like(x)], axis=1), SR)
    assert y.dtype == np.float32 and np.allclose(y, tone(SR) / 2, atol=1e-4)
    assert to_mono_16k(tone(48000), 48000).size == int(1.5 * SR)
    assert np.allclose(to_mono_16k(tone(48000), 48000), resample(tone(48000), 48000))


def test_missing_empty_and_corrupt_files_raise_input_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_audio(tmp_path / "nope.wav")
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        load_audio(empty)
    zero = tmp_path / "zero.wav"
    sf.write(zero, np.zeros(0, np.float32), SR)
    with pytest.raises(InputError, match="no samples"):
        load_audio(zero)
    junk = tmp_path / "junk.wav"
    junk.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(InputError, match="not a readable audio file|could not be decoded|no audio"):
        load_audio(junk)
    truncated = tmp_path / "trunc.mp3"
    encode_av(truncated, tone(SR), SR, "libmp3lame", "mp3", 44100)
    truncated.write_bytes(b"garbage!" * 10 + truncated.read_bytes()[:0])
    with pytest.raises(InputError):
        load_audio(truncated)


def test_nan_filled_file_is_refused(tmp_path):
    x = tone(SR)
    x[5000:9000] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, x, SR, subtype="FLOAT")
    with pytest.raises(AudioFileError, match=r"4000 NaN/inf samples \(first at 0.312 s\)"):
        load_audio(path)
    with pytest.raises(AudioFileError, match="NaN"):
        list(iter_audio(path))


def sparse_ten_hour_wav(path):
    """A WAV whose header declares 10 hours of 16 kHz int16; the data is a hole (reads as zeros, no disk)."""
    n_bytes = SR * 3600 * 10 * 2
    header = (b"RIFF" + struct.pack("<I", 36 + n_bytes) + b"WAVEfmt "
              + struct.pack("<IHHIIHH", 16, 1, 1, SR, SR * 2, 2, 16) + b"data" + struct.pack("<I", n_bytes))
    with open(path, "wb") as f:
        f.write(header)
        f.truncate(len(header) + n_bytes)


def test_ten_hour_file_is_refused_by_load_audio(tmp_path):
    path = tmp_path / "long.wav"
    sparse_ten_hour_wav(path)
    with pytest.raises(AudioFileError, match=r"36000 s long.*iter_audio"):
        load_audio(path)


@pytest.mark.slow
def test_ten_hour_file_streams_with_flat_memory(tmp_path):
    path = tmp_path / "long.wav"
    sparse_ten_hour_wav(path)
    tracemalloc.start()
    try:
        total = 0
        for c in iter_audio(path, chunk_seconds=30.0):
            total += c.samples.size
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == SR * 3600 * 10
    assert peak < 16 * 2**20  # a 30 s chunk is 1.9 MB; 10 hours would be 2.3 GB
