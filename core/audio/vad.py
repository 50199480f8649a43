"""Voice activity from Silero VAD's ONNX model (bundled, MIT), run with onnxruntime, streaming.

The model decides per 32 ms chunk with an LSTM state carried across calls; we batch every complete
chunk of a push into one call (the "sequence" export), which is bit-exact with one call per chunk
and keeps the per-call overhead off the hot path. Trade-off: 32 ms resolution, mapped causally to
10 ms feature frames by the feature extractor.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

CHUNK = 512  # samples at 16 kHz = 32 ms
CONTEXT = 64  # samples of the previous chunk the model sees before each chunk
MODEL_PATH = Path(__file__).parent / "data" / "silero_vad_16k_sequence.onnx"


@lru_cache(maxsize=1)
def _session():
    import onnxruntime as ort

    opts = ort.SessionOptions()
    # One thread: the frame loop owns the other core, and the per-call work is tiny.
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(MODEL_PATH), sess_options=opts, providers=["CPUExecutionProvider"])


class SileroVAD:
    """Streaming speech probability per 32 ms chunk of 16 kHz audio.

    push(samples) returns the probabilities of the chunks completed so far; the state (LSTM and
    the last 64 samples) carries over, so any chunking gives the same sequence. reset() forgets.
    """

    def __init__(self, session) -> None:
        self._session = session
        self.reset()

    @classmethod
    def load(cls) -> "SileroVAD":
        """Open the bundled model (the onnxruntime session is shared between instances; it is stateless)."""
        return cls(_session())

    def reset(self) -> None:
        self._h = np.zeros((1, 1, 128), np.float32)
        self._c = np.zeros((1, 1, 128), np.float32)
        self._pending = np.zeros(CONTEXT, np.float32)  # context + samples not yet in a full chunk

    def push(self, samples: np.ndarray) -> np.ndarray:
        buf = np.concatenate([self._pending, np.asarray(samples, np.float32).reshape(-1)])
        n = (buf.size - CONTEXT) // CHUNK
        if n == 0:
            self._pending = buf
            return np.zeros(0, np.float32)
        # Row k = 64 context samples then chunk k: a strided view, copied once for onnxruntime.
        rows = np.lib.stride_tricks.sliding_window_view(buf[: CONTEXT + n * CHUNK], CONTEXT + CHUNK)[::CHUNK]
        probs, self._h, self._c = self._session.run(
            ["speech_probs", "hn", "cn"], {"input": np.ascontiguousarray(rows), "h": self._h, "c": self._c}
        )
        self._pending = buf[n * CHUNK :]
        return np.asarray(probs, np.float32).reshape(-1)
