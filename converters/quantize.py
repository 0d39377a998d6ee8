"""Step 2: FP32 ONNX -> FP16, INT8 static QDQ, or INT8 dynamic, with library tools only.

* INT8 static (``int8``): onnxruntime.quantization in QDQ format, **symmetric** activations and weights
  (zero point 0), per-channel weights by default, Q/DQ on the inputs of compute layers only, so the
  same file suits TensorRT's explicit quantization. Calibration: MinMax, Entropy (KL,
  2048-bin histograms as TensorRT does) or Percentile (99.99 %, clips rare outliers per tensor).
* INT8 static for CPUs (``int8-cpu``): ONNX Runtime's own recipe for its CPU kernels: uint8
  activations with zero points ("U8S8"), int8 per-channel weights, Q/DQ around every op it can
  quantize, so the QDQ groups fuse into QLinearConv/QLinearMatMul/... and data stay int8 between
  them. Faster on x86 and ARM CPUs; TensorRT cannot use it (zero points, uint8).
* INT8 static for OpenVINO (``int8-openvino``): ``int8``'s symmetric placement, which OpenVINO's CPU plugin
  runs as INT8 kernels, with 7-bit weights (reduce_range). On x86 CPUs without VNNI, OpenVINO's (oneDNN's)
  U8S8/S8S8 kernels sum pairs of 8-bit products in 16 bits and saturate on full-range weights: on this
  repo's AVX2 box care-s0's ``int8`` file scores 28.8 dB on its golden samples in ONNX Runtime and 13.7 dB in
  OpenVINO; its ``int8-openvino`` file 26.4 and 26.6 dB (BENCHMARKS.md §9). With VNNI the 8th bit would be
  safe: the 7-bit range costs some accuracy there (about 2 dB on care-s0) and no speed.
* INT8 dynamic: onnxruntime's dynamic quantization (weights int8, activations quantized at run
  time) — the natural choice for MLPs. ONNX Runtime's DynamicQuantizeLinear computes one scale per
  activation tensor per call, i.e. over the whole batch: a sample's outputs depend (slightly) on the
  other samples run with it, and batch 1 gives reproducible per-sample outputs (:data:`DYNAMIC_NOTE`).
* FP16: onnxconverter-common with FP32 inputs/outputs; numerically fragile ops (normalisations,
  reductions, divisions such as attention denominators, exp/log) stay in FP32. Its ``keep_io_types``
  casts an output that an FP32-kept op computes (Softmax, Div at the end of a model) back to float16;
  :func:`fp32_outputs` puts FP32 back on every output the FP32 model declares FP32.
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
from runtimes.precisions import CALIB_METHODS, TABLE

# Entropy (KL) calibration searches thresholds over a histogram: ONNX Runtime's quantize_static builds it with
# 128 bins and 128 quantized bins, which leaves exactly one candidate (the full range, i.e. MinMax's scales).
# We calibrate with TensorRT's 2048 bins ourselves and hand the ranges over as per-tensor overrides.
ENTROPY_BINS = 2048
ENTROPY_QUANTIZED_BINS = 255  # int8 levels over the two-sided histogram: 128 per side, as TensorRT
PERCENTILE = 99.99
# Q/DQ go on the inputs of the layers that compute (weights and activations): TensorRT's
# recommended placement for explicit quantization. Element-wise ops, pooling and activations
# between them run on the dequantized values, and TensorRT fuses them into the INT8 kernels.
QDQ_OPS = ["Conv", "ConvTranspose", "Gemm", "MatMul"]
INT8_TARGETS = tuple(dict.fromkeys(p.int8_target for p in TABLE.values() if p.int8_target))  # the table's
DYNAMIC_NOTE = ("int8-dynamic quantizes activations at run time with one scale per tensor per call, so a "
                "sample's outputs depend slightly on the other samples in its batch; run batch 1 for "
                "reproducible per-sample outputs")
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
    for i, node in enumerate(model.graph.node):  # --exclude-nodes and the mixed-precision record need names
        if not node.name:
            node.name = f"{node.op_type}_{i}"
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
    activations with zero points and every quantizable op in QDQ. ``target="openvino"`` (``int8-openvino``):
    the tensorrt placement with 7-bit weights. ``exclude_nodes`` (names in the
    pre-processed graph, see :func:`preprocessed`) stay in float. Returns the calibration summary."""
    with preprocessed(fp32_path) as pre:
        return quantize_preprocessed(pre, out_path, samples, input_name=input_name, method=method,
                                     per_channel=per_channel, exclude_nodes=exclude_nodes, batch=batch,
                                     show_progress=show_progress, target=target)


