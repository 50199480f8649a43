"""The motion-space diffusion model (Ditto-style): torch network, training and ONNX export.

Only this package imports torch (the `train` extra); the runtime in core.generators.diffusion runs
the exported ONNX graph with onnxruntime. Weights and their config ship next to this file.
"""
