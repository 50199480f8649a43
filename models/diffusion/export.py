"""Checkpoint -> ONNX (opset 17, dynamic batch for guidance) plus the runtime JSON, checked for parity.

The legacy TorchScript exporter is used on purpose: the graph is static apart from the batch axis and
it needs no onnxscript. The exported graph is run once under onnxruntime and compared with torch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from marionette.core.generators.diffusion import N_AUDIO, N_EMOTION
from marionette.core.types import N_CHANNELS

from .network import MotionDenoiser, NetConfig
from .train import RuntimeDefaults, runtime_config, write_json

INPUTS = ("x_t", "known", "mask", "t", "audio", "emotion", "audio_keep", "emo_keep")


def dummy_inputs(cfg: NetConfig, b: int = 2, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    n, k = cfg.window, cfg.n_context
    r = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    mask = (torch.rand(b, n, N_CHANNELS, generator=g) > 0.5).float()
    return (r(b, n, N_CHANNELS), r(b, n, N_CHANNELS), mask, torch.rand(b, generator=g), r(b, n, k, N_AUDIO),
            torch.rand(b, n, N_EMOTION, generator=g), torch.ones(b), torch.tensor([1.0, 0.0][:b]))


def export(ckpt: Path, out_dir: Path, *, runtime: RuntimeDefaults | None = None, centre_offset: float = 0.0,
           weights: str = "ema") -> Path:
    """Write out_dir/diffusion.onnx and diffusion.json from a checkpoint; returns the ONNX path."""
    import onnxruntime as ort

    state = torch.load(ckpt, weights_only=False)
    cfg = NetConfig(**state["net"])
    model = MotionDenoiser(cfg)
    model.load_state_dict(state[weights])
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = out_dir / "diffusion.onnx"
    args = dummy_inputs(cfg)
    dyn = {name: {0: "batch"} for name in INPUTS}
    dyn["x0"] = {0: "batch"}
    with torch.no_grad():
        torch.onnx.export(model, args, str(onnx_path), input_names=list(INPUTS), output_names=["x0"],
                          dynamic_axes=dyn, opset_version=17, dynamo=False)
        expect = model(*args).numpy()
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = sess.run(["x0"], {n: a.numpy() for n, a in zip(INPUTS, args)})[0]
    err = float(np.abs(got - expect).max())
    if err > 1e-3:
        raise RuntimeError(f"ONNX export differs from torch by {err:.2e} (expected < 1e-3)")
    write_json(out_dir / "diffusion.json", runtime_config(state, runtime or RuntimeDefaults(), centre_offset))
    return onnx_path
