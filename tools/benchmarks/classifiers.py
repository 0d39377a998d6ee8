"""2. compact-cnn and 3. care-s0: the runtime vs torch eager; care-s0 INT8 vs FP32 and `--precision auto`."""

from __future__ import annotations

import tempfile
from collections import Counter
from functools import partial
from pathlib import Path

import numpy as np

from benchmarks.harness import Fn, Section, choice_text, fmt_t, interleaved, torch_contenders, torch_mod, torch_rows
from edge_sdk.bundles import resolve_bundle


def cmp_compact_cnn() -> Section:
    import edge_sdk

    torch = torch_mod()
    s = Section(2, "compact-cnn (1 x 28 x 28), batch 1 and 32", "runtime ≥ 4× faster than torch eager at batch 1")
    sess = edge_sdk.load(resolve_bundle("compact-cnn"))
    model = edge_sdk.create_model("compact-cnn", pretrained=False).eval()
    for batch in (1, 32):
        x = np.random.default_rng(0).standard_normal((batch, 1, 28, 28)).astype(np.float32)
        xt = torch.from_numpy(x)

        fns: dict[str, Fn] = {"rt": partial(sess, x), **torch_contenders(model, xt)}
        t = interleaved(fns, rounds=11, block_s=0.1)
        s.rows += [[f"runtime ({sess.backend}), batch {batch}", fmt_t(t["rt"])]] + torch_rows(t, f", batch {batch}")
        ratio = min(t["torch"], t["torch1"]) / t["rt"]
        s.check(f"torch / runtime, batch {batch}", ratio, "≥ 4×" if batch == 1 else "-",
                ratio >= 4 if batch == 1 else None)
    return s


INT8_LABELS = {"int8": "INT8, TensorRT-ready QDQ (`int8`)", "int8-cpu": "INT8, ONNX Runtime's CPU format (`int8-cpu`)",
               "int8-openvino": "INT8 for OpenVINO (`int8-openvino`)"}


def ort_cpu_op_counts(model: Path) -> Counter[str]:
    """Op types of the graph ONNX Runtime's CPU provider runs, after its QDQ fusions (basic + extended)."""
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        so.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
        ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
        return Counter(n.op_type for n in onnx.load(so.optimized_model_filepath).graph.node)


