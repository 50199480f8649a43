"""Writing rendered frames to an mp4 (H.264 via PyAV), with optional audio muxed in.

Small and reusable: the render command, the recorder sink and the lip-sync demo all call
write_video(). Frames are streamed, never held in memory.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Iterable

import numpy as np

from ..types import AudioChunk


def write_video(frames: Iterable[np.ndarray], path: str | Path, fps: float,
                audio: AudioChunk | None = None, *, crf: int = 20) -> int:
    """Encode uint8 (H, W, 3) RGB frames to ``path`` (mp4, H.264, yuv420p); returns the frame count.

    audio: mono float32 samples, muxed as AAC from t = 0. Width and height must be even (yuv420p)."""
    import av  # heavy; imported where used

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rate = Fraction(fps).limit_denominator(1001)
    n = 0
    with av.open(str(path), mode="w") as container:
        stream = None
        a_stream = None
        if audio is not None:
            a_stream = container.add_stream("aac", rate=int(audio.sample_rate))
            a_stream.layout = "mono"
        for img in frames:
            if stream is None:
                h, w = img.shape[:2]
                if w % 2 or h % 2:
                    raise ValueError(f"frame size {w}x{h}: H.264 in yuv420p needs even width and height")
                stream = container.add_stream("libx264", rate=rate)
                stream.width, stream.height = w, h
                stream.pix_fmt = "yuv420p"
                stream.options = {"crf": str(crf), "preset": "veryfast"}
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
            n += 1
        if stream is not None:
            for packet in stream.encode():
                container.mux(packet)
        if a_stream is not None:
            samples = np.clip(np.asarray(audio.samples, np.float32), -1, 1)
            step = 1024
            for i in range(0, len(samples), step):
                chunk = samples[i:i + step]
                af = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
                af.sample_rate = int(audio.sample_rate)
                af.pts = i
                for packet in a_stream.encode(af):
                    container.mux(packet)
            for packet in a_stream.encode():
                container.mux(packet)
    return n
