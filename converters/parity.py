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
> 50 dB, FP32 reordering > 100 dB.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from converters.data import EvalSet
from runtimes.precisions import BUDGETS


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
        m = self.metric
        verdict = "PASS" if self.passed else ("OVERRIDDEN" if self.override else "FAIL")
        unit = f" {m['unit']}" if m["unit"] else ""
        return (f"{self.model} {self.precision}: {m['name']} {m['reference']:.6g} -> {m['candidate']:.6g} "
                f"(Δ {m['delta']:+.3g}{unit}; budget: {self.budget['rule']}) {verdict}")


def _angular_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return np.degrees(np.arccos(np.clip((a * b).sum(1), -1.0, 1.0)))


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64)
    num = (a * b).sum(1)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return float(np.mean(np.where(den > 0, num / np.maximum(den, 1e-300), 1.0)))


def sqnr_db(ref: np.ndarray, cand: np.ndarray) -> float:
    """Signal-to-quantization-noise ratio in dB (capped at 200 dB for exact matches)."""
    signal = float(np.sum(ref.astype(np.float64) ** 2))
    noise = float(np.sum((cand.astype(np.float64) - ref.astype(np.float64)) ** 2))
    if noise <= signal * 1e-20:
        return 200.0
    return float(10.0 * np.log10(max(signal, 1e-300) / noise))


def compare(
    model: str,
    precision: str,
    task: str,
    data: EvalSet,
    reference: dict[str, np.ndarray],
    candidate: dict[str, np.ndarray],
) -> ParityReport:
    """Build the report: per-output errors, the task metric and its budget."""
    outputs: dict[str, dict[str, float]] = {}
    for name, ref in reference.items():
        cand = candidate[name].astype(np.float64)
        diff = np.abs(cand - ref.astype(np.float64))
        stats = {"max_abs": float(diff.max(initial=0.0)), "mean_abs": float(diff.mean()) if diff.size else 0.0,
                 "cosine": _cosine(ref, cand), "sqnr_db": sqnr_db(ref, cand)}
        if ref.ndim == 2 and ref.shape[1] > 1:
            stats["argmax_agreement"] = float(np.mean(ref.argmax(1) == cand.argmax(1)))
        outputs[name] = stats
    first = next(iter(reference))
    ref, cand = reference[first], candidate[first]
    if task == "classification" and data.y is not None:
        r, c = float(np.mean(ref.argmax(1) == data.y)), float(np.mean(cand.argmax(1) == data.y))
        metric: dict[str, Any] = {"name": "top1", "unit": "pp", "reference": 100 * r, "candidate": 100 * c,
                  "delta": 100 * (c - r)}
        limit = BUDGETS["classification"][precision]
        passed = -metric["delta"] <= limit + 1e-9
        rule = f"top-1 drop <= {limit} pp"
    elif task == "illuminant-estimation" and data.y is not None:
        r, c = float(_angular_deg(ref, data.y).mean()), float(_angular_deg(cand, data.y).mean())
        metric = {"name": "mean_angular_error", "unit": "deg", "reference": r, "candidate": c, "delta": c - r}
        limit = BUDGETS["illuminant-estimation"][precision]
        passed = metric["delta"] <= limit + 1e-12
        rule = f"mean angular error increase <= {limit} deg"
    else:
        worst = min(s["sqnr_db"] for s in outputs.values())
        metric = {"name": "output_sqnr", "unit": "dB", "reference": 200.0, "candidate": worst, "delta": worst - 200.0}
        limit = BUDGETS["sqnr"][precision]
        passed = worst >= limit
        rule = f"output SQNR >= {limit} dB"
    failures = [] if passed else [f"{first}: {metric['name']} {metric['candidate']:.4g} vs reference "
                                  f"{metric['reference']:.4g} breaks the budget ({rule})"]
    for name, stats in outputs.items():
        if not np.isfinite(list(stats.values())).all():
            failures.append(f"{name}: non-finite outputs")
    return ParityReport(
        model=model, precision=precision, dataset=data.name, samples=int(len(data.x)), outputs=outputs,
        metric=metric, budget={"rule": rule, "limit": limit}, passed=not failures, failures=failures,
    )
