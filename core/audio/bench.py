"""Feature-extraction speed: whole-file and 20 ms streaming, on one pinned core.

Synthetic speech-like audio (voiced glides, noise bursts, pauses) keeps the benchmark free of data
files; every frame still runs the full path (log-mel, loudness, YIN F0 on loud frames, Silero VAD).
"""

from __future__ import annotations

import os
import time

import numpy as np

from ..types import AudioChunk
from .features import StreamingFeatureExtractor, extract_features


def _speechlike(seconds: float, sr: int = 16000, seed: int = 0) -> np.ndarray:
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    phase = np.cumsum(130 + 40 * np.sin(2 * np.pi * 0.7 * t)) / sr
    pulses = (np.diff(np.floor(phase), prepend=0) > 0).astype(np.float64)
    voiced = lfilter([1.0], [1, -1.6, 0.9], pulses) * 0.05 * (np.sin(2 * np.pi * 1.3 * t) > -0.2)
    noise = rng.standard_normal(t.size) * 0.03 * (np.sin(2 * np.pi * 0.9 * t + 1) > 0.8)
    return (voiced + noise).astype(np.float32)


def bench_features(seconds: float = 60.0, repeats: int = 3) -> dict:
    """Best of ``repeats`` runs: x realtime for a whole file, and for 20 ms pushes with ms per push."""
    pinned = None
    if hasattr(os, "sched_setaffinity"):
        before = os.sched_getaffinity(0)
        pinned = min(before)
        os.sched_setaffinity(0, {pinned})
    try:
        x = _speechlike(seconds)
        extract_features(AudioChunk(x[:16000], 16000))  # load the VAD session, warm caches
        whole = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            extract_features(AudioChunk(x, 16000))
            whole.append(time.perf_counter() - t0)
        ex = StreamingFeatureExtractor.load()
        hop = 320
        streamed = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            for i in range(0, x.size, hop):
                ex.push(AudioChunk(x[i : i + hop], 16000))
            ex.flush()
            streamed.append(time.perf_counter() - t0)
        x44 = x[: 16000 * 10]  # 10 s labelled as 44.1 kHz input: exercises the resampler
        t0 = time.perf_counter()
        extract_features(AudioChunk(x44, 44100))
        t44 = time.perf_counter() - t0
    finally:
        if pinned is not None:
            os.sched_setaffinity(0, before)
    n_push = -(-x.size // hop)
    return {
        "audio_seconds": seconds,
        "cpu_pinned": pinned,
        "whole_file_x_realtime": round(seconds / min(whole), 1),
        "stream_20ms_x_realtime": round(seconds / min(streamed), 1),
        "stream_20ms_ms_per_push": round(1000 * min(streamed) / n_push, 4),
        "resample_44k1_x_realtime": round((x44.size / 44100) / t44, 1),
    }