def cmp_care() -> Section:
    import edge_sdk
    from converters.auto import median_latencies_ms

    torch = torch_mod()
    s = Section(3, "care-s0 at 224², batch 1",
                "FP32 runtime ≥ 1.5× faster than torch; INT8 faster than FP32, or `--precision auto` picks FP32 "
                "and this file shows why")
    bundles = {p: resolve_bundle("care-s0", p) for p in ("fp32", *INT8_LABELS)}
    sessions = {p: edge_sdk.load(b) for p, b in bundles.items()}
    one_thread = {f"{p}@1": edge_sdk.load(bundles[p], threads=1) for p in ("fp32", "int8-cpu")}
    model = edge_sdk.create_model("care-s0", pretrained=False).eval()
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    xt = torch.from_numpy(x)

    t = interleaved({**torch_contenders(model, xt),
                     **{p: partial(sess, x) for p, sess in (*sessions.items(), *one_thread.items())}},
                    rounds=7, block_s=0.2)
    threads = sessions["fp32"].threads or "default"  # 0: ONNX Runtime's own default threads
    s.rows = torch_rows(t, "") + [[f"runtime FP32 ({choice_text(sessions['fp32'])})", fmt_t(t["fp32"])]]
    s.rows += [[f"runtime {label} ({choice_text(sessions[p])})", fmt_t(t[p])] for p, label in INT8_LABELS.items()]
    s.rows += [["runtime FP32, 1 thread", fmt_t(t["fp32@1"])], [f"runtime {INT8_LABELS['int8-cpu']}, 1 thread",
                                                                 fmt_t(t["int8-cpu@1"])]]
    best_torch = min(t["torch"], t["torch1"])
    s.check("torch (faster setting) / runtime FP32", best_torch / t["fp32"], "≥ 1.5×",
            best_torch >= 1.5 * t["fp32"])
    best = min(INT8_LABELS, key=lambda p: t[p])
    int8_faster = t[best] < t["fp32"]
    s.check(f"runtime FP32 / fastest INT8 (`{best}`, {choice_text(sessions[best])})", t["fp32"] / t[best],
            "> 1× (else auto picks FP32)", int8_faster, why="INT8 is not faster here: the rows and notes below")
    for p in INT8_LABELS:
        if p != best:
            s.check(f"runtime FP32 / `{p}` ({choice_text(sessions[p])})", t["fp32"] / t[p], "-", None)
    s.check("runtime FP32 / `int8-cpu`, 1 thread", t["fp32@1"] / t["int8-cpu@1"], "-", None)
    # The rule of --precision auto (converters.auto.choose_precision): the fastest candidate within
    # budget, latency by converters.auto.median_latencies_ms. Applied here to the built candidates.
    auto_ms = median_latencies_ms({p: b / "model.onnx" for p, b in bundles.items()}, x[0], budget_s=2.0)
    rows = []
    for p in bundles:
        par = sessions[p].manifest.parity or {}  # type: ignore[union-attr]
        rows.append((p, auto_ms[p], bool(par.get("passed")), (par.get("metric") or {}).get("candidate")))
    chosen = min((r for r in rows if r[2]), key=lambda r: r[1])[0]
    s.check(f"`--precision auto` picks `{chosen}` (its timer: FP32 / {chosen})", auto_ms["fp32"] / auto_ms[chosen],
            "-" if int8_faster else "picks fp32 when INT8 is slower", None if int8_faster else chosen == "fp32")
    ops = {p: ort_cpu_op_counts(bundles[p] / "model.onnx") for p in INT8_LABELS}
    fused = {p: sum(n for op, n in c.items() if op.startswith("QLinear")) for p, c in ops.items()}
    s.notes.append(
        "`--precision auto` (converters.auto.choose_precision) keeps the fastest candidate within budget, timed "
        "with its own `median_latencies_ms` (round-robin):\n\n"
        "| candidate | median ms (auto's timer) | within budget | output SQNR vs PyTorch (dB) |\n|---|---|---|---|\n"
        + "\n".join(f"| {p} | {lat:.2f} | {ok} | {sq:.1f} |" for p, lat, ok, sq in rows)
        + f"\n\nIt picks **{chosen}**. `int8-cpu` is {t['fp32@1'] / t['int8-cpu@1']:.2f}× FP32's speed on one "
        f"thread and {t['fp32'] / t['int8-cpu']:.2f}× on the runtime's {threads}: more threads help FP32's "
        f"large convolutions ({t['fp32@1'] / t['fp32']:.2f}× from 1 to {threads}) more than the INT8 graph's many "
        f"short QLinear ops ({t['int8-cpu@1'] / t['int8-cpu']:.2f}×). Which wins depends on the machine and its "
        "thread count, so `auto` measures on the machine it runs on instead of assuming INT8 wins. "
        "`int8-openvino` is built where OpenVINO is installed; `edge_sdk.load` runs it there when OpenVINO is "
        "clearly faster and within budget on the golden samples (sections 9 and 10).")
    s.notes.append(
        "Why the two INT8 formats differ on a CPU: ONNX Runtime's CPU provider runs INT8 by fusing "
        "DequantizeLinear → op → QuantizeLinear groups into QLinear* kernels. `int8-cpu` quantizes every op it can, "
        f"with uint8 activations (zero points), and the provider fuses {fused['int8-cpu']} such groups "
        f"({ops['int8-cpu']['QLinearConv']} QLinearConv, {ops['int8-cpu']['Conv']} float Conv left). `int8` puts "
        "Q/DQ only on the inputs of compute layers, symmetric (TensorRT's placement, which TensorRT needs); the "
        f"provider fuses {fused['int8']} groups and runs the rest as DequantizeLinear + float op "
        f"({ops['int8']['QLinearConv']} QLinearConv, {ops['int8']['Conv']} float Conv behind "
        f"{ops['int8']['DequantizeLinear']} DequantizeLinear nodes), so on a CPU it pays for quantization and gets "
        "little INT8 arithmetic back. Export `int8` for TensorRT, `int8-cpu` for ONNX Runtime on a CPU.")
    return s
