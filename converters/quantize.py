"""Step 2: FP32 ONNX -> FP16, INT8 static QDQ, or INT8 dynamic, with library tools only.

* INT8 static (``int8``): onnxruntime.quantization in QDQ format, **symmetric** activations and weights
  (zero point 0), per-channel weights by default, Q/DQ on the inputs of compute layers only, so the
  same file suits TensorRT's explicit quantization. Calibration: MinMax, Entropy or Percentile.
* INT8 static for CPUs (``int8-cpu``): ONNX Runtime's own recipe for its CPU kernels: uint8
  activations with zero points ("U8S8"), int8 per-channel weights, Q/DQ around every op it can
  quantize, so the QDQ groups fuse into QLinearConv/QLinearMatMul/... and data stay int8 between
  them. Faster on x86 and ARM CPUs; TensorRT cannot use it (zero points, uint8).
* INT8 dynamic: onnxruntime's dynamic quantization (weights int8, activations quantized at run
  time) — the natural choice for MLPs.
* FP16: onnxconverter-common with FP32 inputs/outputs; numerically fragile ops (normalisations,
  reductions, divisions such as attention denominators, exp/log) stay in FP32.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from edge_sdk._io import atomic_path
from edge_sdk.errors import EdgeSDKError
from edge_sdk.training.common import progress

CALIB_METHODS = ("minmax", "entropy", "percentile")
# Q/DQ go on the inputs of the layers that compute (weights and activations): TensorRT's
# recommended placement for explicit quantization. Element-wise ops, pooling and activations
# between them run on the dequantized values, and TensorRT fuses them into the INT8 kernels.
QDQ_OPS = ["Conv", "ConvTranspose", "Gemm", "MatMul"]
# Kept in FP32 by the FP16 conversion: normalisations, reductions, attention denominators.
FP16_KEEP_FP32 = (
    "LayerNormalization", "BatchNormalization", "InstanceNormalization", "GroupNormalization",
    "ReduceMean", "ReduceSum", "ReduceL2", "LpNormalization", "Div", "Reciprocal", "Sqrt", "Pow",
    "Exp", "Log", "Softmax", "Erf",
)


class _Reader:
    """A CalibrationDataReader over an N x ... array, one batch at a time, with a progress bar."""

    def __init__(self, input_name: str, samples: np.ndarray, batch: int, show_progress: bool) -> None:
        chunks = [samples[i : i + batch] for i in range(0, len(samples), batch)]
        self._it: Iterator[np.ndarray] = iter(progress(chunks, "calibrating", show_progress, total=len(chunks)))
        self._name = input_name

    def get_next(self) -> dict[str, np.ndarray] | None:
        chunk = next(self._it, None)
        return None if chunk is None else {self._name: np.ascontiguousarray(chunk, dtype=np.float32)}

    def rewind(self) -> None:  # pragma: no cover - only used by some calibrators
        raise EdgeSDKError("calibration reader cannot rewind")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """onnxruntime.quantization logs at WARNING through the root logger; keep the CLI clean."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        root.setLevel(level)


def _preprocess(src: Path, dst: Path) -> None:
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with _quiet():
        quant_pre_process(str(src), str(dst), skip_symbolic_shape=True)
    # The dynamo exporter records value_info for initializers too; the quantizer rewrites some
    # weights (e.g. transposes Gemm's B) and onnx shape inference then trips on the stale entry.
    model = onnx.load(str(dst))
    inits = {i.name for i in model.graph.initializer}
    keep = [v for v in model.graph.value_info if v.name not in inits]
    del model.graph.value_info[:]
    model.graph.value_info.extend(keep)
    onnx.save(model, str(dst))


