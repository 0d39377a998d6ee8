"""Will TensorRT 10's ONNX parser take this model? A static check that needs only ``onnx``, not TensorRT.

Run it on the host right after export/quantization, so an unsupported model fails with a clear message
there instead of minutes into an engine build on the device. It checks:

* every node's operator is in TensorRT 10's ONNX-parser support list (custom domains are errors; a few
  restrictions that matter for vision models are checked too);
* the default-domain opset is in the range the parser reads;
* QuantizeLinear / DequantizeLinear are int8 with all zero points 0 (symmetric) and positive constant
  scales: TensorRT's explicit quantization requires exactly that;
* inputs are static except dim 0 (the batch), so one optimisation profile (1 / opt / max_batch) covers them;
* the model is one file (no external data).

The report is a dict: ``{"ok", "errors", "warnings", "ops", "profiles"}``; ``ok`` is ``not errors``.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge_sdk.errors import EdgeSDKError, MissingDependencyError

if TYPE_CHECKING:
    import onnx

# Operators marked "Y" in onnx-tensorrt's docs/operators.md for TensorRT 10.15 (release/10.15 branch of
# https://github.com/onnx/onnx-tensorrt, SPDX Apache-2.0), which says: "TensorRT 10.15 supports operators
# in the inclusive range of opset 9 to opset 24". Operators marked "N" there are left out.
TRT10_SUPPORTED_OPS: frozenset[str] = frozenset({
    "Abs", "Acos", "Acosh", "Add", "And", "ArgMax", "ArgMin", "Asin", "Asinh", "Atan", "Atanh", "Attention",
    "AveragePool", "BatchNormalization", "BlackmanWindow", "Cast", "CastLike", "Ceil", "Celu", "Clip", "Concat",
    "Constant", "ConstantOfShape", "Conv", "ConvTranspose", "Cos", "Cosh", "CumSum", "DeformConv",
    "DepthToSpace", "DequantizeLinear", "Div", "Dropout", "Einsum", "Elu", "Equal", "Erf", "Exp", "Expand",
    "EyeLike", "Flatten", "Floor", "Gather", "GatherElements", "GatherND", "Gelu", "Gemm", "GlobalAveragePool",
    "GlobalLpPool", "GlobalMaxPool", "Greater", "GreaterOrEqual", "GridSample", "GroupNormalization", "GRU",
    "HammingWindow", "HannWindow", "HardSigmoid", "HardSwish", "Hardmax", "Identity", "If", "ImageScaler",
    "InstanceNormalization", "IsInf", "IsNaN", "LayerNormalization", "LeakyRelu", "Less", "LessOrEqual", "Log",
    "LogSoftmax", "Loop", "LRN", "LSTM", "LpNormalization", "LpPool", "MatMul", "Max", "MaxPool", "Mean",
    "MeanVarianceNormalization", "Min", "Mish", "Mod", "Mul", "Neg", "NonMaxSuppression", "NonZero", "Not",
    "OneHot", "Or", "Pad", "ParametricSoftplus", "Pow", "PRelu", "QuantizeLinear", "RandomNormal",
    "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Range", "Reciprocal", "ReduceL1", "ReduceL2",
    "ReduceLogSum", "ReduceLogSumExp", "ReduceMax", "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSum",
    "ReduceSumSquare", "Relu", "Reshape", "Resize", "ReverseSequence", "RMSNormalization", "RNN", "RoiAlign",
    "RotaryEmbedding", "Round", "STFT", "ScaledTanh", "Scan", "Scatter", "ScatterElements", "ScatterND", "Selu",
    "Shape", "Shrink", "Sigmoid", "Sign", "Sin", "Sinh", "Size", "Slice", "Softmax", "Softplus", "Softsign",
    "SpaceToDepth", "Split", "Sqrt", "Squeeze", "Sub", "Sum", "Tan", "Tanh", "TensorScatter", "ThresholdedRelu",
    "Tile", "TopK", "Transpose", "Trilu", "Unsqueeze", "Upsample", "Where", "Xor",
})
# Added in late 10.x releases (onnx-tensorrt changelog, 10.15): JetPack 6's TensorRT 10.3 lacks them.
RECENT_OPS: frozenset[str] = frozenset({"Attention", "RotaryEmbedding", "RMSNormalization", "TensorScatter"})
OPSET_MIN, OPSET_MAX = 9, 24  # TensorRT 10.15
OPSET_MAX_10_0 = 20  # "TensorRT 10.0 supports operators in the inclusive range of opset 9 to opset 20"

_RESIZE_MODES = {"nearest", "linear"}
_RESIZE_COORDS = {"half_pixel", "pytorch_half_pixel", "tf_half_pixel_for_nn", "asymmetric", "align_corners"}
_DEFAULT_DOMAINS = ("", "ai.onnx")


def _require_onnx() -> None:
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise MissingDependencyError("onnx", "host", "The TensorRT compatibility check") from None


def _walk(graph: onnx.GraphProto) -> Iterator[tuple[onnx.NodeProto, onnx.GraphProto]]:
    """Every node with the graph it sits in, subgraphs (If/Loop/Scan bodies) included."""
    import onnx

    for node in graph.node:
        yield node, graph
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _walk(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for g in attr.graphs:
                    yield from _walk(g)


def _name(node: onnx.NodeProto) -> str:
    return f"node {node.name!r} ({node.op_type})" if node.name else f"a nameless {node.op_type} node"


def _attr(node: onnx.NodeProto, name: str, default: Any) -> Any:
    import onnx

    for a in node.attribute:
        if a.name == name:
            value = onnx.helper.get_attribute_value(a)
            return value.decode() if isinstance(value, bytes) else value
    return default


class _Constants:
    """Constant tensors of a model by name: initializers and Constant-node outputs (numpy arrays + dtype)."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self._protos: dict[str, onnx.TensorProto] = {}
        self.types: dict[str, int] = {}
        graphs = {id(model.graph): model.graph}
        for node, g in _walk(model.graph):
            graphs.setdefault(id(g), g)
            if node.op_type == "Constant" and node.domain in _DEFAULT_DOMAINS:
                t = next((a.t for a in node.attribute if a.name == "value"), None)
                if t is not None and node.output:
                    self._protos[node.output[0]] = t
        for g in graphs.values():
            for init in g.initializer:
                self._protos[init.name] = init
            for vi in [*g.input, *g.value_info, *g.output]:
                if vi.type.HasField("tensor_type"):
                    self.types[vi.name] = vi.type.tensor_type.elem_type
        for name, t in self._protos.items():
            self.types[name] = t.data_type

    def array(self, name: str) -> Any:
        t = self._protos.get(name)
        if t is None:
            return None
        from onnx import numpy_helper

        return numpy_helper.to_array(t)


