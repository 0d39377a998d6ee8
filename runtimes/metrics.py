"""Accuracy math, torch-free: the task metrics and output-fidelity figures that export's parity
(:mod:`converters.parity`, candidate vs PyTorch FP32) and the device self-check
(:mod:`runtimes.selfcheck`, this device vs the stored references) both judge against the budgets of the
one precision table (:mod:`runtimes.precisions`).

One row per task in :data:`METRICS`; a model without labels (or of another task) is judged on output
SQNR (:data:`SQNR`): SQNR = 10·log10(Σ reference² / Σ (candidate − reference)²) over every output, the
worst output counting.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from runtimes.precisions import BUDGETS

EXACT_SQNR_DB = 200.0  # what sqnr_db reports for an exact match (and the reference against itself)


def angular_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-row angle in degrees between two N x 3 arrays of RGB vectors (illuminants)."""
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    out: np.ndarray = np.degrees(np.arccos(np.clip((a * b).sum(1), -1.0, 1.0)))
    return out


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Mean per-sample cosine similarity of two N x ... arrays (1 where both are zero)."""
    a, b = a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64)
    num = (a * b).sum(1)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return float(np.mean(np.where(den > 0, num / np.maximum(den, 1e-300), 1.0)))


def sqnr_db(ref: np.ndarray, cand: np.ndarray) -> float:
    """Signal-to-quantization-noise ratio in dB (capped at 200 dB for exact matches)."""
    signal = float(np.sum(ref.astype(np.float64) ** 2))
    noise = float(np.sum((cand.astype(np.float64) - ref.astype(np.float64)) ** 2))
    if noise <= signal * 1e-20:
        return EXACT_SQNR_DB
    return float(10.0 * np.log10(max(signal, 1e-300) / noise))


def output_stats(ref: np.ndarray, cand: np.ndarray) -> dict[str, float]:
    """How far ``cand`` is from ``ref`` (one output): max/mean abs error, cosine, SQNR, and for N x K
    outputs (K > 1) the share of samples whose argmax agrees."""
    diff = np.abs(cand.astype(np.float64) - ref.astype(np.float64))
    stats = {"max_abs": float(diff.max(initial=0.0)), "mean_abs": float(diff.mean()) if diff.size else 0.0,
             "cosine": cosine(ref, cand), "sqnr_db": sqnr_db(ref, cand)}
    if ref.ndim == 2 and ref.shape[1] > 1:
        stats["argmax_agreement"] = float(np.mean(ref.argmax(1) == cand.argmax(1)))
    return stats


def top1_percent(outputs: np.ndarray, labels: np.ndarray) -> float:
    return 100.0 * float(np.mean(outputs.argmax(1) == labels))


def mean_angular_error(outputs: np.ndarray, labels: np.ndarray) -> float:
    return float(angular_deg(outputs, labels).mean())


@dataclass(frozen=True)
class TaskMetric:
    """How a task is judged: the metric, its unit, which budget column of the precision table applies, and
    whether higher is better. ``score(first output, labels)``; None: output SQNR against the reference."""

    name: str
    unit: str
    budgets: str  # key of runtimes.precisions.BUDGETS
    rule: str  # the budget in words, formatted with the limit
    higher_is_better: bool
    score: Callable[[np.ndarray, np.ndarray], float] | None = None

    def limit(self, precision: str) -> float:
        return BUDGETS[self.budgets][precision]

    def value(self, outputs: Mapping[str, np.ndarray], reference: Mapping[str, np.ndarray],
              labels: np.ndarray | None) -> float:
        """The metric of ``outputs``: the task score of the first output (in ``reference``'s order) against
        ``labels``, or for SQNR the worst output's SQNR against ``reference``."""
        if self.score is None:
            return min(sqnr_db(ref, outputs[name]) for name, ref in reference.items())
        if labels is None:
            raise ValueError(f"{self.name} needs labels")
        return self.score(outputs[next(iter(reference))], labels)

    def loss(self, delta: float) -> float:
        """How much worse a change of ``delta`` (candidate − reference) is; negative: better."""
        return -delta if self.higher_is_better else delta

    def within(self, reference: float, candidate: float, limit: float, tolerance: float = 0.0) -> bool:
        """Whether ``candidate`` keeps the budget ``limit`` (plus ``tolerance``) against ``reference``.
        SQNR is absolute: the candidate's SQNR must reach the limit."""
        if self.score is None:
            return candidate >= limit - tolerance
        return self.loss(candidate - reference) <= limit + tolerance + 1e-9

    def describe(self, limit: float) -> str:
        return self.rule.format(limit=limit)


METRICS: dict[str, TaskMetric] = {
    "classification": TaskMetric("top1", "pp", "classification", "top-1 drop <= {limit} pp", True,
                                 top1_percent),
    "illuminant-estimation": TaskMetric("mean_angular_error", "deg", "illuminant-estimation",
                                        "mean angular error increase <= {limit} deg", False, mean_angular_error),
}
SQNR = TaskMetric("output_sqnr", "dB", "sqnr", "output SQNR >= {limit} dB", True)


def metric_for(task: str, has_labels: bool) -> TaskMetric:
    """The metric a model of ``task`` is judged on: the task's own with labels, else output SQNR."""
    return METRICS.get(task, SQNR) if has_labels else SQNR


def nonfinite_outputs(outputs: Mapping[str, Any]) -> list[str]:
    """Names of the outputs holding NaN or Inf."""
    return [name for name, a in outputs.items() if not np.isfinite(np.asarray(a, np.float64)).all()]
