"""Audio augmentation that looks like real use: other speakers (vocal-tract length, pitch, speaking
rate), room reverb, background noise, gain and clipping, headset/telephone band limits, and MP3/Opus
compression (PyAV round trip).

Every effect keeps the audio time-aligned with the original (codec delay is measured and removed),
because the motion target is computed from the clean timing. Parameters are drawn from a numpy
Generator and returned, so a corpus entry records exactly what was done to it.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass

import numpy as np

RATE = 16000


@dataclass(frozen=True)
class Recipe:
    """What was applied, in order; None = not applied."""

    reverb_rt60: float | None = None  # s
    reverb_drr_db: float | None = None  # direct-to-reverberant ratio
    noise: str | None = None  # white | pink | brown | hum | babble-like
    snr_db: float | None = None
    band: str | None = None  # headset (100-7000 Hz) | telephone (300-3400 Hz, 8 kHz)
    gain_db: float = 0.0
    codec: str | None = None  # mp3 | opus
    bitrate_kbps: int | None = None
    # Speaker perturbation (applied first, by `perturb_speaker`, before the teacher sees the phones):
    formant: float | None = None  # vocal-tract length factor: every formant scaled by it
    pitch: float | None = None  # F0 ratio, formants kept
    speed: float | None = None  # speaking-rate factor (> 1 faster); the phones are rescaled with it

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


CLEAN = Recipe()


def draw_recipe(rng: np.random.Generator, clean_fraction: float = 0.2) -> Recipe:
    """A random recipe: about ``clean_fraction`` untouched, the rest a mix of effects."""
    if rng.random() < clean_fraction:
        return Recipe(gain_db=float(np.round(rng.uniform(-6, 3), 1)))
    rt60 = drr = noise = snr = band = codec = kbps = None
    if rng.random() < 0.5:
        rt60 = float(np.round(rng.uniform(0.15, 0.8), 2))
        drr = float(np.round(rng.uniform(-2, 12), 1))
    if rng.random() < 0.6:
        noise = str(rng.choice(["white", "pink", "brown", "hum", "babble-like"]))
        snr = float(np.round(rng.uniform(5, 30), 1))
    if rng.random() < 0.3:
        band = str(rng.choice(["headset", "telephone"]))
    gain = float(np.round(rng.uniform(-25, 8), 1))
    if rng.random() < 0.4:
        codec = str(rng.choice(["mp3", "opus"]))
        kbps = int(rng.choice([16, 24, 32, 48])) if codec == "mp3" else int(rng.choice([8, 12, 16, 24]))
    formant = pitch = speed = None
    if rng.random() < 0.6:
        # Vocal-tract length varies about +-15 % between adults, more to children (VTLP, Jaitly & Hinton
        # 2013, uses 0.9-1.1); pitch a musical fourth either way; rate as in Kaldi's 0.9/1.1 speed perturbation.
        formant = float(np.round(rng.uniform(0.86, 1.16), 3))
        pitch = float(np.round(2 ** (rng.uniform(-5, 5) / 12), 3))
        if rng.random() < 0.5:
            speed = float(np.round(rng.uniform(0.9, 1.12), 3))
    return Recipe(rt60, drr, noise, snr, band, gain, codec, kbps, formant, pitch, speed)


def apply(x: np.ndarray, recipe: Recipe, rng: np.random.Generator) -> np.ndarray:
    """The recipe applied to 16 kHz mono float32 ``x``; same length, same timing."""
    y = np.asarray(x, np.float32).copy()
    if recipe.reverb_rt60 is not None:
        y = reverb(y, recipe.reverb_rt60, recipe.reverb_drr_db or 0.0, rng)
    if recipe.noise is not None:
        y = add_noise(y, recipe.noise, recipe.snr_db or 20.0, rng)
    if recipe.band is not None:
        y = band_limit(y, recipe.band)
    if recipe.gain_db:
        y = y * np.float32(10 ** (recipe.gain_db / 20))
    y = np.clip(y, -1.0, 1.0)  # a hot microphone clips
    if recipe.codec is not None:
        y = codec_round_trip(y, recipe.codec, recipe.bitrate_kbps or 24)
    return y.astype(np.float32)


def perturb_speaker(x: np.ndarray, recipe: Recipe) -> np.ndarray:
    """Another speaker saying the same: formants scaled by ``recipe.formant`` (vocal-tract length), F0
    by ``recipe.pitch``, the rate by ``recipe.speed``. Returns len(x) / speed samples, time-aligned
    with the original's timeline scaled by 1 / speed (so phones scale the same way).

    ffmpeg does the signal work: resampling the rate label (asetrate) scales every frequency and the
    duration by the formant factor; rubberband then restores the duration (times the speed change) and
    moves F0 to the wanted ratio while preserving the already-scaled formants."""
    import subprocess

    a = recipe.formant or 1.0
    p = recipe.pitch or 1.0
    v = recipe.speed or 1.0
    if a == 1.0 and p == 1.0 and v == 1.0:
        return np.asarray(x, np.float32)
    chain = (f"asetrate={RATE * a:.3f},aresample={RATE},"
             f"rubberband=tempo={v / a:.5f}:pitch={p / a:.5f}:formant=preserved:transients=mixed")
    out = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "f32le", "-ar", str(RATE), "-ac", "1",
                          "-i", "pipe:", "-af", chain, "-f", "f32le", "-ar", str(RATE), "-ac", "1", "pipe:"],
                         input=np.asarray(x, np.float32).tobytes(), capture_output=True, check=True).stdout
    y = np.frombuffer(out, np.float32)
    n = int(round(x.size / v))
    # rubberband compensates its own latency; a residue of a few ms is measured on the loudness
    # envelope (the waveforms of two pitches do not correlate) and removed. Its output can end early
    # by a block (the tail is silence after the last phone): padded.
    lag = _envelope_delay(_time_scale_reference(x, n) if v != 1.0 else x, y)
    y = y[lag:] if lag >= 0 else np.concatenate([np.zeros(-lag, np.float32), y])
    if y.size < n:
        y = np.concatenate([y, np.zeros(n - y.size, np.float32)])
    return y[:n].astype(np.float32)


def _time_scale_reference(x: np.ndarray, n: int) -> np.ndarray:
    """x on an n-sample timeline (linear interpolation): only its loudness envelope is used."""
    t = np.linspace(0, x.size - 1, n)
    return np.interp(t, np.arange(x.size), x).astype(np.float32)


def _envelope_delay(x: np.ndarray, y: np.ndarray, hop: int = 80, max_lag: int = 40) -> int:
    """Samples by which y lags x, from the cross-correlation of log energies in 5 ms frames (+-200 ms)."""
    def env(z: np.ndarray) -> np.ndarray:
        m = z.size // hop * hop
        e = np.log(np.mean(z[:m].astype(np.float64).reshape(-1, hop) ** 2, axis=1) + 1e-8)
        return e - e.mean() if e.size else e

    ex, ey = env(x), env(y)
    n = min(ex.size, ey.size)
    if n < 4:
        return 0
    ex, ey = ex[:n], ey[:n]
    scores = [float(np.dot(ex[max(0, -k): n - max(0, k)], ey[max(0, k): n - max(0, -k)])) for k in range(-max_lag, max_lag + 1)]
    return (int(np.argmax(scores)) - max_lag) * hop


# ------------------------------------------------------------------------------ effects
def _rms(x: np.ndarray) -> float:
    # Level of the active part: frames above -50 dB relative to the loudest, so pauses don't dilute it.
    n = x.size // 160 * 160
    if n == 0:
        return float(np.sqrt(np.mean(x.astype(np.float64) ** 2) + 1e-12))
    e = np.mean(x[:n].reshape(-1, 160).astype(np.float64) ** 2, axis=1)
    active = e[e > e.max() * 1e-5]
    return float(np.sqrt(active.mean() + 1e-12))


def reverb(x: np.ndarray, rt60: float, drr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Convolve with a synthetic room response: the direct path at lag 0 (so no delay), a few early
    reflections, then exponentially decaying noise reaching -60 dB at ``rt60``."""
    from scipy.signal import fftconvolve

    n = int(rt60 * RATE)
    t = np.arange(n) / RATE
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)  # 10^(-3) amplitude at rt60
    tail[: int(0.003 * RATE)] = 0.0  # the tail starts after the first reflections
    for _ in range(6):
        k = int(rng.uniform(0.002, 0.02) * RATE)
        tail[k] += rng.uniform(-1, 1) * 3
    tail *= np.sqrt(10 ** (-drr_db / 10) / (np.sum(tail**2) + 1e-12))
    h = tail
    h[0] += 1.0
    y = fftconvolve(x.astype(np.float64), h)[: x.size]
    return (y * (_rms(x) / (_rms(y) + 1e-12))).astype(np.float32)


