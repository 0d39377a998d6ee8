"""10. What INT8 can gain on this CPU: care-s0's layers timed one by one, FP32 against INT8, in both libraries.

A whole-model INT8 speed-up is bounded by two measurable things: how much faster the INT8 kernels of the
quantized layers (convolutions, matrix products) are than their FP32 kernels *on this CPU*, and what share
of the FP32 time those layers take (the rest — GELU, element-wise ops, layout changes — does not get
faster, and INT8 adds quantize/dequantize work). Both libraries report per-layer times: ONNX Runtime's
session profiler (``enable_profiling``) and OpenVINO's performance counters (``PERF_COUNT``). With
``s`` = FP32 time / INT8 time of the quantized layers and ``f`` = their share of the FP32 model, the
ceiling is ``1 / ((1 - f) + f / s)`` (Amdahl): what INT8 gives if everything else stayed as fast as in FP32.

INT8 kernels are fast where the CPU has INT8 dot-product instructions (x86 VNNI / AMX, Arm SDOT / I8MM,
``runtimes.cpuinfo.int8_support``): with them one instruction does 4x the multiply-accumulates of an FP32
FMA; without them (x86 AVX2 only) an INT8 multiply-accumulate costs about as much as an FP32 one.
"""

from __future__ import annotations

import collections
import json
import statistics
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.cpu_paths import within_budget
from benchmarks.harness import Section, fmt_t
from edge_sdk.bundles import resolve_bundle
from runtimes.precisions import STATIC_INT8

# layers INT8 quantizes (ONNX Runtime op types / OpenVINO node types), FP32 and INT8 forms
ORT_QUANTIZED = {"Conv", "FusedConv", "MatMul", "FusedMatMul", "Gemm", "QLinearConv", "QLinearMatMul", "QGemm",
                 "ConvInteger", "MatMulInteger", "MatMulIntegerToFloat", "DynamicQuantizeMatMul"}
OV_QUANTIZED = {"Convolution", "GroupConvolution", "MatMul", "FullyConnected", "FullyConnectedQuantizedLegacy"}
RUNS = 15
X = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)


