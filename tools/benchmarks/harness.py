"""Timing methods, the Section a comparison returns, and torch baselines shared by the comparisons.

Two timing methods, both median-based, both interleaving contenders so that load from other jobs on
the shared box hits every contender alike:

- ``interleaved``: round-robin *blocks* of back-to-back calls (a hot loop per block): the steady-state
  cost of calling one thing repeatedly, as a camera loop does.
- ``single_calls``: round-robin *single* calls: each call runs after the other contenders have run,
  so its data is no longer hot in cache, as a layer inside a network's forward pass is.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

Fn = Callable[[], Any]


def block_sizes(fns: dict[str, Fn], block_s: float) -> dict[str, int]:
    """Warm each fn up and count how many calls of it fill a block of about ``block_s`` seconds."""
    number = {}
    for name, fn in fns.items():
        fn()
        t0 = time.perf_counter()
        n = 0
        while time.perf_counter() - t0 < block_s / 2 or n < 1:
            fn()
            n += 1
        number[name] = max(1, int(n * block_s / max(time.perf_counter() - t0, 1e-9)))
    return number


def interleaved(fns: dict[str, Fn], *, rounds: int = 15, block_s: float = 0.05, settle_s: float = 0.05
                ) -> dict[str, float]:
    """Median per-call seconds of each fn over ``rounds`` round-robin blocks of ~``block_s`` seconds.

    Before each block the harness sleeps ``settle_s`` (not timed): thread pools of the contender that ran
    last (ONNX Runtime's, torch's OpenMP) spin-wait for more work for a while after a call, and on a
    machine with few cores that spinning would steal time from the next contender's first calls.
    """
    number = block_sizes(fns, block_s)
    per: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            k = number[name]
            time.sleep(settle_s)
            t0 = time.perf_counter()
            for _ in range(k):
                fn()
            per[name].append((time.perf_counter() - t0) / k)
    return {k: statistics.median(v) for k, v in per.items()}


def paired_ratio(a: Fn, b: Fn, *, rounds: int = 41, block_s: float = 0.05, settle_s: float = 0.05
                 ) -> tuple[float, float, float, dict[str, float]]:
    """The ratio of a's per-call time to b's, measured in pairs: each round times a block of a and a block of b
    back to back (the order alternating round by round), so a load that comes and goes hits both sides of a
    pair alike. Returns (median of the per-round ratios, its 25th and 75th percentiles, each side's median
    per-call seconds). For targets on a ratio a few percent from 1, where the drift between rounds on a
    shared machine is larger than the difference being measured."""
    fns = {"a": a, "b": b}
    number = block_sizes(fns, block_s)
    per: dict[str, list[float]] = {"a": [], "b": []}
    ratios = []
    for r in range(rounds):
        got = {}
        for name in ("a", "b") if r % 2 == 0 else ("b", "a"):
            fn, k = fns[name], number[name]
            time.sleep(settle_s)
            fn()  # untimed: the other side's threads stop spinning, this side's data comes back into cache
            t0 = time.perf_counter()
            for _ in range(k):
                fn()
            got[name] = (time.perf_counter() - t0) / k
            per[name].append(got[name])
        ratios.append(got["a"] / got["b"])
    q1, med, q3 = statistics.quantiles(ratios, n=4)
    return med, q1, q3, {k: statistics.median(v) for k, v in per.items()}


def single_calls(fns: dict[str, Fn], *, rounds: int = 15, warmup: int = 2) -> dict[str, float]:
    """Median seconds of one call of each fn, the fns called in turn (one call each per round)."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    per: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            per[name].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in per.items()}


def fmt_t(s: float) -> str:
    return f"{s * 1e6:.1f} µs" if s < 1e-3 else f"{s * 1e3:.2f} ms" if s < 1 else f"{s:.2f} s"


@dataclass
class Check:
    """One measured ratio against its target. ``met`` None: shown for context, no target."""

    what: str
    ratio: float
    target: str
    met: bool | None
    why: str = ""  # for a miss: the measured reason (e.g. the floor of this step), shown beside the verdict

    def verdict(self) -> str:
        if self.met is None:
            return "shown"
        return "**met**" if self.met else "**not met**" + (f" ({self.why})" if self.why else "")

    def row(self) -> str:
        return f"{self.what} | {self.ratio:.2f}× | {self.target} | {self.verdict()}"


@dataclass
class Section:
    num: int
    title: str
    target: str
    rows: list[list[str]] = field(default_factory=list)  # (contender, median per call)
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    short: str = ""  # the title in the summary table, where the full one is long

    def check(self, what: str, ratio: float, target: str, met: bool | None, why: str = "") -> None:
        self.checks.append(Check(what, ratio, target, met, why))

    def md(self) -> str:
        out = [f"## {self.num}. {self.title}", "", f"Target: {self.target}", ""]
        out += ["| contender | median per call |", "|---|---|"] + [f"| {a} | {b} |" for a, b in self.rows]
        out += ["", "| measured | ratio | target | |", "|---|---|---|---|"]
        out += [f"| {c.row()} |" for c in self.checks]
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


def choice_text(sess: Any) -> str:
    """How ``edge_sdk.load`` runs a session, as the autotune cache and ``edge-sdk doctor`` name it."""
    from runtimes.autotune import Candidate

    c = sess.choice
    return Candidate(c["backend"], c.get("threads"), c.get("spin")).label if c else str(sess.backend)