def _coloured(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Noise with power spectrum ~ 1/f^exponent (0 white, 1 pink, 2 brown)."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / RATE)
    f[0] = f[1] if n > 1 else 1.0
    spec *= f ** (-exponent / 2)
    return np.fft.irfft(spec, n)


def add_noise(x: np.ndarray, kind: str, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    n = x.size
    if kind == "white":
        noise = rng.standard_normal(n)
    elif kind == "pink":
        noise = _coloured(n, 1.0, rng)
    elif kind == "brown":
        noise = _coloured(n, 2.0, rng)
    elif kind == "hum":
        t = np.arange(n) / RATE
        f0 = rng.choice([50.0, 60.0])
        hum = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6.28)) / k for k in (1, 2, 3, 5))
        hiss = _coloured(n, 1.0, rng)
        noise = hum / (np.std(hum) + 1e-12) + 0.3 * hiss / (np.std(hiss) + 1e-12)
    elif kind == "babble-like":
        # Pink noise with a syllable-rate (3-6 Hz) envelope: the texture of a crowd, without words.
        t = np.arange(n) / RATE
        env = sum(1 + np.sin(2 * np.pi * rng.uniform(3, 6) * t + rng.uniform(0, 6.28)) for _ in range(4))
        noise = _coloured(n, 1.0, rng) * env
    else:
        raise ValueError(f"unknown noise kind {kind!r}")
    noise = np.asarray(noise, np.float64)
    scale = _rms(x) / (np.sqrt(np.mean(noise**2)) + 1e-12) * 10 ** (-snr_db / 20)
    return (x + noise * scale).astype(np.float32)


