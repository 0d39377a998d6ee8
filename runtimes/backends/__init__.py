"""Backends chosen from a table: name -> "module:Class". ``auto`` takes the first that can load."""

from __future__ import annotations

import importlib
from typing import Any

BACKENDS: dict[str, str] = {
    "tensorrt": "runtimes.backends.tensorrt:TensorRTSession",
    "onnxruntime": "runtimes.backends.onnxruntime:OnnxRuntimeSession",
    "numpy": "runtimes.backends.numpy_mlp:NumpySession",
}
# auto: native TensorRT for engines; ONNX Runtime for ONNX (it picks CUDA/TensorRT providers itself).
AUTO_ORDER: dict[str, tuple[str, ...]] = {".engine": ("tensorrt",), ".onnx": ("onnxruntime", "numpy")}


def backend_class(name: str) -> Any:
    module, _, attr = BACKENDS[name].partition(":")
    return getattr(importlib.import_module(module), attr)