def quantize_int8_static(
    fp32_path: Path,
    out_path: Path,
    samples: np.ndarray,
    *,
    input_name: str = "input",
    method: str = "minmax",
    per_channel: bool = True,
    exclude_nodes: Sequence[str] = (),
    batch: int = 16,
    show_progress: bool = True,
    target: str = "tensorrt",
) -> dict[str, Any]:
    """Static INT8 QDQ. ``target="tensorrt"`` (precision ``int8``): symmetric int8, zero points 0, Q/DQ on
    compute-layer inputs. ``target="cpu"`` (precision ``int8-cpu``): ONNX Runtime's CPU recipe, uint8
    activations with zero points and every quantizable op in QDQ. Returns the calibration summary."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if method not in CALIB_METHODS:
        raise EdgeSDKError(f"unknown calibration method {method!r}; choose one of {', '.join(CALIB_METHODS)}")
    if target not in ("tensorrt", "cpu"):
        raise EdgeSDKError(f"unknown INT8 target {target!r}; choose tensorrt or cpu")
    if len(samples) == 0:
        raise EdgeSDKError("INT8 calibration needs at least one sample")
    calib = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
             "percentile": CalibrationMethod.Percentile}[method]
    cpu = target == "cpu"
    # tensorrt: QuantizeBias=False keeps biases float: TensorRT's parser rejects int32 biases behind a
    # DequantizeLinear (onnx-tensorrt#850), and it fuses float biases into INT8 convs itself.
    # cpu: ONNX Runtime's defaults (int32 biases, all registered op types, outputs quantized) plus 7-bit
    # weights (reduce_range), as ONNX Runtime's docs advise for U8S8 on x86-64: its fused U8S8 kernels can
    # saturate the 16-bit intermediate sums otherwise. onnxruntime 1.32 does on compact-cnn here (top-1
    # 99.2 % -> 80.3 % fused, 99.2 % unfused; reduce_range: 99.2 % both ways).
    extra: dict[str, Any] = {} if cpu else {"ActivationSymmetric": True, "WeightSymmetric": True,
                                            "QuantizeBias": False, "OpTypesToExcludeOutputQuantization": QDQ_OPS}
    if method == "percentile":
        extra["CalibPercentile"] = 99.99
    with tempfile.TemporaryDirectory() as tmpdir, atomic_path(out_path) as tmp:
        pre = Path(tmpdir) / "pre.onnx"
        _preprocess(fp32_path, pre)
        reader = _Reader(input_name, samples, batch, show_progress)
        with _quiet():
            quantize_static(
                str(pre), str(tmp), reader, quant_format=QuantFormat.QDQ, per_channel=per_channel,
                activation_type=QuantType.QUInt8 if cpu else QuantType.QInt8, weight_type=QuantType.QInt8,
                calibrate_method=calib, nodes_to_exclude=list(exclude_nodes) or None, extra_options=extra,
                op_types_to_quantize=None if cpu else QDQ_OPS, calibration_providers=["CPUExecutionProvider"],
                reduce_range=cpu,
            )
    return {
        "method": method, "samples": int(len(samples)), "per_channel": per_channel, "symmetric": not cpu,
        "activation_type": "uint8" if cpu else "int8", "weight_type": "int8", "format": "QDQ", "target": target,
        "reduce_range": cpu, "excluded_nodes": list(exclude_nodes),
    }


def quantize_int8_dynamic(fp32_path: Path, out_path: Path, *, per_channel: bool = False) -> dict[str, Any]:
    """Dynamic INT8 (weights int8; activations quantized at run time). Needs no calibration data."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmpdir, atomic_path(out_path) as tmp:
        pre = Path(tmpdir) / "pre.onnx"
        _preprocess(fp32_path, pre)
        with _quiet():
            quantize_dynamic(str(pre), str(tmp), per_channel=per_channel, weight_type=QuantType.QInt8)
    return {"method": "dynamic", "samples": 0, "per_channel": per_channel, "weight_type": "int8"}


def convert_fp16(fp32_path: Path, out_path: Path) -> dict[str, Any]:
    """FP16 weights and compute with FP32 inputs/outputs; fragile ops stay FP32."""
    from onnxconverter_common import float16

    model = onnx.load(str(fp32_path))
    present = {n.op_type for n in model.graph.node}
    keep = sorted(set(FP16_KEEP_FP32) & present)
    with _quiet(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "the float32 number ... will be truncated": expected, by design
        fp16 = float16.convert_float_to_float16(
            model, keep_io_types=True, op_block_list=list(float16.DEFAULT_OP_BLOCK_LIST) + list(FP16_KEEP_FP32)
        )
    with atomic_path(out_path) as tmp:
        onnx.save(fp16, str(tmp))
    return {"method": "fp16-cast", "kept_fp32_ops": keep}
