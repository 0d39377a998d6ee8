"""Backends chosen from a table: name -> "module:Class".

``auto`` on an ONNX file measures the candidates (:mod:`runtimes.autotune`); where it does not
measure (``EDGE_SDK_AUTOTUNE=0``, a backend option given) it takes the first in ``AUTO_ORDER`` that loads."""

from __future__ import annotations

import importlib
from typing import Any

BACKENDS: dict[str, str] = {
    "tensorrt": "runtimes.backends.tensorrt:TensorRTSession",
    "onnxruntime": "runtimes.backends.onnxruntime:OnnxRuntimeSession",
    "openvino": "runtimes.backends.openvino:OpenVINOSession",
    "numpy": "runtimes.backends.numpy_mlp:NumpySession",
}
# auto without measuring: native TensorRT for engines; ONNX Runtime for ONNX (it picks CUDA/TensorRT providers itself).
AUTO_ORDER: dict[str, tuple[str, ...]] = {".engine": ("tensorrt",), ".onnx": ("onnxruntime", "openvino", "numpy")}


def backend_class(name: str) -> Any:
    module, _, attr = BACKENDS[name].partition(":")
    return getattr(importlib.import_module(module), attr)
