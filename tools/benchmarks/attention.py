"""5. Linear attention scaling: CARE's linear attention at 112², 224², 448² tokens vs softmax attention.

Measured in fresh processes (one per allocator setting), torch eager and the edge-sdk runtime (the
block exported to ONNX, one file per token grid), with both timing methods of ``harness``, beside a
streaming floor: a pure O(N) elementwise op sized to allocate as many bytes per call as the attention
(counted op by op, ``bytes_written``) and timed the same way. Where a step misses the target, the
floor's own ratio on that step shows how much of it the memory system alone costs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks.harness import REPO, Fn, Section, fmt_t, interleaved, single_calls, torch_mod

WIDTH, HEAD_DIM = 32, 16  # care-s0 stage 3: memory width g = 32, head dim 16
SIDES = (112, 224, 448)
SOFTMAX_SIDES = (28, 56, 112)  # its N x N scores need 19 GiB at 224²
TARGET = 4.5
# glibc serves allocations above a dynamic threshold (up to 32 MiB) with fresh mmap'd pages and returns
# them on free, so every call pays page faults on its large intermediates; these settings keep them
# in the heap for reuse (what jemalloc/tcmalloc do by default, and the usual advice for CPU inference).
HEAP_REUSE_ENV = {"MALLOC_MMAP_THRESHOLD_": str(2**32), "MALLOC_TRIM_THRESHOLD_": str(2**32)}


def softmax_attention(torch: Any) -> Any:
    """Softmax attention of the same width, heads and q/k projection as CARE's linear attention."""

    class SoftmaxAttention(torch.nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.heads = WIDTH // HEAD_DIM
            self.qk = torch.nn.Conv2d(WIDTH, 2 * WIDTH, 1)

        def forward(self, x: Any) -> Any:
            b = x.shape[0]
            q, k = torch.chunk(self.qk(x), 2, dim=1)
            q = q.reshape(b, self.heads, HEAD_DIM, -1)
            k = k.reshape(b, self.heads, HEAD_DIM, -1)
            v = x.reshape(b, self.heads, HEAD_DIM, -1)
            attn = torch.softmax(torch.matmul(q.transpose(-1, -2), k) / HEAD_DIM ** 0.5, dim=-1)  # (B,h,N,N)
            return torch.matmul(v, attn.transpose(-1, -2)).reshape(x.shape)

    return SoftmaxAttention().eval()


def bytes_written(torch: Any, fn: Fn) -> int:
    """Bytes of the fresh tensors one call of ``fn`` allocates (every op output not aliasing an input)."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_leaves

    class Count(TorchDispatchMode):  # type: ignore[misc]
        total = 0

        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            out = func(*args, **(kwargs or {}))
            ins = {t.untyped_storage().data_ptr() for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)}
            self.total += sum(t.untyped_storage().nbytes() for t in tree_leaves(out)
                              if isinstance(t, torch.Tensor) and t.untyped_storage().data_ptr() not in ins)
            return out

    with Count() as c:
        fn()
    return c.total


def stream(x: Any) -> Any:
    return (x * 2 + 1) * 3  # three elementwise passes: pure O(N) memory traffic, three fresh tensors


def worker(full: bool) -> dict[str, float]:
    """Per-call seconds keyed ``<method>:<what>:<side>``, and the byte counts; ``full`` adds the runtime and
    softmax. The streaming floor runs on as many channels as make it allocate the bytes the attention does."""
    from edge_sdk.zoo.care_blocks import LinearAttention

    torch = torch_mod()
    torch.set_num_threads(1)  # as the runtime runs a model this small; two threads on a shared box add noise
    lin = LinearAttention(WIDTH, HEAD_DIM).eval()
    out: dict[str, float] = {"threads": 1.0}
    with torch.inference_mode():
        xs = {side: torch.randn(1, WIDTH, side, side) for side in SIDES + SOFTMAX_SIDES}
        per_input = bytes_written(torch, partial(lin, xs[SIDES[0]])) / xs[SIDES[0]].nbytes
        floor_ch = round(WIDTH * per_input / 3)
        out.update({"written_per_input_byte": per_input, "floor_channels": float(floor_ch)})
        fs = {side: torch.randn(1, floor_ch, side, side) for side in SIDES}
        fns: dict[str, Fn] = {f"lin:{n}": partial(lin, xs[n]) for n in SIDES}
        fns.update({f"stream:{n}": partial(stream, fs[n]) for n in SIDES})
        out.update({f"hot:{k}": v for k, v in interleaved(fns, rounds=9, block_s=0.1).items()})
        if not full:
            return out
        out.update({f"single:{k}": v for k, v in single_calls(
            {k: v for k, v in fns.items() if k.startswith("stream")}, rounds=15).items()})
        soft = softmax_attention(torch)
        out.update({f"hot:{k}": v for k, v in interleaved({f"soft:{n}": partial(soft, xs[n]) for n in SOFTMAX_SIDES},
                                                          rounds=5, block_s=0.05).items()})
    import runtimes
    from converters.onnx_export import export_onnx

    with tempfile.TemporaryDirectory() as tmp:
        sessions = {n: runtimes.load(export_onnx(lin, (WIDTH, n, n), Path(tmp) / f"attention-{n}.onnx"))
                    for n in SIDES}
        rt_fns: dict[str, Fn] = {f"rt:{n}": partial(sessions[n], xs[n].numpy()) for n in SIDES}
        out.update({f"hot:{k}": v for k, v in interleaved(rt_fns, rounds=9, block_s=0.1).items()})
        out.update({f"single:{k}": v for k, v in single_calls(rt_fns, rounds=15).items()})
        out["rt_threads"] = float(sessions[SIDES[0]].threads or 0)
    return out


def in_subprocess(env: dict[str, str], full: bool) -> dict[str, float]:
    code = (f"import json, sys; sys.path[:0] = [{str(REPO)!r}, {str(REPO / 'tools')!r}]; "
            f"from benchmarks.attention import worker; print(json.dumps(worker({full})))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **env},
                       cwd=REPO, timeout=600)
    if r.returncode:
        raise RuntimeError(f"attention worker failed:\n{r.stderr[-2000:]}")
    return {k: float(v) for k, v in json.loads(r.stdout.strip().splitlines()[-1]).items()}


CONTENDERS = {("hot", "lin"): "torch eager, hot loop", ("hot", "rt"): "edge-sdk runtime (ONNX Runtime), hot loop",
              ("single", "rt"): "edge-sdk runtime (ONNX Runtime), single calls"}
METHODS = {"hot": "hot loop", "single": "single calls"}


def cmp_attention() -> Section:
    s = Section(5, f"Attention scaling, width {WIDTH} (care-s0 stage-3 memory width), head dim {HEAD_DIM}, batch 1, "
                   "token grid = the side given",
                f"4× the pixels → ≤ {TARGET}× the time for CARE's linear attention; softmax attention shown for "
                "contrast", short="Linear attention, 4× tokens per step")
    r = in_subprocess(HEAP_REUSE_ENV, full=True)
    d = in_subprocess({}, full=False)
    sizes = " / ".join(f"{n}²" for n in SIDES)
    for (m, fam), label in CONTENDERS.items():
        s.rows.append([f"linear attention (CARE), {label}: {sizes}",
                       " / ".join(fmt_t(r[f"{m}:{fam}:{n}"]) for n in SIDES)])
    for m, label in METHODS.items():
        s.rows.append([f"streaming floor, {label}: {sizes}", " / ".join(fmt_t(r[f"{m}:stream:{n}"]) for n in SIDES)])
    s.rows.append([f"linear attention, torch eager, hot loop, **default glibc malloc**: {sizes}",
                   " / ".join(fmt_t(d[f"hot:lin:{n}"]) for n in SIDES)])
    s.rows.append(["softmax attention, torch eager, hot loop: " + " / ".join(f"{n}²" for n in SOFTMAX_SIDES),
                   " / ".join(fmt_t(r[f"hot:soft:{n}"]) for n in SOFTMAX_SIDES)])
    steps = list(zip(SIDES, SIDES[1:]))
    for (m, fam), label in CONTENDERS.items():
        for a, b in steps:
            ratio = r[f"{m}:{fam}:{b}"] / r[f"{m}:{fam}:{a}"]
            floor = r[f"{m}:stream:{b}"] / r[f"{m}:stream:{a}"]
            why = f"the streaming floor scales {floor:.1f}× on this step, timed the same way: see below" \
                if floor > TARGET else ""
            s.check(f"linear, {label}: {b}² / {a}²", ratio, f"≤ {TARGET}×", ratio <= TARGET, why)
    for m, label in METHODS.items():
        for a, b in steps:
            s.check(f"streaming floor, {label}: {b}² / {a}²", r[f"{m}:stream:{b}"] / r[f"{m}:stream:{a}"], "-", None)
    for a, b in steps:
        floor = d[f"hot:stream:{b}"] / d[f"hot:stream:{a}"]
        s.check(f"linear, torch eager, hot loop, default malloc: {b}² / {a}² (streaming floor {floor:.1f}×)",
                d[f"hot:lin:{b}"] / d[f"hot:lin:{a}"], "-", None)
    for a, b in zip(SOFTMAX_SIDES, SOFTMAX_SIDES[1:]):
        s.check(f"softmax, torch eager: {b}² / {a}² (contrast; N² predicts 16×)",
                r[f"hot:soft:{b}"] / r[f"hot:soft:{a}"], "-", None)
    s.notes += notes(r)
    return s


def notes(r: dict[str, float]) -> list[str]:
    a, b, c = SIDES
    k = r["written_per_input_byte"]
    mib = {n: k * WIDTH * n * n * 4 / 2**20 for n in SIDES}
    ratio = {(m, fam): [r[f"{m}:{fam}:{y}"] / r[f"{m}:{fam}:{x}"] for x, y in ((a, b), (b, c))]
             for m, fam in (*CONTENDERS, ("hot", "stream"), ("single", "stream"))}
    gb = 2 * (224 * 224) ** 2 * 4 / 2**30
    first = ratio[("hot", "stream")][0]
    verdict = (f": on the first step, leaving L3 alone costs more than the {TARGET}× target" if first > TARGET else
               f": on this run the memory move stays within the {TARGET}× target")
    fmt = lambda key: " and ".join(f"{v:.2f}×" for v in ratio[key])  # noqa: E731
    return [
        "**How to read this.** Linear attention does O(N d²) work, so its time should grow ~4× per 4× tokens "
        "while nothing else changes with N. One thing does: where the data lives. One call (torch eager) "
        f"allocates and writes {k:.1f}× its input's bytes (counted per op with a torch dispatch mode): "
        f"{mib[a]:.0f} MiB at {a}², {mib[b]:.0f} MiB at {b}², {mib[c]:.0f} MiB at {c}². This CPU has 1 MiB of L2 "
        f"per core and a 32 MiB L3 shared with other jobs, so the {a}² call can run from L3 and the larger ones "
        "cannot. The **streaming floor** isolates that effect: `(x * 2 + 1) * 3` (three elementwise passes, "
        f"pure O(N)) on {r['floor_channels']:.0f} channels, so that it allocates the same bytes per call as the "
        f"attention. It scales {fmt(('hot', 'stream'))} on the two steps in the hot loop ({fmt(('single', 'stream'))} "
        f"as single calls){verdict}. "
        f"The attention itself scales {fmt(('hot', 'lin'))} (torch, hot loop), {fmt(('hot', 'rt'))} (runtime, "
        f"hot loop) and {fmt(('single', 'rt'))} (runtime, single calls: each call after the other sizes have "
        "evicted its data, as a layer inside a network's forward pass runs).",
        "Allocator: under glibc's default malloc, tensors of ≥ ~25 MiB are mmap'd fresh and unmapped on every "
        "call, so each call pays page faults on them (the default-malloc rows, measured in a second fresh "
        "process). That is the allocator, not the algorithm; deployments set `MALLOC_MMAP_THRESHOLD_`/"
        "`MALLOC_TRIM_THRESHOLD_` (as the main rows here do) or preload jemalloc/tcmalloc.",
        f"Threads: torch eager at {r['threads']:.0f}, the runtime at its default for a model this small "
        f"({r['rt_threads']:.0f}); the runtime's rows export the attention to ONNX once per token grid "
        "(`converters.onnx_export.export_onnx`) and load it with `runtimes.load`.",
        f"Softmax attention is not run at 224² and 448²: its N x N score matrix alone needs {gb:.0f} GiB "
        f"(224², 2 heads, fp32) and {gb * 16:.0f} GiB (448²); its time grows with N².",
    ]
