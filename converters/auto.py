"""``--precision auto``: build each candidate, measure latency here and accuracy on validation data,
keep the fastest that stays within budget. The decision table goes into the manifest.

On a CPU, INT8 is often *slower* than FP32 for tiny models (quantize/dequantize overhead dominates
a few hundred MACs) and FP16 usually is (ONNX Runtime's CPU kernels compute FP16 via casts); the
table shows the measured numbers, and the reason names it when that happens.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from converters.data import EvalSet
from converters.parity import ParityReport
from converters.sources import ModelSource
from converters.validate import validate_onnx
from runtimes import load


def median_latency_ms(path: Path, sample: np.ndarray, budget_s: float = 1.0, max_runs: int = 500) -> float:
    """Median single-sample latency through the runtime (ONNX Runtime backend, CPU) over ``budget_s`` seconds."""
    sess = load(path, backend="onnxruntime", providers=["CPUExecutionProvider"])
    x = np.ascontiguousarray(sample[None], np.float32)
    for _ in range(10):
        sess(x)
    times: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(times) < max_runs and (time.perf_counter() < deadline or len(times) < 20):
        t0 = time.perf_counter()
        sess(x)
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e3)


def candidates_for(fp32: Path) -> list[str]:
    ops = {n.op_type for n in onnx.load(str(fp32)).graph.node}
    out = ["fp32", "fp16", "int8"]
    if "Conv" not in ops:  # MLP-like graphs: dynamic quantization needs no calibration
        out.append("int8-dynamic")
    return out


def choose_precision(
    src: ModelSource,
    fp32: Path,
    work: Path,
    evalset: EvalSet,
    calib: Callable[[], np.ndarray],
    *,
    log: Callable[[str], None] = print,
    **kwargs: Any,
) -> tuple[str, dict[str, Any] | None, ParityReport, dict[str, Any]]:
    from converters.pipeline import build_candidate

    rows, built = [], {}
    sample = evalset.x[0]
    for precision in candidates_for(fp32):
        path = work / f"cand-{precision}.onnx"
        log(f"auto: building {precision}")
        summary = build_candidate(src, fp32, precision, path,
                                  calibration=calib() if precision == "int8" else None, **kwargs)
        report = validate_onnx(src, path, precision, evalset)
        latency = median_latency_ms(path, sample)
        built[precision] = (summary, report)
        rows.append({"precision": precision, "latency_ms": latency, "size_kib": path.stat().st_size / 1024,
                     "delta": report.metric["delta"], "metric": report.metric["name"], "passed": report.passed})
        log(f"auto: {precision:12s} {latency:8.4f} ms  Δ {report.metric['delta']:+.4g}  "
            f"{'within' if report.passed else 'OUTSIDE'} budget")
    ok = [r for r in rows if r["passed"]] or [r for r in rows if r["precision"] == "fp32"]
    best = min(ok, key=lambda r: r["latency_ms"])
    fp32_ms = next(r["latency_ms"] for r in rows if r["precision"] == "fp32")
    slower = [r["precision"] for r in rows if r["precision"] != "fp32" and r["latency_ms"] > fp32_ms]
    reason = f"chose {best['precision']}: the fastest candidate within budget on this machine"
    if slower:
        reason += (f"; {', '.join(slower)} measured slower than fp32 here "
                   "(quantize/dequantize and cast overhead outweigh the saved arithmetic for this model on CPU)")
    summary, report = built[best["precision"]]
    decision = {"candidates": rows, "chosen": best["precision"], "reason": reason, "device": "cpu (onnxruntime)"}
    return best["precision"], summary, report, decision