def ort_layers(path: Path, threads: int = 1) -> dict[str, float]:
    """Seconds per inference in quantized layers ("quantized") and in the rest ("other"), ONNX Runtime."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.enable_profiling = True
    so.profile_file_prefix = str(Path(tempfile.mkdtemp(prefix="edge-sdk-prof-")) / "ort")
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    for _ in range(3):
        sess.run(None, {"input": X})
    for _ in range(RUNS):
        sess.run(None, {"input": X})
    events = json.loads(Path(sess.end_profiling()).read_text())
    runs = [e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"][-RUNS:]
    start = min(e["ts"] for e in runs)
    total: collections.Counter[str] = collections.Counter()
    for e in events:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time") and e["ts"] >= start:
            total["quantized" if e["args"].get("op_name") in ORT_QUANTIZED else "other"] += e["dur"] * 1e-6 / RUNS
    total["run"] = statistics.median(e["dur"] for e in runs) * 1e-6
    return dict(total)


def ov_layers(path: Path, threads: int = 1) -> dict[str, float]:
    """Seconds per inference in quantized layers and in the rest, OpenVINO (median over runs per category)."""
    import openvino as ov

    core = ov.Core()
    model = core.read_model(str(path))
    model.reshape(list(X.shape))  # static batch 1, as the runtime's OpenVINO backend compiles it
    compiled = core.compile_model(model, "CPU", {
        "PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads, "PERF_COUNT": True})
    req = compiled.create_infer_request()
    for _ in range(3):
        req.infer({0: X}, share_inputs=True)
    per: dict[str, list[float]] = {"quantized": [], "other": []}
    for _ in range(RUNS):
        req.infer({0: X}, share_inputs=True)
        run = {"quantized": 0.0, "other": 0.0}
        for info in req.get_profiling_info():  # the last inference's counters
            run["quantized" if info.node_type in OV_QUANTIZED else "other"] += info.real_time.total_seconds()
        for k, v in run.items():
            per[k].append(v)
    return {k: statistics.median(v) for k, v in per.items()}


def ceiling(fp32: dict[str, float], int8: dict[str, float]) -> tuple[float, float, float]:
    """(kernel speed-up s, FP32 share f of the quantized layers, Amdahl ceiling)."""
    s = fp32["quantized"] / max(int8["quantized"], 1e-12)
    f = fp32["quantized"] / max(fp32["quantized"] + fp32["other"], 1e-12)
    return s, f, 1.0 / ((1.0 - f) + f / s)


def cmp_int8_ceiling() -> Section:
    from runtimes.cpuinfo import int8_support

    isa = int8_support()
    s = Section(10, "What INT8 can gain on this CPU: care-s0's quantized layers, FP32 vs INT8, 1 thread",
                "shown (explains section 9's INT8 target on this machine)", short="INT8 ceiling on this CPU")
    bundles = {p: resolve_bundle("care-s0", p) / "model.onnx" for p in ("fp32", *STATIC_INT8)}
    libs = {"ONNX Runtime": ("ort", ort_layers), "OpenVINO": ("ov", ov_layers)}
    best, best_what = 0.0, "none"
    for lib, (short, measure) in libs.items():
        t = {p: measure(path) for p, path in bundles.items()}
        for p, v in t.items():
            s.rows.append([f"{lib} `{p}`: quantized layers (conv, matmul) / the rest, per inference",
                           f"{fmt_t(v['quantized'])} / {fmt_t(v['other'])}"])
        for p in STATIC_INT8:
            k, f, c = ceiling(t["fp32"], t[p])
            good, why = within_budget(bundles[p].parent, short)
            if good and c > best:
                best, best_what = c, f"{lib} `{p}`"
            budget = "" if good else f"; OUTSIDE the accuracy budget: {why}"
            s.check(f"{lib} `{p}`: quantized layers FP32 / INT8 (kernel speed-up s; FP32 share f = {f:.0%}{budget})",
                    k, "shown", None)
            s.check(f"{lib} `{p}`: whole-model INT8 ceiling 1 / ((1 - f) + f / s), against {lib} FP32", c, "shown",
                    None)
    s.notes.append(
        f"This CPU: SIMD {isa['vector'] or 'unknown'}, INT8 dot-product instructions: {isa['int8_dot'] or 'unknown'} "
        "(`runtimes.cpuinfo.int8_support`, also in `edge-sdk doctor`). Per-layer times come from the libraries' "
        "own profilers (ONNX Runtime's session profiler, OpenVINO's `PERF_COUNT`), 1 thread, median of "
        f"{RUNS} inferences; profiling adds a little per layer, so the whole-model figures of section 9 are "
        "the ones to quote, these are for the split. *the rest* of an INT8 model includes its quantize / "
        "dequantize work.")
    s.notes.append(
        f"The best ceiling of a path within the accuracy budget is {best:.2f}× ({best_what}), against the same "
        "library's FP32. Section 9's target compares with ONNX Runtime FP32, which OpenVINO's FP32 already beats, "
        "so an OpenVINO INT8 path can clear 1.5× there with a lower ceiling here. ONNX Runtime's INT8 kernels "
        "gain little over its FP32 ones on a CPU without INT8 dot-product instructions; OpenVINO's gain more, "
        "and run `int8` outside the budget here (its kernels saturate on full-range weights without VNNI), "
        "`int8-openvino` (7-bit weights) within it. The issue's figures (OpenVINO INT8 1.85× ONNX Runtime FP32 at "
        "2 threads) were taken on a CPU with AVX-512 VNNI; on such a CPU, or an Arm core with SDOT (Jetson Orin's "
        "Cortex-A78AE), re-run `python tools/benchmark_compare.py --only care-paths int8-ceiling`.")
    return s
