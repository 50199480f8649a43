"""The NVIDIA path: the shipped ONNX under onnxruntime's TensorRT provider agrees with the CPU provider.

Skips with the reason when there is no GPU or the TensorRT provider is not installed (docs/tensorrt.md)."""

import shutil

import numpy as np
import pytest

from marionette.core.generators import diffusion as dg


def _trt_reason() -> str | None:
    import onnxruntime as ort

    if shutil.which("nvidia-smi") is None:
        return "no NVIDIA GPU here (nvidia-smi not found); see docs/tensorrt.md"
    if "TensorrtExecutionProvider" not in ort.get_available_providers():
        return "onnxruntime has no TensorrtExecutionProvider: pip install onnxruntime-gpu tensorrt (docs/tensorrt.md)"
    if not dg.model_available():
        return "no shipped diffusion model in models/diffusion"
    return None


@pytest.mark.skipif(_trt_reason() is not None, reason=_trt_reason() or "")
def test_tensorrt_matches_cpu(tmp_path):
    cpu = dg.DiffusionModel.load()
    spec = cpu.spec
    n, k = spec.window, len(spec.audio_offsets)
    rng = np.random.default_rng(0)
    feeds = (rng.standard_normal((2, n, 58)), rng.standard_normal((2, n, 58)), (rng.random((2, n, 58)) > 0.5),
             np.array([0.999, 0.5]), rng.standard_normal((2, n, k, 84)), np.eye(8)[[1] * n][None].repeat(2, 0),
             np.array([1.0, 0.0]), np.array([1.0, 0.0]))
    trt = dg.DiffusionModel.load(providers=[
        ("TensorrtExecutionProvider", {"trt_fp16_enable": False, "trt_engine_cache_enable": True,
                                       "trt_engine_cache_path": str(tmp_path)}),
        "CUDAExecutionProvider", "CPUExecutionProvider"])
    assert "TensorrtExecutionProvider" in trt._session.get_providers()
    np.testing.assert_allclose(trt.predict_x0(*feeds), cpu.predict_x0(*feeds), atol=1e-3)
