"""``--precision auto``: build each candidate, measure latency here and accuracy on validation data,
keep the fastest that stays within budget. The decision table goes into the manifest.

On a CPU, INT8 is often *slower* than FP32 for tiny models (quantize/dequantize overhead dominates
a few hundred MACs), the TensorRT-ready ``int8`` usually is (ONNX Runtime's CPU provider fuses few of
its Q/DQ groups), and FP16 usually is (ONNX Runtime's CPU kernels compute FP16 via casts); ``int8-cpu``
is the INT8 built for this runtime. The table shows the measured numbers, and the reason names it
when a candidate is slower than FP32.

Backends are candidates too: each precision is loaded the way ``runtimes.load`` will run it (backend
``auto``: ONNX Runtime, OpenVINO where installed, numpy for MLPs, at the thread settings worth trying,
fastest measured), so a precision that only one backend runs fast (``int8-cpu`` on OpenVINO) is judged
by that backend's speed. Accuracy is validated with ONNX Runtime; a device runs another backend only
after it passes the bundle's golden samples (``runtimes.autotune``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from importlib import util
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from converters.eval_set import EvalSet
from converters.parity import ParityReport, metric_text
from converters.quantize import build
from converters.sources import ModelSource
from converters.validate import validate_onnx
from runtimes import Session, load
from runtimes.precisions import STATIC_INT8, get


def load_candidates(paths: dict[str, Path], backend: str = "auto") -> dict[str, Session]:
    """Each candidate loaded as the runtime will run it: ``auto`` measures which backend (ONNX Runtime,
    OpenVINO, numpy) and thread setting is fastest for that file here (runtimes.autotune); a backend name
    pins it (``onnxruntime``: CPU provider only)."""
    options: dict[str, Any] = {"providers": ["CPUExecutionProvider"]} if backend == "onnxruntime" else {}
    return {k: load(p, backend=backend, **options) for k, p in paths.items()}


def median_latencies_ms(paths: dict[str, Path] | dict[str, Session], sample: np.ndarray, budget_s: float = 1.0,
                        turns: int = 10, settle_s: float = 0.02, backend: str = "auto") -> dict[str, float]:
    """Median single-sample latency of each model through the runtime (loaded by :func:`load_candidates`
    with ``backend``, or sessions already loaded).

    The candidates take ``turns`` turns round-robin, each turn ~``budget_s / turns`` seconds of calls
    (at most 100), so that load from other processes hits every candidate alike; before each turn a
    short sleep lets the previous session's thread pool stop spin-waiting, which would steal cores from
    the next. Timed one after another, close candidates swap places with the machine's drift.
    """
    sessions: dict[str, Session] = {k: v for k, v in paths.items() if isinstance(v, Session)}
    sessions.update(load_candidates({k: v for k, v in paths.items() if isinstance(v, Path)}, backend))
    x = np.ascontiguousarray(sample[None], np.float32)
    calls = {}
    for k, sess in sessions.items():
        sess.run({sess.inputs[0].name: x})  # every output: session(x) refuses multi-output models
        t0 = time.perf_counter()
        sess.run({sess.inputs[0].name: x})
        calls[k] = int(np.clip(budget_s / turns / max(time.perf_counter() - t0, 1e-6), 1, 100))
    times: dict[str, list[float]] = {k: [] for k in sessions}
    for _ in range(turns):
        for k, sess in sessions.items():
            time.sleep(settle_s)
            for _ in range(calls[k]):
                t0 = time.perf_counter()
                sess.run({sess.inputs[0].name: x})
                times[k].append(time.perf_counter() - t0)
    return {k: float(np.median(v) * 1e3) for k, v in times.items()}


def candidates_for(fp32: Path) -> list[str]:
    """The precisions ``auto`` builds: dynamic INT8 for MLP-like graphs (no Conv: it needs no calibration),
    ``int8-openvino`` for the others where OpenVINO is installed (models that small run on numpy or ONNX
    Runtime, never OpenVINO: runtimes.autotune)."""
    ops = {n.op_type for n in onnx.load(str(fp32)).graph.node}
    out = ["fp32", "fp16", "int8", "int8-cpu"]
    if "Conv" not in ops:
        out.append("int8-dynamic")
    elif util.find_spec("openvino") is not None:
        out.append("int8-openvino")
    return out


def choose_precision(
    src: ModelSource,
    fp32: Path,
    work: Path,
    evalset: EvalSet,
    calib: Callable[[], np.ndarray],
    *,
    log: Callable[[str], None] = print,
    strict: bool = False,
    **kwargs: Any,
) -> tuple[str, dict[str, Any] | None, ParityReport, dict[str, Any]]:
    """INT8 candidates that break the budget are tried mixed (their most sensitive nodes in float) unless
    ``strict``; the decision's ``mixed`` maps such a precision to its record (the pipeline files it)."""
    rows, built, paths = [], {}, {}
    mixed: dict[str, dict[str, Any]] = {}
    samples: np.ndarray | None = None  # calibration data, loaded once for both static INT8 candidates
    for precision in candidates_for(fp32):
        path = work / f"cand-{precision}.onnx"
        log(f"auto: building {precision}")
        if precision in STATIC_INT8 and samples is None:
            samples = calib()
        cal = samples if precision in STATIC_INT8 else None
        summary = build(fp32, precision, path, calibration=cal, **kwargs)
        report = validate_onnx(src, path, precision, evalset)
        if not report.passed and get(precision).mixed and not strict:
            from converters.mixed_precision import fallback

            found = fallback(src, fp32, precision, path, evalset, report, calibration=cal, log=log, **kwargs)
            if found is not None:
                summary, report, mixed[precision] = found
        built[precision] = (summary, report)
        paths[precision] = path
    log(f"auto: timing {', '.join(paths)} round-robin on this machine, each on its fastest backend here")
    sessions = load_candidates(paths)
    latency = median_latencies_ms(sessions, evalset.x[0])
    for precision, (_, report) in built.items():
        s = sessions[precision]
        rows.append({"precision": precision, "backend": s.backend, "threads": s.threads,
                     "latency_ms": latency[precision],
                     "size_kib": paths[precision].stat().st_size / 1024, "delta": report.metric["delta"],
                     "metric": report.metric["name"], "passed": report.passed,
                     "float_nodes": len(mixed[precision]["float_nodes"]) if precision in mixed else 0})
        threads = "default" if s.threads == 0 else s.threads or "-"
        log(f"auto: {precision:12s} {latency[precision]:8.4f} ms on {s.backend} ({threads} threads)  "
            f"{metric_text(report.metric)}  "
            f"{'within' if report.passed else 'OUTSIDE'} budget")
    ok = [r for r in rows if r["passed"]] or [r for r in rows if r["precision"] == "fp32"]
    best = min(ok, key=lambda r: r["latency_ms"])
    fp32_ms = next(r["latency_ms"] for r in rows if r["precision"] == "fp32")
    slower = [r["precision"] for r in rows if r["precision"] != "fp32" and r["latency_ms"] > fp32_ms]
    reason = (f"chose {best['precision']}: the fastest candidate within budget on this machine "
              f"({best['backend']}, the fastest backend for it here)")
    if slower:
        reason += (f"; {', '.join(slower)} measured slower than fp32 here "
                   "(quantize/dequantize and cast overhead outweigh the saved arithmetic for this model on CPU)")
    summary, report = built[best["precision"]]
    for sess in sessions.values():
        sess.close()
    decision = {"candidates": rows, "chosen": best["precision"], "reason": reason,
                "device": "this machine: each candidate on the backend and threads runtimes.load chose by measuring",
                "mixed": mixed}
    return best["precision"], summary, report, decision
