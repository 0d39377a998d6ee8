"""Step 3: parity of a converted ONNX against the PyTorch FP32 model, judged against a budget.

The report is data: it round-trips JSON, goes into the manifest, and a broken budget raises
:class:`edge_sdk.errors.ParityError` carrying every failing check (never a warning).

Budgets (from the precision table, runtimes.precisions; drop of the task metric, candidate vs
PyTorch FP32, on held-out data):

  =====================  =========  =========  ==============================
  task                   fp32       fp16       int8 / int8-cpu / int8-dynamic
  =====================  =========  =========  ==============================
  classification top-1   0.1 pp     0.1 pp     0.5 pp
  illuminant mean angle  0.01 deg   0.05 deg   0.15 deg
  no labels (SQNR, min)  60 dB      40 dB      25 dB
  =====================  =========  =========  ==============================

Models without labelled data (architecture-only CARE, models from outside the zoo) are judged on
output fidelity by the signal-to-quantization-noise ratio SQNR = 10·log10(Σ reference² /
Σ (candidate − reference)²), the measure PyTorch's quantization numeric suite uses. 25 dB keeps the
error below ~6 % of the output's RMS: per-channel symmetric INT8 reaches 35–45 dB on the zoo's
networks, while a badly calibrated model (inputs clipped to a constant) lands near 15 dB even
though its outputs still have cosine similarity ~0.98 with the reference. FP16 rounding gives
> 50 dB, FP32 reordering > 100 dB. SQNR is shown as the candidate's own figure against the budget
(PyTorch against itself has none).

A user's metric (``--metric file.py:function``, :mod:`converters.user_metric`) judges instead of
the task metric when given. Whatever judges, every output must be finite and keep PyTorch's dtype
(and the manifest's, when validating a bundle): an FP16 model promises FP32 I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from converters.eval_set import EvalSet
from runtimes.metrics import SQNR, metric_for, output_stats
from runtimes.metrics import sqnr_db as sqnr_db  # the math lives in the runtime (torch-free), for the device check
from runtimes.precisions import BUDGETS as BUDGETS


@dataclass
class ParityReport:
    model: str
    precision: str
    dataset: str
    samples: int
    outputs: dict[str, dict[str, float]]
    metric: dict[str, Any]
    budget: dict[str, Any]
    passed: bool
    failures: list[str] = field(default_factory=list)
    reference: str = "pytorch-fp32"
    override: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ParityReport:
        return cls(**d)

    def summary(self) -> str:
        verdict = "PASS" if self.passed else ("OVERRIDDEN" if self.override else "FAIL")
        return f"{self.model} {self.precision}: {metric_text(self.metric)} (budget: {self.budget['rule']}) {verdict}"


def metric_text(m: dict[str, Any]) -> str:
    """The metric in words: ``top1 99.17 -> 98.89 pp (Δ -0.28)``; output SQNR is the candidate's own figure
    (``output_sqnr 28.9 dB, worst output``): PyTorch against itself has no finite SQNR to compare with."""
    unit = f" {m['unit']}" if m["unit"] else ""
    if m["name"] == SQNR.name:
        return f"{m['name']} {m['candidate']:.4g}{unit}, worst output"
    return f"{m['name']} {m['reference']:.6g} -> {m['candidate']:.6g}{unit} (Δ {m['delta']:+.3g})"


def compare(
    model: str,
    precision: str,
    task: str,
    data: EvalSet,
    reference: dict[str, np.ndarray],
    candidate: dict[str, np.ndarray],
    expected_dtypes: Mapping[str, str] | None = None,
    task_output: str = "",
) -> ParityReport:
    """Build the report: per-output errors, the task metric and its budget (runtimes.metrics), or the user's
    metric (``data.metric``, converters.user_metric) and its budget. Every failure names its output and its
    own figure: outputs below the SQNR budget one by one, non-finite outputs, and outputs whose dtype differs
    from PyTorch's or from ``expected_dtypes`` (the manifest's; every precision keeps the model's I/O dtypes).
    The task metric (top-1, angular error) reads ``task_output`` (the manifest's; "" = the first output)."""
    outputs = {name: output_stats(ref, candidate[name]) for name, ref in reference.items()}
    first = task_output if task_output in reference else next(iter(reference))
    failures: list[str] = []
    um = data.metric
    if um is not None:
        r, c = um.value(reference, data.y), um.value(candidate, data.y)
        limit, rule, passed = um.budget, um.rule, um.within(r, c)
        metric: dict[str, Any] = {"name": um.name, "unit": "", "reference": r, "candidate": c, "delta": c - r,
                                  "mode": um.mode, "source": um.source}
        if not passed:
            failures.append(f"metric {um.name}: {c:.4g} vs PyTorch FP32 {r:.4g} breaks the budget ({rule})")
    else:
        tm = metric_for(task, data.y is not None)
        limit = tm.limit(precision)
        judged = reference if tm is SQNR else {first: reference[first]}  # the task metric reads the task output
        r, c = tm.value(reference, judged, data.y), tm.value(candidate, judged, data.y)
        metric = {"name": tm.name, "unit": tm.unit, "reference": r, "candidate": c, "delta": c - r}
        rule = tm.describe(limit)
        if tm is SQNR:
            failures += [f"{name}: output SQNR {s['sqnr_db']:.1f} dB breaks the budget ({rule})"
                         for name, s in outputs.items() if not tm.within(r, s["sqnr_db"], limit)]
        elif not tm.within(r, c, limit):
            failures.append(f"{first}: {tm.name} {c:.4g} vs PyTorch FP32 {r:.4g} breaks the budget ({rule})")
    for name, stats in outputs.items():
        if not np.isfinite(list(stats.values())).all():
            failures.append(f"{name}: non-finite outputs")
    failures += dtype_failures(reference, candidate, expected_dtypes)
    return ParityReport(
        model=model, precision=precision, dataset=data.name, samples=int(len(data.x)), outputs=outputs,
        metric=metric, budget={"rule": rule, "limit": limit}, passed=not failures, failures=failures,
    )


def dtype_failures(reference: Mapping[str, np.ndarray], candidate: Mapping[str, np.ndarray],
                   expected: Mapping[str, str] | None = None) -> list[str]:
    """Outputs whose dtype is not PyTorch's (e.g. float16 from an FP16 model that promises FP32 I/O), or not
    what the manifest declares."""
    out = []
    for name, ref in reference.items():
        got, want = str(candidate[name].dtype), str(ref.dtype)
        declared = (expected or {}).get(name, got)
        if got != want or declared != want:
            where = f"the manifest declares {declared}, the model gives {got}" if declared != got else f"gives {got}"
            out.append(f"{name}: dtype: {where}, PyTorch FP32 gives {want} (every precision keeps the model's "
                       "input/output dtypes; re-export the bundle with this edge-sdk)")
    return out
