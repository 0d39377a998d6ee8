"""6. Cold start in a fresh process, torch blocked: import + load compact-cnn + first inference."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

from benchmarks.harness import REPO, Section, fmt_t
from edge_sdk.bundles import resolve_bundle

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
    s.check("total / 0.3 s", med[3] / 0.3, "≤ 1× (≤ 0.3 s)", med[3] <= 0.3)
    s.notes.append(f"Median of {runs} fresh processes; times measured inside the process from its first statement.")
    return s
