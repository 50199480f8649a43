"""Feature-extraction speed: whole-file and 20 ms streaming, on one pinned core.

Synthetic speech-like audio (voiced glides, noise bursts, pauses) keeps the benchmark free of data
files; every frame still runs the full path (log-mel, loudness, YIN F0 on loud frames, Silero VAD).
Both wall-clock and CPU-time rates are reported: on a shared machine the wall clock includes
waiting for the core, the CPU time is what the work costs.
"""

from __future__ import annotations

import os
import time

import numpy as np

from marionette.core.audio.features import StreamingFeatureExtractor, extract_features
from marionette.core.types import AudioChunk
from marionette.tools.bench import pinned_core


def _speechlike(seconds: float, sr: int = 16000, seed: int = 0) -> np.ndarray:
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    phase = np.cumsum(130 + 40 * np.sin(2 * np.pi * 0.7 * t)) / sr
    pulses = (np.diff(np.floor(phase), prepend=0) > 0).astype(np.float64)
    voiced = lfilter([1.0], [1, -1.6, 0.9], pulses) * 0.05 * (np.sin(2 * np.pi * 1.3 * t) > -0.2)
    noise = rng.standard_normal(t.size) * 0.03 * (np.sin(2 * np.pi * 0.9 * t + 1) > 0.8)
    return (voiced + noise).astype(np.float32)


def _timed(fn) -> tuple[float, float]:
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def bench_features(seconds: float = 60.0, repeats: int = 3) -> dict:
    """Best of ``repeats`` runs: x realtime for a whole file, for 20 ms pushes, and for 44.1 kHz input."""
    with pinned_core() as pinned:
        x = _speechlike(seconds)
        extract_features(AudioChunk(x[:16000], 16000))  # load the VAD session, warm caches
        whole = [_timed(lambda: extract_features(AudioChunk(x, 16000))) for _ in range(repeats)]
        ex = StreamingFeatureExtractor.load()
        hop = 320

        def stream() -> None:
            for i in range(0, x.size, hop):
                ex.push(AudioChunk(x[i : i + hop], 16000))
            ex.flush()

        streamed = [_timed(stream) for _ in range(repeats)]
        x44 = x[: 44100 * 10]  # 10 s presented as 44.1 kHz input: exercises the resampler too
        extract_features(AudioChunk(x44[:44100], 44100))
        at44 = [_timed(lambda: extract_features(AudioChunk(x44, 44100))) for _ in range(repeats)]
    n_push = -(-x.size // hop)
    s44 = x44.size / 44100

    def rate(runs, secs, k):
        return round(secs / max(min(r[k] for r in runs), 1e-6), 1)

    return {
        "audio_seconds": seconds,
        "cpu_pinned": pinned,
        "whole_file_x_realtime": rate(whole, seconds, 0),
        "whole_file_x_realtime_cpu": rate(whole, seconds, 1),
        "stream_20ms_x_realtime": rate(streamed, seconds, 0),
        "stream_20ms_x_realtime_cpu": rate(streamed, seconds, 1),
        "stream_20ms_ms_per_push": round(1000 * min(r[0] for r in streamed) / n_push, 4),
        "input_44k1_x_realtime": rate(at44, s44, 0),
        "input_44k1_x_realtime_cpu": rate(at44, s44, 1),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