@contextlib.contextmanager
def preprocessed(fp32_path: Path) -> Iterator[Path]:
    """The graph the quantizers see (shape-inferred, optimised, every node named), in a temporary file:
    node names in it are what ``exclude_nodes`` takes."""
    with tempfile.TemporaryDirectory() as tmpdir:
        pre = Path(tmpdir) / "pre.onnx"
        _preprocess(fp32_path, pre)
        yield pre


def kl_threshold(hist: np.ndarray, edges: np.ndarray,
                 quantized_bins: int = ENTROPY_QUANTIZED_BINS) -> tuple[float, float]:
    """TensorRT's entropy calibration on a histogram centred on 0: the symmetric range whose
    ``quantized_bins``-level quantization keeps the KL divergence to the (clipped) distribution smallest."""
    hist = np.asarray(hist, np.float64)
    nb = len(hist)
    zero, half = nb // 2, quantized_bins // 2
    csum = np.concatenate([[0.0], np.cumsum(hist)])
    best, best_i = np.inf, zero
    for i in range(half, zero + 1):
        lo, hi = zero - i, min(zero + i + 1, nb)
        sliced = hist[lo:hi]
        p = sliced.copy()
        p[0] += csum[lo]
        p[-1] += csum[nb] - csum[hi]
        n = len(sliced)
        m = n // quantized_bins
        nz = sliced != 0
        sums = sliced[: m * quantized_bins].reshape(quantized_bins, m).sum(1)
        sums[-1] += sliced[m * quantized_bins:].sum()
        counts = nz[: m * quantized_bins].reshape(quantized_bins, m).sum(1)
        counts[-1] += nz[m * quantized_bins:].sum()
        per = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)
        qd = np.concatenate([np.repeat(per, m), np.full(n - m * quantized_bins, per[-1])]) * nz
        ps, qs = p.sum(), qd.sum()
        if ps <= 0 or qs <= 0:
            continue
        pn, qn = p / ps, np.maximum(qd / qs, 1e-12)
        mask = pn > 0
        kl = float(np.sum(pn[mask] * np.log(pn[mask] / qn[mask])))
        if kl < best:
            best, best_i = kl, i
    lo, hi = zero - best_i, min(zero + best_i + 1, nb)
    return float(edges[lo]), float(edges[hi])


def _entropy_ranges(pre: Path, samples: np.ndarray, input_name: str, batch: int,
                    tmpdir: str) -> dict[str, list[dict[str, Any]]]:
    """Per-tensor KL-optimal ranges (TensorRT's method: 2048-bin histograms), as TensorQuantOverrides.
    ONNX Runtime collects the histograms; its own threshold search is a pure-Python loop (seconds per
    tensor at 2048 bins), so the search here is vectorised per candidate."""
    from onnxruntime.quantization import CalibrationMethod
    from onnxruntime.quantization.calibrate import create_calibrator

    calibrator = create_calibrator(
        str(pre), None, augmented_model_path=str(Path(tmpdir) / "augmented.onnx"),
        calibrate_method=CalibrationMethod.Entropy, providers=["CPUExecutionProvider"],
        extra_options={"num_bins": ENTROPY_BINS, "num_quantized_bins": ENTROPY_QUANTIZED_BINS},
    )
    with _quiet():
        calibrator.collect_data(_Reader(input_name, samples, batch, False))
    overrides: dict[str, list[dict[str, Any]]] = {}
    for name, (hist, edges, vmin, vmax, *_) in calibrator.collector.histogram_dict.items():
        if np.asarray(hist).sum() <= 0:
            continue
        lo, hi = kl_threshold(hist, edges)
        lo, hi = max(lo, float(vmin)), min(hi, float(vmax))  # never wider than what was seen
        lo, hi = min(lo, 0.0), max(hi, 0.0)  # the range holds 0, as quantizers require
        if np.isfinite(lo) and np.isfinite(hi) and hi > lo:
            overrides[name] = [{"rmin": np.float32(lo), "rmax": np.float32(hi)}]
    return overrides