def _check_qdq(node: onnx.NodeProto, consts: _Constants, errors: list[str], warnings: list[str]) -> None:
    import onnx

    int8 = onnx.TensorProto.INT8
    scale_name = node.input[1] if len(node.input) > 1 else ""
    zp_name = node.input[2] if len(node.input) > 2 else ""
    if zp_name:
        qtype = consts.types.get(zp_name)
    elif node.op_type == "QuantizeLinear":
        qtype = _attr(node, "output_dtype", 0) or onnx.TensorProto.UINT8  # ONNX default without a zero point
    else:
        qtype = consts.types.get(node.input[0])
    if qtype == onnx.TensorProto.INT32 and node.op_type == "DequantizeLinear":
        # onnxruntime's quantize_static stores biases as int32 + DequantizeLinear; TensorRT rejects that
        # ("only activation types allowed as input to this layer", onnx/onnx-tensorrt#850).
        errors.append(
            f"{_name(node)} dequantizes an int32 (bias) tensor, which TensorRT rejects: keep biases in float "
            "(onnxruntime quantize_static extra_options={'QuantizeBias': False})"
        )
    elif qtype is not None and qtype != int8:
        tname = onnx.TensorProto.DataType.Name(qtype).lower()
        errors.append(
            f"{_name(node)} quantizes to {tname}: TensorRT's explicit quantization needs int8 "
            "(quantize with QuantType.QInt8 and ActivationSymmetric/WeightSymmetric)"
        )
    if zp_name:
        zp = consts.array(zp_name)
        if zp is None:
            errors.append(f"{_name(node)} has a computed zero point {zp_name!r}: TensorRT needs a constant 0")
        elif (zp != 0).any():
            errors.append(
                f"{_name(node)} has non-zero zero point(s) {sorted(set(zp[zp != 0].ravel().tolist()))[:5]}: "
                "TensorRT needs symmetric quantization (all zero points 0)"
            )
    scale = consts.array(scale_name) if scale_name else None
    if scale is None:
        errors.append(f"{_name(node)} has a computed scale {scale_name!r}: TensorRT needs a constant scale")
    elif not ((scale > 0) & (abs(scale) < math.inf)).all():
        errors.append(f"{_name(node)} has scale(s) that are not positive and finite")


def _check_restrictions(node: onnx.NodeProto, errors: list[str], warnings: list[str]) -> None:
    op = node.op_type
    if op == "MaxPool" and len(node.output) > 1 and node.output[1]:
        errors.append(f"{_name(node)} uses the Indices output, which TensorRT does not support")
    elif op in ("MaxPool", "AveragePool", "LpPool") and any(d != 1 for d in _attr(node, "dilations", [])):
        errors.append(f"{_name(node)} has dilations {_attr(node, 'dilations', [])}; TensorRT supports only 1")
    elif op == "Resize":
        mode = _attr(node, "mode", "nearest")
        coords = _attr(node, "coordinate_transformation_mode", "half_pixel")
        if mode not in _RESIZE_MODES:
            errors.append(f"{_name(node)} uses mode {mode!r}; TensorRT supports {sorted(_RESIZE_MODES)}")
        if coords not in _RESIZE_COORDS:
            errors.append(f"{_name(node)} uses coordinate_transformation_mode {coords!r}, unsupported by TensorRT")
        if _attr(node, "antialias", 0):
            errors.append(f"{_name(node)} uses antialias, which TensorRT does not support")
    elif op == "LayerNormalization" and len([o for o in node.output if o]) > 1:
        errors.append(f"{_name(node)} uses Mean/InvStdDev outputs; TensorRT supports only Y")
    elif op == "TopK" and _attr(node, "sorted", 1) != 1:
        errors.append(f"{_name(node)} has sorted=0; TensorRT needs sorted=1")
    if op in RECENT_OPS:
        warnings.append(f"{_name(node)}: {op} is parsed only by recent TensorRT 10 releases (10.15 lists it)")


