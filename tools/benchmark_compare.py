"""Side-by-side comparisons with targets; writes BENCHMARKS.md.  ``python tools/benchmark_compare.py [-o FILE]``

Each comparison measures its contenders in one run, **interleaved** (round-robin blocks of calls), so
that load from other jobs hits every contender alike; the figure quoted is the median over rounds of
the per-call time, and ratios are ratios of those medians. Needs the host install (torch) for the
torch baselines; bundles come from ``edge_sdk.bundles.resolve_bundle`` (``converters.export``, cached).
Runs in a few minutes on a 2-core CPU box (about 2 more the first time, to export the bundles).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edge_sdk.benchmark import provenance  # noqa: E402
from edge_sdk.bundles import resolve_bundle  # noqa: E402

Fn = Callable[[], Any]


def interleaved(fns: dict[str, Fn], *, rounds: int = 15, block_s: float = 0.05) -> dict[str, float]:
    """Median per-call seconds of each fn over ``rounds`` round-robin blocks of ~``block_s`` seconds."""
    number = {}
    for name, fn in fns.items():  # warm up and size the blocks
        fn()
        t0 = time.perf_counter()
        n = 0
        while time.perf_counter() - t0 < block_s / 2 or n < 1:
            fn()
            n += 1
        number[name] = max(1, int(n * block_s / max(time.perf_counter() - t0, 1e-9)))
    per: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            k = number[name]
            t0 = time.perf_counter()
            for _ in range(k):
                fn()
            per[name].append((time.perf_counter() - t0) / k)
    return {k: statistics.median(v) for k, v in per.items()}


def fmt_t(s: float) -> str:
    return f"{s * 1e6:.1f} µs" if s < 1e-3 else f"{s * 1e3:.2f} ms" if s < 1 else f"{s:.2f} s"


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


class Section:
    def __init__(self, num: int, title: str, target: str) -> None:
        self.num, self.title, self.target = num, title, target
        self.rows: list[list[str]] = []
        self.checks: list[tuple[str, float, str, bool]] = []  # (what, ratio, target, met)
        self.notes: list[str] = []

    def md(self) -> str:
        out = [f"## {self.num}. {self.title}", "", f"Target: {self.target}", ""]
        out += ["| contender | median per call |", "|---|---|"] + [f"| {a} | {b} |" for a, b in self.rows]
        out += ["", "| measured | ratio | target | |", "|---|---|---|---|"]
        out += [f"| {w} | {r:.2f}× | {t} | {verdict(m)} |" for w, r, t, m in self.checks]
        out += [""] + [f"{n}\n" for n in self.notes]
        return "\n".join(out)


TORCH_THREADS = [0]  # torch's default intra-op thread count, recorded before any comparison changes it


def torch_mod() -> Any:
    import torch

    if not TORCH_THREADS[0]:
        TORCH_THREADS[0] = torch.get_num_threads()
    return torch


def torch_contenders(model: Any, xt: Any) -> dict[str, Fn]:
    """torch eager in inference mode at its default thread count and at one thread (each call sets it)."""
    torch = torch_mod()
    default = TORCH_THREADS[0]

    def eager(n: int) -> Fn:
        def call() -> Any:
            torch.set_num_threads(n)
            with torch.inference_mode():
                return model(xt)
        return call

    return {"torch": eager(default), "torch1": eager(1)}


def torch_rows(t: dict[str, float], suffix: str) -> list[list[str]]:
    return [[f"torch eager (inference_mode, default {TORCH_THREADS[0]} threads){suffix}", fmt_t(t["torch"])],
            [f"torch eager (inference_mode, 1 thread){suffix}", fmt_t(t["torch1"])]]


# -- 1 ---------------------------------------------------------------------------------------------
def cmp_emlp() -> Section:
    import onnx
    from onnx import numpy_helper

    import edge_sdk

    torch = torch_mod()
    s = Section(1, "EMLP predict, one sample (1 x 15)",
                "runtime ≤ 1.5× the plain-numpy floor, and ≥ 2× faster than torch eager")
    bundle = resolve_bundle("emlp")
    sess_np = edge_sdk.load(bundle, backend="numpy")
    sess_ort = edge_sdk.load(bundle, backend="onnxruntime")
    w = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(bundle / "model.onnx")).graph.initializer}
    # Gemm weights are stored (out, in) with transB=1: transpose once, as hand-written code would
    w1, w2 = (np.ascontiguousarray(w[f"fc{i}.weight"].T) for i in (1, 2))
    b1, b2 = w["fc1.bias"], w["fc2.bias"]
    x = np.random.default_rng(0).standard_normal((1, 15)).astype(np.float32)

    def floor() -> np.ndarray:
        y = np.logaddexp(0, np.maximum(x @ w1 + b1, 0) @ w2 + b2)
        return y / np.sqrt((y * y).sum(-1, keepdims=True) + 1e-12)

    np.testing.assert_allclose(floor(), sess_np(x), rtol=1e-4, atol=1e-6)  # the floor computes the same
    model = edge_sdk.create_model("emlp", pretrained=False).eval()
    model.load_state_dict({"fc1.weight": torch.from_numpy(w1.T.copy()), "fc1.bias": torch.tensor(b1),
                           "fc2.weight": torch.from_numpy(w2.T.copy()), "fc2.bias": torch.tensor(b2)})
    xt = torch.from_numpy(x)

    def eager() -> Any:
        with torch.inference_mode():
            return model(xt)

    ort_any: Any = sess_ort  # the bare ORT session under the runtime's wrapper
    ort_raw, ort_out, ort_feed = ort_any._sess, [o.name for o in sess_ort.outputs], {sess_ort.inputs[0].name: x}
    t = interleaved({"floor": floor, "numpy": lambda: sess_np(x), "ort": lambda: sess_ort(x), "torch": eager,
                     "ort_raw": lambda: ort_raw.run(ort_out, ort_feed)}, rounds=21)
    s.rows = [["plain-numpy floor (the same matmuls inline)", fmt_t(t["floor"])],
              ["runtime, numpy backend (`session(x)`)", fmt_t(t["numpy"])],
              ["runtime, onnxruntime backend (`session(x)`)", fmt_t(t["ort"])],
              ["torch eager (inference_mode)", fmt_t(t["torch"])],
              ["bare `onnxruntime.InferenceSession.run` (no edge-sdk code: ORT's own per-call cost)",
               fmt_t(t["ort_raw"])]]
    for name, label in (("numpy", "numpy backend"), ("ort", "onnxruntime backend")):
        s.checks.append((f"{label} / floor", t[name] / t["floor"], "≤ 1.5×", t[name] <= 1.5 * t["floor"]))
        s.checks.append((f"torch eager / {label}", t["torch"] / t[name], "≥ 2×", t["torch"] >= 2 * t[name]))
    raw = t["ort_raw"] / t["floor"]
    s.notes.append("Both runtime calls include the Session's input checks (dtype, shape, NaN/Inf refusal). "
                   f"Bare ORT alone costs {raw:.2f}× the floor; the edge-sdk wrapper adds "
                   f"{fmt_t(max(t['ort'] - t['ort_raw'], 0.0))} per call to it (input checks, feed/output dicts). "
                   + ("ORT's own call overhead is then above the 1.5× target: no wrapper can remove it. "
                      if raw > 1.5 else "")
                   + "The numpy backend is the runtime's path for MLPs this small.")
    return s


# -- 2 ---------------------------------------------------------------------------------------------
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
        s.checks.append((f"torch / runtime, batch {batch}", ratio, "≥ 4×" if batch == 1 else "(shown)",
                         ratio >= 4 if batch == 1 else ratio > 0))
    return s


# -- 3 ---------------------------------------------------------------------------------------------
def cmp_care() -> Section:
    import edge_sdk
    from converters.auto import median_latency_ms

    torch = torch_mod()
    s = Section(3, "care-s0 at 224², batch 1",
                "FP32 runtime ≥ 1.5× faster than torch; INT8 faster than FP32, or `--precision auto` picks FP32 "
                "and this file shows why")
    fp32, int8 = resolve_bundle("care-s0", "fp32"), resolve_bundle("care-s0", "int8")
    s_fp32, s_int8 = edge_sdk.load(fp32), edge_sdk.load(int8)
    model = edge_sdk.create_model("care-s0", pretrained=False).eval()
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    xt = torch.from_numpy(x)

    t = interleaved({**torch_contenders(model, xt), "fp32": lambda: s_fp32(x), "int8": lambda: s_int8(x)},
                    rounds=7, block_s=0.2)
    s.rows = torch_rows(t, "") + [[f"runtime FP32 ({s_fp32.backend})", fmt_t(t["fp32"])],
                                  [f"runtime INT8 QDQ ({s_int8.backend})", fmt_t(t["int8"])]]
    best_torch = min(t["torch"], t["torch1"])
    s.checks.append(("torch (faster setting) / runtime FP32", best_torch / t["fp32"], "≥ 1.5×",
                     best_torch >= 1.5 * t["fp32"]))
    int8_faster = t["int8"] < t["fp32"]
    s.checks.append(("runtime FP32 / INT8", t["fp32"] / t["int8"], "> 1× (else auto picks FP32)", int8_faster))
    if not int8_faster:
        # The rule of --precision auto (converters.auto.choose_precision): the fastest candidate within
        # budget, latency by converters.auto.median_latency_ms. Applied here to the two built candidates.
        rows = []
        for p, b in (("fp32", fp32), ("int8", int8)):
            m = edge_sdk.load(b).manifest
            assert m is not None
            lat = median_latency_ms(b / m.artifact, x[0], budget_s=2.0)
            par = m.parity or {}
            rows.append((p, lat, bool(par.get("passed")), (par.get("metric") or {}).get("delta")))
        chosen = min((r for r in rows if r[2]), key=lambda r: r[1])[0]
        by_p = {p: ms for p, ms, _, _ in rows}
        s.checks.append((f"`--precision auto` picks {chosen} (its timer: INT8 / FP32)", by_p["int8"] / by_p["fp32"],
                         "picks fp32 when INT8 is slower", chosen == "fp32"))
        s.notes.append("Why INT8 is not faster here: `--precision auto` (converters.auto.choose_precision) keeps the "
                       "fastest candidate within budget, timed with its own `median_latency_ms`:\n\n"
                       "| candidate | median ms (auto's timer) | within budget | metric delta |\n|---|---|---|---|\n"
                       + "\n".join(f"| {p} | {lat:.2f} | {ok} | {d} |" for p, lat, ok, d in rows)
                       + f"\n\nIt picks **{chosen}**. On this x86 CPU, ONNX Runtime runs the QDQ graph's convolutions "
                       "and matmuls in INT8 but every depthwise conv, GELU, LayerNorm/BatchNorm-folded add, ELU "
                       "and division of the attention stays in float, so each quantized island pays a "
                       "QuantizeLinear/DequantizeLinear pair; at batch 1 on 2 cores that overhead outweighs the "
                       "saved arithmetic.")
    return s


# -- 4 ---------------------------------------------------------------------------------------------
def dual_pair(w: int, h: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A smooth raw-like scene (uint16, 12-bit range) as a long/short exposure pair (ratio 4, clipped)."""
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.uniform(0.02, 1.0, (h // 40 + 1, w // 40 + 1, 3)).astype(np.float32) * [0.5, 1.0, 0.7]
    scene = cv2.resize(small.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    short = np.clip(scene * 1000 + rng.normal(0, 4, scene.shape), 0, 4095).astype(np.uint16)
    long = np.clip(scene * 4000 + rng.normal(0, 8, scene.shape), 0, 4095).astype(np.uint16)
    return long, short


def cmp_white_balance() -> Section:
    from edge_sdk.awb.features import extract_features
    from runtimes import load

    s = Section(4, "White balance on dual-exposure pairs: DEF + single-frame features + EMLP",
                "≤ 2× the time of copying both frames once (the memory floor)")
    sess = load(resolve_bundle("emlp"), backend="numpy")
    for name, (w, h) in (("1080p", (1920, 1080)), ("4K", (3840, 2160))):
        long, short = dual_pair(w, h)

        def wb(long: np.ndarray = long, short: np.ndarray = short) -> np.ndarray:
            return sess(extract_features(long, short, white_level=4095)[None])

        def copy(long: np.ndarray = long, short: np.ndarray = short) -> tuple[np.ndarray, np.ndarray]:
            return long.copy(), short.copy()

        t = interleaved({"wb": wb, "copy": copy}, rounds=15, block_s=0.1)
        s.rows += [[f"{name} uint16 pair: features + EMLP (numpy backend)", fmt_t(t["wb"])],
                   [f"{name} uint16 pair: copy both frames", fmt_t(t["copy"])]]
        s.checks.append((f"{name}: white balance / copy", t["wb"] / t["copy"], "≤ 2×", t["wb"] <= 2 * t["copy"]))
    s.notes.append("The statistics read every k-th row (k = H // 216) and never convert the uint16 frames to "
                   "float (edge_sdk/awb/features.py), so the cost is a fraction of one pass over the frames.")
    return s


# -- 5 ---------------------------------------------------------------------------------------------
ATTN_WIDTH, ATTN_HEAD_DIM = 32, 16  # care-s0 stage 3: memory width g = 32, head dim 16
# glibc serves allocations above a dynamic threshold (up to 32 MiB) with fresh mmap'd pages and returns
# them on free, so every call pays page faults on its large intermediates; these settings keep them
# in the heap for reuse (what jemalloc/tcmalloc do by default, and the usual advice for CPU inference).
HEAP_REUSE_ENV = {"MALLOC_MMAP_THRESHOLD_": str(2**32), "MALLOC_TRIM_THRESHOLD_": str(2**32)}


def attention_worker(with_softmax: bool) -> dict[str, float]:
    """Per-call seconds of CARE's linear attention (and a streaming floor, and softmax) per token grid."""
    from edge_sdk.zoo.care_blocks import LinearAttention

    torch = torch_mod()
    torch.set_num_threads(TORCH_THREADS[0])
    width, head_dim = ATTN_WIDTH, ATTN_HEAD_DIM

    class SoftmaxAttention(torch.nn.Module):  # type: ignore[name-defined,misc]  # same width, heads, q/k projection
        def __init__(self) -> None:
            super().__init__()
            self.heads = width // head_dim
            self.qk = torch.nn.Conv2d(width, 2 * width, 1)

        def forward(self, x: Any) -> Any:
            b = x.shape[0]
            q, k = torch.chunk(self.qk(x), 2, dim=1)
            q = q.reshape(b, self.heads, head_dim, -1)
            k = k.reshape(b, self.heads, head_dim, -1)
            v = x.reshape(b, self.heads, head_dim, -1)
            attn = torch.softmax(torch.matmul(q.transpose(-1, -2), k) / head_dim ** 0.5, dim=-1)  # (B,h,N,N)
            return torch.matmul(v, attn.transpose(-1, -2)).reshape(x.shape)

    lin, soft = LinearAttention(width, head_dim).eval(), SoftmaxAttention().eval()
    out: dict[str, float] = {}
    with torch.inference_mode():  # each family's sizes interleaved, so load from other jobs hits all alike
        xs = {side: torch.randn(1, width, side, side) for side in (28, 56, 112, 224, 448)}
        fns: dict[str, Fn] = {f"lin:{n}": partial(lin, xs[n]) for n in (112, 224, 448)}
        fns.update({f"stream:{n}": partial(lambda x: (x * 2 + 1) * 3, xs[n]) for n in (112, 224, 448)})
        out.update(interleaved(fns, rounds=9, block_s=0.1))
        if with_softmax:
            out.update(interleaved({f"soft:{n}": partial(soft, xs[n]) for n in (28, 56, 112)}, rounds=5,
                                   block_s=0.05))
    return out


def _attention_in_subprocess(env: dict[str, str], with_softmax: bool) -> dict[str, float]:
    code = (f"import json, sys; sys.path.insert(0, {str(REPO / 'tools')!r}); import benchmark_compare as b; "
            f"print(json.dumps(b.attention_worker({with_softmax})))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **env},
                       cwd=REPO, timeout=600, check=True)
    return {k: float(v) for k, v in __import__("json").loads(r.stdout.strip().splitlines()[-1]).items()}


def cmp_attention() -> Section:
    s = Section(5, f"Attention scaling, width {ATTN_WIDTH} (care-s0 stage-3 memory width), head dim "
                   f"{ATTN_HEAD_DIM}, batch 1, token grid = the side given",
                "4× the pixels → ≤ 4.5× the time for CARE's linear attention; softmax attention shown for contrast")
    default = _attention_in_subprocess({}, with_softmax=True)
    reuse = _attention_in_subprocess(HEAP_REUSE_ENV, with_softmax=False)
    for side in (112, 224, 448):
        s.rows.append([f"linear attention (CARE) at {side}², heap reuse", fmt_t(reuse[f"lin:{side}"])])
    for side in (112, 224, 448):
        s.rows.append([f"linear attention (CARE) at {side}², default glibc malloc", fmt_t(default[f"lin:{side}"])])
    for side in (112, 224, 448):
        s.rows.append([f"streaming floor (x * 2 + 1) * 3 at {side}², default / heap reuse",
                       f"{fmt_t(default[f'stream:{side}'])} / {fmt_t(reuse[f'stream:{side}'])}"])
    for side in (28, 56, 112):
        s.rows.append([f"softmax attention at {side}²", fmt_t(default[f"soft:{side}"])])
    for a, b in ((112, 224), (224, 448)):
        r = reuse[f"lin:{b}"] / reuse[f"lin:{a}"]
        s.checks.append((f"linear: {b}² / {a}² (heap reuse)", r, "≤ 4.5×", r <= 4.5))
    for a, b in ((112, 224), (224, 448)):
        r = default[f"lin:{b}"] / default[f"lin:{a}"]
        floor = default[f"stream:{b}"] / default[f"stream:{a}"]
        s.checks.append((f"linear: {b}² / {a}² (default malloc; streaming floor {floor:.1f}×)", r, "(shown)", True))
    for a, b in ((28, 56), (56, 112)):
        r = default[f"soft:{b}"] / default[f"soft:{a}"]
        s.checks.append((f"softmax: {b}² / {a}² (contrast)", r, "(shown; ~16× expected)", True))
    gb = 2 * (224 * 224) ** 2 * 4 / 2**30
    s.notes.append(
        "Linear attention is O(N): with allocations reused it grows ~3-4× per 4× tokens. Under glibc's default "
        "malloc, tensors of ≥ ~25 MiB (448², 32 channels) are mmap'd fresh and unmapped on every call, so each "
        "call pays page faults: even the three-pass streaming floor above jumps far more than 4× from 224² to "
        "448² there. That is the allocator, not the algorithm; deployments set "
        "`MALLOC_MMAP_THRESHOLD_`/`MALLOC_TRIM_THRESHOLD_` (as here) or preload jemalloc/tcmalloc. Measured in "
        "two fresh processes, one per allocator setting.")
    s.notes.append(f"Softmax attention is not run at 224² and 448²: its N x N score matrix alone needs {gb:.0f} GiB "
                   f"(224², 2 heads, fp32) and {gb * 16:.0f} GiB (448²); its time grows with N².")
    return s


# -- 6 ---------------------------------------------------------------------------------------------
COLD = r"""
import sys, time
t0 = time.perf_counter()
sys.modules["torch"] = None  # blocked: the device path must not need it
import numpy as np
import edge_sdk
t1 = time.perf_counter()
sess = edge_sdk.load(sys.argv[1])
t2 = time.perf_counter()
sess(np.zeros((1, 1, 28, 28), np.float32))
t3 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2, t3 - t0)
"""


def cmp_cold_start(runs: int = 7) -> Section:
    s = Section(6, "Cold start: fresh process, torch blocked: import + load compact-cnn + first inference",
                "≤ 0.3 s")
    bundle = resolve_bundle("compact-cnn")
    parts: list[list[float]] = []
    walls = []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", COLD, str(bundle)], capture_output=True, text=True, check=True,
                             cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
        walls.append(time.perf_counter() - t0)
        parts.append([float(v) for v in out.stdout.split()])
    med = [statistics.median(p[i] for p in parts) for i in range(4)]
    s.rows = [["import numpy + edge_sdk", fmt_t(med[0])], ["edge_sdk.load(bundle) (onnxruntime)", fmt_t(med[1])],
              ["first inference", fmt_t(med[2])], ["**total (import + load + first inference)**", fmt_t(med[3])],
              ["process wall time incl. interpreter start-up (for reference)", fmt_t(statistics.median(walls))]]
    s.checks.append(("total / 0.3 s", med[3] / 0.3, "≤ 1× (≤ 0.3 s)", med[3] <= 0.3))
    s.notes.append(f"Median of {runs} fresh processes; times measured inside the process from its first statement.")
    return s


COMPARISONS: dict[str, Callable[[], Section]] = {
    "emlp": cmp_emlp, "compact-cnn": cmp_compact_cnn, "care": cmp_care, "white-balance": cmp_white_balance,
    "attention": cmp_attention, "cold-start": cmp_cold_start,
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--out", type=Path, default=REPO / "BENCHMARKS.md")
    ap.add_argument("--only", nargs="*", choices=list(COMPARISONS), help="run only these comparisons")
    args = ap.parse_args(argv)
    torch_mod()
    t_start = time.perf_counter()
    sections = []
    for key, fn in COMPARISONS.items():
        if args.only and key not in args.only:
            continue
        t0 = time.perf_counter()
        sec = fn()
        print(f"[{time.perf_counter() - t0:6.1f} s] {sec.num}. {sec.title}", file=sys.stderr)
        for w, r, t, m in sec.checks:
            print(f"    {w}: {r:.2f}x (target {t}) {'met' if m else 'NOT MET'}", file=sys.stderr)
        sections.append(sec)
    import torch

    prov = provenance()
    v = prov["versions"]
    head = ["# Benchmarks", "",
            "Generated by `python tools/benchmark_compare.py` (do not edit by hand). Contenders of one comparison are "
            "measured in the same run, interleaved round-robin; each figure is the median over rounds of the "
            "per-call time, and ratios are ratios of medians. Single-process latency, CPU only.", "",
            f"Machine: {prov['cpu']}, {prov['usable_cores']} usable / {prov['cores']} cores "
            f"(shared with other jobs: absolute times are noisy, ratios less so), {prov['os']}.  ",
            f"Threads: onnxruntime intra-op default of the runtime, torch default {TORCH_THREADS[0]} (also timed at 1 "
            "thread; torch ratios use the faster of the two); env "
            + ", ".join(f"{k}={val}" for k, val in prov["threads"].items() if k != "requested" and val) + ".  ",
            f"Versions: edge-sdk {v['edge-sdk']}, python {prov['python']}, numpy {v['numpy']}, onnxruntime "
            f"{v['onnxruntime']}, OpenCV {v['opencv']}, torch {torch.__version__}, TensorRT {v['tensorrt'] or '-'}.  ",
            f"Run at {prov['time']}, took {time.perf_counter() - t_start:.0f} s.", "",
            "| # | comparison | measured | ratio | target | |", "|---|---|---|---|---|---|"]
    for sec in sections:
        for w, r, t, m in sec.checks:
            head.append(f"| {sec.num} | {sec.title} | {w} | {r:.2f}× | {t} | {verdict(m)} |")
    text = "\n".join(head) + "\n\n" + "\n".join(sec.md() for sec in sections)
    args.out.write_text(text)
    print(f"wrote {args.out} in {time.perf_counter() - t_start:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