def quantize_preprocessed(
    pre: Path,
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
    """:func:`quantize_int8_static` on an already pre-processed graph (the mixed-precision search
    quantizes the same graph many times)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if method not in CALIB_METHODS:
        raise EdgeSDKError(f"unknown calibration method {method!r}; choose one of {', '.join(CALIB_METHODS)}")
    if target not in INT8_TARGETS:
        raise EdgeSDKError(f"unknown INT8 target {target!r}; choose one of {', '.join(INT8_TARGETS)}")
    if len(samples) == 0:
        raise EdgeSDKError("INT8 calibration needs at least one sample")
    cpu = target == "cpu"
    seven_bit = target != "tensorrt"  # reduce_range: CPUs without VNNI saturate on full-range weights
    # tensorrt and openvino: QuantizeBias=False keeps biases float: TensorRT's parser rejects int32 biases behind a
    # DequantizeLinear (onnx-tensorrt#850), and it fuses float biases into INT8 convs itself.
    # cpu: ONNX Runtime's defaults (int32 biases, all registered op types, outputs quantized) plus 7-bit
    # weights (reduce_range), as ONNX Runtime's docs advise for U8S8 on x86-64: its fused U8S8 kernels can
    # saturate the 16-bit intermediate sums otherwise. onnxruntime 1.32 does on compact-cnn here (top-1
    # 99.2 % -> 80.3 % fused, 99.2 % unfused; reduce_range: 99.2 % both ways).
    extra: dict[str, Any] = {} if cpu else {"ActivationSymmetric": True, "WeightSymmetric": True,
                                            "QuantizeBias": False, "OpTypesToExcludeOutputQuantization": QDQ_OPS}
    calib = CalibrationMethod.MinMax
    with tempfile.TemporaryDirectory() as tmpdir, atomic_path(out_path) as tmp:
        if method == "percentile":
            calib = CalibrationMethod.Percentile
            extra["CalibPercentile"] = PERCENTILE
            extra["CalibTensorRangeSymmetric"] = not cpu
        elif method == "entropy":
            extra["TensorQuantOverrides"] = _entropy_ranges(pre, samples, input_name, batch, tmpdir)
        reader = _Reader(input_name, samples, batch, show_progress)
        with _quiet():
            quantize_static(
                str(pre), str(tmp), reader, quant_format=QuantFormat.QDQ, per_channel=per_channel,
                activation_type=QuantType.QUInt8 if cpu else QuantType.QInt8, weight_type=QuantType.QInt8,
                calibrate_method=calib, nodes_to_exclude=list(exclude_nodes) or None, extra_options=extra,
                op_types_to_quantize=None if cpu else QDQ_OPS, calibration_providers=["CPUExecutionProvider"],
                reduce_range=seven_bit,
            )
    return {
        "method": method, "samples": int(len(samples)), "per_channel": per_channel, "symmetric": not cpu,
        "activation_type": "uint8" if cpu else "int8", "weight_type": "int8", "format": "QDQ", "target": target,
        "reduce_range": seven_bit, "excluded_nodes": list(exclude_nodes),
        **({"percentile": PERCENTILE} if method == "percentile" else {}),
        **({"entropy_bins": ENTROPY_BINS} if method == "entropy" else {}),
    }


def quantize_int8_dynamic(fp32_path: Path, out_path: Path, *, per_channel: bool = False,
                          exclude_nodes: Sequence[str] = ()) -> dict[str, Any]:
    """Dynamic INT8 (weights int8; activations quantized at run time). Needs no calibration data."""
    with preprocessed(fp32_path) as pre:
        return quantize_dynamic_preprocessed(pre, out_path, per_channel=per_channel, exclude_nodes=exclude_nodes)


def quantize_dynamic_preprocessed(pre: Path, out_path: Path, *, per_channel: bool = False,
                                  exclude_nodes: Sequence[str] = ()) -> dict[str, Any]:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with atomic_path(out_path) as tmp, _quiet():
        # reduce_range (7-bit weights), as for int8-cpu: x86-64 CPUs without VNNI run ONNX Runtime's dynamic
        # U8S8 MatMul with 16-bit intermediate sums that saturate. With 8-bit weights the shipped EMLP was up
        # to 3.8 degrees from exact integer arithmetic (onnx's reference evaluator) on single pairs on x86
        # AVX2, and 0.02 degrees on aarch64; its mean broke the budget (+0.177 vs 0.15 degrees). 7-bit: -0.09.
        quantize_dynamic(str(pre), str(tmp), per_channel=per_channel, weight_type=QuantType.QInt8, reduce_range=True,
                         nodes_to_exclude=list(exclude_nodes) or None)
    return {"method": "dynamic", "samples": 0, "per_channel": per_channel, "weight_type": "int8",
            "reduce_range": True, "excluded_nodes": list(exclude_nodes)}


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
    fp32_outputs(model, fp16)
    with atomic_path(out_path) as tmp:
        onnx.save(fp16, str(tmp))
    return {"method": "fp16-cast", "kept_fp32_ops": keep}


def fp32_outputs(original: onnx.ModelProto, converted: onnx.ModelProto) -> None:
    """Give ``converted``'s graph outputs the element types ``original`` declares (in place). Where a
    float16 output comes from a Cast whose result feeds nothing else, the Cast now casts to float32 (the
    FP32-kept op's value, unrounded); otherwise a Cast to float32 is appended."""
    want = {o.name: o.type.tensor_type.elem_type for o in original.graph.output}
    g = converted.graph
    for out in g.output:
        elem = want.get(out.name)
        if elem is None or out.type.tensor_type.elem_type == elem:
            continue
        producer = next((n for n in g.node if out.name in n.output), None)
        if producer is None:  # an initializer or a graph input as output: nothing computes it
            continue
        consumers = [n for n in g.node if out.name in n.input]
        if producer.op_type == "Cast" and not consumers:
            for a in producer.attribute:
                if a.name == "to":
                    a.i = elem
        else:
            inner = f"{out.name}_fp16"
            for n in [producer, *consumers]:
                n.output[:] = [inner if t == out.name else t for t in n.output]
                n.input[:] = [inner if t == out.name else t for t in n.input]
            g.node.append(onnx.helper.make_node("Cast", [inner], [out.name], to=elem, name=f"{out.name}_to_fp32"))
        out.type.tensor_type.elem_type = elem
        for v in g.value_info:
            if v.name == out.name:
                v.type.tensor_type.elem_type = elem


def build(
    fp32_path: Path,
    precision: str,
    out_path: Path,
    *,
    calibration: np.ndarray | None = None,
    calib_method: str = "minmax",
    per_channel: bool = True,
    exclude_nodes: Sequence[str] = (),
    show_progress: bool = True,
) -> dict[str, Any] | None:
    """Write ``out_path`` in ``precision`` (a row of :mod:`runtimes.precisions`) from the FP32 export;
    returns the calibration summary (None for fp32)."""
    import shutil

    from converters.onnx_export import check, slim
    from runtimes.precisions import get

    p = get(precision)
    if p.build == "copy":
        shutil.copyfile(fp32_path, out_path)
        return None
    if p.build == "fp16":
        summary = convert_fp16(fp32_path, out_path)
    elif p.build == "int8-dynamic":
        summary = quantize_int8_dynamic(fp32_path, out_path, exclude_nodes=exclude_nodes)
    elif p.build == "int8-static":
        if calibration is None:
            raise EdgeSDKError(f"{precision} needs calibration samples")
        summary = quantize_int8_static(fp32_path, out_path, calibration, method=calib_method,
                                       per_channel=per_channel, exclude_nodes=exclude_nodes,
                                       show_progress=show_progress, target=p.int8_target or "tensorrt")
    else:  # pragma: no cover - the table names only the builders above
        raise EdgeSDKError(f"precision {precision!r} names an unknown builder {p.build!r}")
    slim(out_path, short_names=p.calibration)
    check(out_path)
    return summary
