"""Accuracy-aware INT8: when full INT8 breaks the budget, keep the most sensitive nodes in float.

1. Sensitivity: for each quantizable node of the pre-processed graph (the names ``--exclude-nodes``
   takes), build the model with *only that node* in INT8 and measure the output SQNR against the
   FP32 ONNX model on the gate's own validation samples (ONNX Runtime, CPU). A low SQNR means that
   node alone damages the output. Large graphs are measured in at most ``MAX_GROUPS`` groups of
   consecutive nodes.
2. Fallback: keep the k most sensitive nodes in float, k = 1, 2, 4, ... until the real gate (parity
   against PyTorch, the same budget) passes, then bisect down to the smallest such k. Nothing is left to
   give when every quantizable node would be float: then the caller refuses as before.

The placement rules of each precision are the quantizer's (``int8``: symmetric Q/DQ on compute inputs
only, TensorRT-ready; ``int8-cpu``: ONNX Runtime's CPU recipe), since excluded nodes are simply not
quantized by it. The record (nodes in float, INT8 share of MACs and weights, sensitivity top 10, metric
before/after) goes into ``manifest.extra["mixed_precision"]`` and report.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from converters import quantize as q
from converters.eval_set import EvalSet
from converters.parity import ParityReport, sqnr_db
from converters.sources import ModelSource
from runtimes.precisions import get

COMPUTE_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
MAX_GROUPS = 48  # sensitivity trials at most (one quantization + one run each)
SENSITIVITY_SAMPLES = 256  # validation samples used to rank nodes (the gate uses all)
TOP = 10


@dataclass
class Node:
    name: str
    op_type: str
    macs: int  # per sample; 0 for nodes that do no multiply-accumulate
    weights: int


def _dims(vi: onnx.ValueInfoProto) -> list[int]:
    return [d.dim_value if d.dim_value > 0 else 1 for d in vi.type.tensor_type.shape.dim]


def graph_nodes(pre: Path) -> list[Node]:
    """Every node of the pre-processed graph with its MACs and weight count per sample (compute ops)."""
    model = onnx.load(str(pre))
    g = model.graph
    inits = {i.name: tuple(i.dims) for i in g.initializer}
    shapes = {vi.name: _dims(vi) for vi in (*g.value_info, *g.output, *g.input)}
    out = []
    for n in g.node:
        macs = weights = 0
        if n.op_type in COMPUTE_OPS:
            w = next((inits[i] for i in n.input[1:2] if i in inits), None)
            weights = sum(int(np.prod(inits[i])) for i in n.input[1:] if i in inits)
            oshape = shapes.get(n.output[0])
            if w and oshape:
                per_sample = int(np.prod(oshape[1:])) if len(oshape) > 1 else int(np.prod(oshape))
                if n.op_type == "Conv":
                    macs = per_sample * int(np.prod(w[1:]))
                elif n.op_type == "ConvTranspose":
                    ishape = shapes.get(n.input[0], [])
                    macs = int(np.prod(ishape[1:])) * int(np.prod(w[1:])) if ishape else int(np.prod(w))
                else:  # Gemm / MatMul: each output element takes K multiply-adds
                    k = w[0] if not (n.op_type == "Gemm" and _attr(n, "transB")) else w[-1]
                    macs = per_sample * int(k)
            elif w:
                macs = int(np.prod(w))
        out.append(Node(n.name, n.op_type, macs, weights))
    return out


def _attr(node: onnx.NodeProto, name: str) -> int:
    return next((int(a.i) for a in node.attribute if a.name == name), 0)


def quantizable(precision: str, nodes: Sequence[Node]) -> list[Node]:
    """The nodes the quantizer turns to INT8 for ``precision``: the ones that can be kept in float."""
    from onnxruntime.quantization.registry import IntegerOpsRegistry, QDQRegistry, QLinearOpsRegistry

    p = get(precision)
    if p.build == "int8-dynamic":
        ops: set[str] = set(IntegerOpsRegistry)
    elif p.int8_target == "cpu":
        ops = set(QDQRegistry) | set(QLinearOpsRegistry)
    else:
        ops = set(q.QDQ_OPS)
    return [n for n in nodes if n.op_type in ops]


def shares(nodes: Sequence[Node], in_float: Sequence[str], precision: str) -> dict[str, float]:
    """Fraction of the model's MACs and weights that stay INT8 with ``in_float`` kept in float."""
    qset = {n.name for n in quantizable(precision, nodes)} - set(in_float)
    macs = sum(n.macs for n in nodes)
    weights = sum(n.weights for n in nodes)
    return {"int8_mac_fraction": sum(n.macs for n in nodes if n.name in qset) / macs if macs else 0.0,
            "int8_weight_fraction": sum(n.weights for n in nodes if n.name in qset) / weights if weights else 0.0}


def _run(path: Path, x: np.ndarray) -> list[np.ndarray]:
    from converters.validate import run_onnx

    return list(run_onnx(path, x).values())


