"""Find the bundled face models and run them with ai-edge-litert on one thread.

One thread because the renderer and the audio stages share two cores with us, and these
models take about a millisecond each: threading them would cost more in contention than it saves.
"""

from __future__ import annotations

import contextlib
import os
import sys
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import MarionetteError

MODEL_DIR_PACKAGE = "marionette.models"


def model_path(name: str) -> Path:
    """Path of a bundled model file in models/face/ (the package data of marionette.models)."""
    path = Path(str(resources.files(MODEL_DIR_PACKAGE).joinpath("face", name)))
    if not path.is_file():
        raise MarionetteError(
            f"face model {name!r} is missing from {path.parent}; reinstall marionette "
            "(`pip install -e .`) so that models/face/*.tflite are present"
        )
    return path


@contextlib.contextmanager
def _quiet_stderr():
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, ValueError, OSError):  # stderr replaced by an object without a descriptor
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), fd)
            yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


class TfliteModel:
    """One .tflite network with a single float32 image input; run() returns every output."""

    def __init__(self, interpreter: object, name: str) -> None:
        self._it = interpreter
        self.name = name
        inp = interpreter.get_input_details()[0]
        self._input_index = inp["index"]
        self.input_shape = tuple(int(x) for x in inp["shape"])  # (1, H, W, 3)
        self._outputs = [d["index"] for d in sorted(interpreter.get_output_details(), key=lambda d: d["index"])]
        self._output_names = {d["index"]: d["name"] for d in interpreter.get_output_details()}

    @classmethod
    def load(cls, name: str, threads: int = 1) -> "TfliteModel":
        from ai_edge_litert.interpreter import Interpreter

        with _quiet_stderr():  # litert announces its XNNPACK delegate on fd 2 for every model
            it = Interpreter(model_path=str(model_path(name)), num_threads=threads)
            it.allocate_tensors()
        return cls(it, name)

    @property
    def input_size(self) -> tuple[int, int]:
        """(width, height) of the input picture."""
        return (self.input_shape[2], self.input_shape[1])

    def output_named(self, outputs: list[np.ndarray], name: str) -> np.ndarray:
        for idx, arr in zip(self._outputs, outputs):
            if self._output_names[idx] == name:
                return arr
        raise KeyError(f"{self.name} has no output {name!r}; outputs: {sorted(self._output_names.values())}")

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        """x: float32 (1, H, W, 3) in the range the network expects. Returns copies of the outputs."""
        self._it.set_tensor(self._input_index, np.ascontiguousarray(x, dtype=np.float32))
        self._it.invoke()
        return [self._it.get_tensor(i).copy() for i in self._outputs]
