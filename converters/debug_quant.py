"""``edge-sdk debug-quant``: where does INT8 lose accuracy? Per-node SQNR between FP32 and INT8 activations.

The model is exported to FP32 ONNX and quantized the way ``export`` does (a bundle's recorded precision,
calibration method and float nodes), keeping the quantizer's tensor names (a bundle's own file has them
shortened), then both run on validation samples with every intermediate tensor saved by ONNX Runtime's
``qdq_loss_debug`` helpers. Per node, in graph order:

* ``sqnr_db``: its output in the INT8 model vs the FP32 model (error accumulated up to that node);
* ``input_qdq_db``: SQNR of its quantized activation input before vs after its Q/DQ pair (this node's own
  quantization step; ``qdq_loss_debug``'s ``qdq_err``), and ``weight_db`` for its quantized weight;
* ``int8``: whether the node reads dequantized (INT8) inputs.

A sharp drop of ``sqnr_db`` at one node, with a low ``input_qdq_db``, marks the layer to keep in float
(``--exclude-nodes``), which is what export's mixed-precision fallback does automatically.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from converters import quantize as q
from converters.data import export_data
from converters.parity import sqnr_db
from edge_sdk.errors import EdgeSDKError
from runtimes.precisions import STATIC_INT8, get


class _Batches:
    def __init__(self, name: str, x: np.ndarray, batch: int = 32) -> None:
        self._it = iter([{name: np.ascontiguousarray(x[i : i + batch], np.float32)} for i in range(0, len(x), batch)])

    def __iter__(self) -> _Batches:
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        return next(self._it)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._it, None)


def _activations(model: Path, x: np.ndarray, tmp: Path) -> dict[str, np.ndarray]:
    from onnxruntime.quantization.qdq_loss_debug import collect_activations, modify_model_output_intermediate_tensors

    aug = tmp / f"{model.stem}-aug.onnx"
    with q._quiet():
        modify_model_output_intermediate_tensors(str(model), str(aug))
        acts = collect_activations(str(aug), _Batches(_input_name(model), x))
    return {k: np.concatenate([a.reshape(-1) for a in v]) for k, v in acts.items()}


def _input_name(model: Path) -> str:
    g = onnx.load(str(model)).graph
    inits = {i.name for i in g.initializer}
    return next(i.name for i in g.input if i.name not in inits)


def layer_report(fp32_pre: Path, qdq: Path, x: np.ndarray) -> list[dict[str, Any]]:
    """Per-node rows (graph order) comparing the INT8 QDQ model with its FP32 pre-processed graph on ``x``."""
    from onnxruntime.quantization.qdq_loss_debug import (
        compute_activation_error,
        compute_weight_error,
        create_activation_matching,
        create_weight_matching,
    )

    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        fp = _activations(fp32_pre, x, tmp)
        qa = _activations(qdq, x, tmp)
        with q._quiet():
            act_err = compute_activation_error(create_activation_matching(
                {k: [v] for k, v in qa.items()}, {k: [v] for k, v in fp.items()}))
            weight_err = compute_weight_error(create_weight_matching(str(fp32_pre), str(qdq)))
    qgraph = onnx.load(str(qdq)).graph
    producer = {o: n for n in qgraph.node for o in n.output}
    qnodes = {n.name: n for n in qgraph.node}
    rows = []
    for node in onnx.load(str(fp32_pre)).graph.node:
        out = node.output[0]
        qn = qnodes.get(node.name)
        int8 = qn is not None and any(
            producer.get(i) is not None and producer[i].op_type == "DequantizeLinear" for i in qn.input)
        act_in = next((i for i in node.input if i in act_err), None)
        w_in = next((i for i in node.input[1:] if i in weight_err), None)
        row: dict[str, Any] = {
            "node": node.name, "op_type": node.op_type, "int8": bool(int8),
            "sqnr_db": round(sqnr_db(fp[out], qa[out]), 2) if out in fp and out in qa else None,
            "input_qdq_db": round(float(act_err[act_in]["qdq_err"]), 2) if act_in else None,
            "weight_db": round(float(weight_err[w_in]), 2) if w_in else None,
        }
        rows.append(row)
    return rows


def debug_quant(
    model: Any,
    *,
    precision: str | None = None,
    arch: str | None = None,
    input_shape: tuple[int | str, ...] | None = None,
    source: Any = None,
    calibration: Path | None = None,
    calib_count: int | None = None,
    calib_method: str | None = None,
    data: Path | None = None,
    count: int = 64,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Per-node SQNR of ``model`` (a bundle directory, a zoo name, checkpoint, factory, .pt2 or nn.Module)
    quantized at ``precision`` (a bundle's own by default, else int8)."""
    from converters.onnx_export import export_onnx
    from converters.sources import resolve_model
    from converters.validate import source_from_manifest

    excluded: list[str] = []
    per_channel = True
    if isinstance(model, (str, Path)) and Path(model).is_dir() and (Path(model) / "manifest.json").is_file():
        from runtimes.manifest import read_manifest

        manifest = read_manifest(Path(model))
        src = source_from_manifest(manifest, source, arch=arch, input_shape=input_shape)
        precision = precision or manifest.precision
        cal = manifest.calibration or {}
        if precision == manifest.precision:
            calib_method = calib_method or str(cal.get("method", "minmax"))
            per_channel = bool(cal.get("per_channel", True))
            recorded = cal.get("excluded_nodes", [])
            excluded = [str(n) for n in recorded] if isinstance(recorded, list) else []
    else:
        src = resolve_model(model, arch=arch, input_shape=input_shape)
    precision = precision or "int8"
    p = get(precision)
    if not p.calibration:
        raise EdgeSDKError(f"debug-quant compares static INT8 ({', '.join(STATIC_INT8)}) with FP32, not {precision}; "
                           f"pass --precision {' or '.join(STATIC_INT8)}")
    method = calib_method or "minmax"
    evalset, calib = export_data(src, calibration=calibration, calib_count=calib_count, data=data)  # export's rule
    if evalset.note:
        log(evalset.note)
    samples = calib()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        log(f"exporting {src.name} to ONNX and quantizing to {precision} ({method})")
        export_onnx(src.module, src.input_shape, tmp / "fp32.onnx")
        with q.preprocessed(tmp / "fp32.onnx") as pre:
            q.quantize_preprocessed(pre, tmp / "qdq.onnx", samples, input_name=_input_name(pre), method=method,
                                    per_channel=per_channel, exclude_nodes=excluded, show_progress=False,
                                    target=p.int8_target or "tensorrt")
            log(f"comparing activations on {evalset.name} ({len(evalset.x[:count])} samples)")
            rows = layer_report(pre, tmp / "qdq.onnx", evalset.x[:count])
    return {"model": src.name, "precision": precision, "calib_method": method, "excluded_nodes": excluded,
            "data": evalset.name, "samples": int(len(evalset.x[:count])), "nodes": rows}


def plot(result: dict[str, Any], path: Path) -> Path:
    """Per-node output SQNR as a bar chart (INT8 nodes dark, float nodes light), written atomically."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise EdgeSDKError("--plot needs matplotlib: pip install matplotlib") from None
    from edge_sdk._io import atomic_path

    rows = [r for r in result["nodes"] if r["sqnr_db"] is not None]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.28 * len(rows)), 4.0))
    ax.bar(range(len(rows)), [min(r["sqnr_db"], 100.0) for r in rows],
           color=["#1f4e79" if r["int8"] else "#9dc3e6" for r in rows])
    ax.set_xticks(range(len(rows)), [r["node"] for r in rows], rotation=90, fontsize=7)
    ax.set_ylabel("SQNR vs FP32 (dB)")
    ax.set_title(f"{result['model']} {result['precision']}: per-node output SQNR (dark: INT8 inputs)")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path