def sensitivity(
    pre: Path,
    precision: str,
    candidates: Sequence[Node],
    evalset: EvalSet,
    work: Path,
    *,
    calibration: np.ndarray | None,
    calib_method: str,
    per_channel: bool,
    always_float: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Each candidate (or group of consecutive candidates) quantized alone: output SQNR vs FP32 ONNX,
    most sensitive (lowest SQNR) first."""
    x = evalset.x[:SENSITIVITY_SAMPLES]
    ref = _run(pre, x)
    size = -(-len(candidates) // MAX_GROUPS)
    groups = [list(candidates[i : i + size]) for i in range(0, len(candidates), size)]
    names = [n.name for n in candidates]
    rows: list[dict[str, Any]] = []
    for k, group in enumerate(groups):
        alone = {n.name for n in group}
        exclude = [*always_float, *(m for m in names if m not in alone)]
        path = work / f"sens-{k}.onnx"
        _quantize(pre, path, precision, exclude, calibration, calib_method, per_channel)
        cand = _run(path, x)
        sq = min(sqnr_db(r, c) for r, c in zip(ref, cand, strict=True))
        rows.append({"nodes": [n.name for n in group], "op_type": group[0].op_type,
                     "macs": sum(n.macs for n in group), "sqnr_db": round(float(sq), 2)})
        path.unlink(missing_ok=True)
    rows.sort(key=lambda r: float(r["sqnr_db"]))
    return rows


def _quantize(pre: Path, out: Path, precision: str, exclude: Sequence[str], calibration: np.ndarray | None,
              calib_method: str, per_channel: bool) -> None:
    p = get(precision)
    if p.build == "int8-dynamic":
        q.quantize_dynamic_preprocessed(pre, out, exclude_nodes=exclude)
    else:
        assert calibration is not None  # noqa: S101 - the caller passes samples for static INT8
        q.quantize_preprocessed(pre, out, calibration, method=calib_method, per_channel=per_channel,
                                exclude_nodes=exclude, show_progress=False, target=p.int8_target or "tensorrt")


def fallback(
    src: ModelSource,
    fp32: Path,
    precision: str,
    out_path: Path,
    evalset: EvalSet,
    full_report: ParityReport,
    *,
    calibration: np.ndarray | None,
    calib_method: str = "minmax",
    per_channel: bool = True,
    exclude_nodes: Sequence[str] = (),
    show_progress: bool = False,
    log: Callable[[str], None] = print,
) -> tuple[dict[str, Any] | None, ParityReport, dict[str, Any]] | None:
    """Search the fewest sensitive nodes to keep in float so that ``precision`` passes the gate; writes the
    mixed model to ``out_path`` and returns (calibration summary, report, record), or None when even
    keeping all but one quantizable node in float breaks the budget."""
    from converters.validate import validate_onnx

    work = out_path.parent
    with q.preprocessed(fp32) as pre:
        nodes = graph_nodes(pre)
        cands = [n for n in quantizable(precision, nodes) if n.name not in set(exclude_nodes)]
        if len(cands) < 2:
            return None
        log(f"{precision} breaks the budget; measuring the sensitivity of {len(cands)} quantizable nodes")
        ranking = sensitivity(pre, precision, cands, evalset, work, calibration=calibration,
                              calib_method=calib_method, per_channel=per_channel, always_float=exclude_nodes)
    order = [name for row in ranking for name in row["nodes"]]
    tried: dict[int, tuple[dict[str, Any] | None, ParityReport]] = {}

    def trial(k: int) -> bool:
        path = work / f"mixed-{k}.onnx"
        summary = q.build(fp32, precision, path, calibration=calibration, calib_method=calib_method,
                          per_channel=per_channel, exclude_nodes=[*exclude_nodes, *order[:k]],
                          show_progress=show_progress)
        report = validate_onnx(src, path, precision, evalset)
        tried[k] = (summary, report)
        log(f"  {k} of {len(order)} nodes in float: {report.metric['name']} {report.metric['candidate']:.4g} "
            f"{'within' if report.passed else 'outside'} budget")
        return report.passed

    limit = len(order) - 1  # at least one node stays INT8
    k, last_fail = 1, 0
    while not trial(k):
        last_fail = k
        if k >= limit:
            _cleanup(work, tried)
            return None
        k = min(2 * k, limit)
    lo, hi = last_fail, k  # lo fails (or is 0: full INT8, failed), hi passes
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if trial(mid):
            hi = mid
        else:
            lo = mid
    (work / f"mixed-{hi}.onnx").replace(out_path)
    summary, report = tried[hi]
    in_float = [*exclude_nodes, *order[:hi]]
    record = {
        "precision": precision,
        "float_nodes": in_float,
        "quantizable_nodes": len(quantizable(precision, nodes)),
        **shares(nodes, in_float, precision),
        "sensitivity": ranking[:TOP],
        "sensitivity_measure": "output SQNR (dB) with only that node in INT8, vs FP32 ONNX",
        "metric_before": full_report.metric,
        "metric_after": report.metric,
        "trials": len(tried),
    }
    _cleanup(work, tried)
    return summary, report, record


def _cleanup(work: Path, tried: dict[int, Any]) -> None:
    for k in tried:
        (work / f"mixed-{k}.onnx").unlink(missing_ok=True)


def full_record(fp32: Path, precision: str, exclude_nodes: Sequence[str] = ()) -> dict[str, Any]:
    """The INT8 shares of a model quantized with only the user's exclusions (none by default)."""
    with q.preprocessed(fp32) as pre:
        nodes = graph_nodes(pre)
    return {"quantizable_nodes": len(quantizable(precision, nodes)), **shares(nodes, exclude_nodes, precision)}


def summary_line(record: dict[str, Any]) -> str:
    """One line for the CLI: "int8 with 3 of 52 nodes in float, 94 % of MACs INT8, output_sqnr 31.2 dB"."""
    m = record["metric_after"]
    unit = f" {m['unit']}" if m.get("unit") and m["unit"] != "pp" else (" %" if m.get("unit") == "pp" else "")
    return (f"{record['precision']} with {len(record['float_nodes'])} of {record['quantizable_nodes']} nodes in "
            f"float, {100 * record['int8_mac_fraction']:.0f} % of MACs INT8, {m['name']} {m['candidate']:.4g}{unit}")
