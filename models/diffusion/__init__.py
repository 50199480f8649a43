"""The motion-space diffusion model (Ditto-style): torch network, training and ONNX export.

Only this package imports torch (the `train` extra); the runtime in core.generators.diffusion runs
the exported ONNX graph with onnxruntime. Weights and their config ship next to this file.
"""

import os

# OpenMP threads that spin while waiting collapse on a shared, oversubscribed CPU (measured here:
# 13 s per training step with 2 spinning threads vs 0.86 s passive). Must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