def band_limit(x: np.ndarray, kind: str) -> np.ndarray:
    """headset: 100-7000 Hz; telephone: 300-3400 Hz through an 8 kHz channel. Zero-phase, so no delay."""
    from scipy.signal import butter, resample_poly, sosfiltfilt

    if kind == "headset":
        sos = butter(4, [100, 7000], btype="band", fs=RATE, output="sos")
        return sosfiltfilt(sos, x).astype(np.float32)
    if kind == "telephone":
        sos = butter(6, [300, 3400], btype="band", fs=RATE, output="sos")
        y = resample_poly(sosfiltfilt(sos, x), 1, 2)
        return resample_poly(y, 2, 1)[: x.size].astype(np.float32)
    raise ValueError(f"unknown band limit {kind!r}")


def codec_round_trip(x: np.ndarray, codec: str, kbps: int) -> np.ndarray:
    """Encode to MP3 or Opus and decode back (in memory, PyAV), then undo the codec's delay."""
    import av

    name, fmt, rate = {"mp3": ("libmp3lame", "mp3", 16000), "opus": ("libopus", "ogg", 48000)}[codec]
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as out:
        st = out.add_stream(name, rate=rate)
        st.bit_rate = kbps * 1000
        st.layout = "mono"
        frame = av.AudioFrame.from_ndarray((np.clip(x, -1, 1) * 32767).astype(np.int16)[None, :], format="s16", layout="mono")
        frame.sample_rate = RATE
        res = av.AudioResampler(format=st.format.name, layout="mono", rate=rate)
        for f in res.resample(frame) + res.resample(None):
            for p in st.encode(f):
                out.mux(p)
        for p in st.encode(None):
            out.mux(p)
    buf.seek(0)
    parts = []
    with av.open(buf, "r", format=fmt) as inp:
        res = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        for f in inp.decode(audio=0):
            for g in res.resample(f):
                parts.append(g.to_ndarray().reshape(-1))
        for g in res.resample(None):
            parts.append(g.to_ndarray().reshape(-1))
    y = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    lag = _delay(x, y)
    y = y[lag:] if lag >= 0 else np.concatenate([np.zeros(-lag, np.float32), y])
    if y.size < x.size:
        y = np.concatenate([y, np.zeros(x.size - y.size, np.float32)])
    return y[: x.size].astype(np.float32)


def _delay(x: np.ndarray, y: np.ndarray, max_lag: int = 2400) -> int:
    """Samples by which y lags x (cross-correlation peak within +-150 ms)."""
    from scipy.signal import correlate

    n = min(x.size, y.size, RATE * 4)
    if n < 32:
        return 0
    c = correlate(y[: n + max_lag].astype(np.float64), x[:n].astype(np.float64), mode="full", method="fft")
    zero = n - 1
    lo, hi = max(0, zero - max_lag), min(c.size, zero + max_lag + 1)
    return int(np.argmax(c[lo:hi]) + lo - zero)