def _check_inputs(model: onnx.ModelProto, max_batch: int, errors: list[str], warnings: list[str]) -> dict[str, Any]:
    inits = {i.name for i in model.graph.initializer}
    profiles: dict[str, Any] = {}
    for inp in model.graph.input:
        if inp.name in inits:
            continue
        if not inp.type.HasField("tensor_type"):
            errors.append(f"input {inp.name!r} is not a tensor; TensorRT takes tensor inputs only")
            continue
        if not inp.type.tensor_type.HasField("shape"):
            errors.append(f"input {inp.name!r} has no shape; re-export with static shapes except the batch")
            continue
        dims = inp.type.tensor_type.shape.dim
        static = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in dims]
        bad = [i for i, d in enumerate(static) if i > 0 and d is None]
        if bad:
            shown = [d.dim_param or "?" if s is None else s for d, s in zip(dims, static)]
            errors.append(
                f"input {inp.name!r} has dynamic dim(s) {bad} (shape {shown}): only the batch dim 0 may be dynamic, "
                "so one optimisation profile can cover it; re-export with a fixed image size"
            )
            continue
        rest = [int(d) for d in static[1:] if d is not None]
        if static and static[0] is None:
            profiles[inp.name] = {"min": [1, *rest], "opt": [1, *rest], "max": [max_batch, *rest]}
        else:
            if static:
                warnings.append(f"input {inp.name!r} has a fixed batch of {static[0]}; the engine will too")
            profiles[inp.name] = {"min": static, "opt": static, "max": static}
    return profiles


def check_tensorrt_compat(
    onnx_path_or_model: str | os.PathLike[str] | onnx.ModelProto, *, max_batch: int = 32
) -> dict[str, Any]:
    """Check an ONNX file or ModelProto against TensorRT 10's ONNX parser; return the report dict.

    Every problem is collected (not just the first); messages name the node or input concerned.
    """
    _require_onnx()
    import onnx

    if max_batch < 1:
        raise EdgeSDKError(f"max_batch must be >= 1, got {max_batch}")
    if isinstance(onnx_path_or_model, onnx.ModelProto):
        model = onnx_path_or_model
    else:
        path = Path(onnx_path_or_model)
        if not path.is_file():
            raise EdgeSDKError(f"ONNX file not found: {path}")
        model = onnx.load(str(path), load_external_data=False)

    errors: list[str] = []
    warnings: list[str] = []
    external = [i.name for i in model.graph.initializer if i.data_location == onnx.TensorProto.EXTERNAL]
    if external:
        errors.append(
            f"{len(external)} initializer(s) use external data (e.g. {external[0]!r}); edge-sdk bundles are one "
            "file: re-export with external_data=False"
        )

    opset = next((o.version for o in model.opset_import if o.domain in _DEFAULT_DOMAINS), None)
    if opset is None:
        errors.append("the model imports no default-domain (ai.onnx) opset")
    elif not OPSET_MIN <= opset <= OPSET_MAX:
        errors.append(f"opset {opset} is outside TensorRT 10's supported range {OPSET_MIN}..{OPSET_MAX}")
    elif opset > OPSET_MAX_10_0:
        warnings.append(
            f"opset {opset}: TensorRT 10.0 parses opsets up to {OPSET_MAX_10_0} (later 10.x up to {OPSET_MAX}); "
            "older devices may need an export with a lower opset"
        )

    functions = {(f.domain, f.name): f for f in model.functions}
    consts = _Constants(model)
    ops: Counter[str] = Counter()
    nodes: list[onnx.NodeProto] = [n for n, _ in _walk(model.graph)]
    for f in model.functions:  # model-local functions: TensorRT inlines them, so check their bodies
        for fnode in f.node:
            nodes.append(fnode)
    for node in nodes:
        if (node.domain, node.op_type) in functions:
            continue
        if node.domain not in _DEFAULT_DOMAINS:
            ops[f"{node.domain}::{node.op_type}"] += 1
            errors.append(
                f"{_name(node)} is in custom domain {node.domain!r}: TensorRT's ONNX parser has no importer "
                "for it (it would need a TensorRT plugin)"
            )
            continue
        ops[node.op_type] += 1
        if node.op_type not in TRT10_SUPPORTED_OPS:
            errors.append(f"{_name(node)}: operator {node.op_type} is not supported by TensorRT 10's ONNX parser")
            continue
        _check_restrictions(node, errors, warnings)
        if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            _check_qdq(node, consts, errors, warnings)

    profiles = _check_inputs(model, max_batch, errors, warnings)
    return {"ok": not errors, "errors": errors, "warnings": warnings, "ops": dict(sorted(ops.items())),
            "profiles": profiles}
