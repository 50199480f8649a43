"""The audio front end: any file or stream in, 16 kHz mono inside, 100 Hz features out.

    load_audio(path) -> AudioChunk            whole file (refuses > max_seconds; use iter_audio)
    iter_audio(path, chunk_seconds) -> chunks  bounded-memory streaming of any length
    to_mono_16k(samples, rate) -> float32      channel mix + resampling
    StreamingFeatureExtractor.load()           push(AudioChunk) / flush() / reset() -> AudioFeatures
    extract_features(AudioChunk)               whole-signal features, equal to the streamed ones
"""

from .features import (
    FRAME_RATE,
    N_MELS,
    FeatureConfig,
    StreamingFeatureExtractor,
    concat_features,
    extract_features,
)
from .io import AudioFileError, iter_audio, load_audio, to_mono_16k
from .resample import TARGET_RATE, StreamingResampler, resample
from .vad import SileroVAD

__all__ = [
    "AudioFileError",
    "FRAME_RATE",
    "FeatureConfig",
    "N_MELS",
    "SileroVAD",
    "StreamingFeatureExtractor",
    "StreamingResampler",
    "TARGET_RATE",
    "concat_features",
    "extract_features",
    "iter_audio",
    "load_audio",
    "resample",
    "to_mono_16k",
]
