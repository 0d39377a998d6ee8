"""Plots (matplotlib, the optional ``plots`` extra): angular-error CDFs and benchmark bars.

Figures are written with the Agg back-end (no display needed), atomically.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from edge_sdk._io import atomic_path
from edge_sdk.errors import MissingDependencyError


def _pyplot():  # noqa: ANN202
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingDependencyError("matplotlib", "plots", "plotting") from None
    return plt


def cdf(errors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Empirical CDF: sorted errors and the fraction of scenes at or below each (ends at 1)."""
    x = np.sort(np.asarray(errors, np.float64).ravel())
    return x, np.arange(1, len(x) + 1) / max(len(x), 1)


def plot_error_cdf(errors: Mapping[str, np.ndarray], out: str | Path, title: str = "") -> Path:
    """One CDF curve per method, angular error in degrees on x."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    for name, e in sorted(errors.items(), key=lambda kv: float(np.mean(kv[1]))):
        x, f = cdf(e)
        ax.step(x, f, where="post", lw=2.2 if name == "emlp" else 1.2,
                label=f"{name} (mean {np.mean(e):.2f}°)")
    ax.set(xlabel="angular error (degrees)", ylabel="fraction of scenes", ylim=(0, 1.01),
           title=title or "Illuminant estimation: angular-error CDF")
    ax.set_xlim(0, float(np.percentile(np.concatenate(list(errors.values())), 98)))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, out)


def plot_latency_bars(rows: list[dict[str, object]], out: str | Path, title: str = "") -> Path:
    """Median latency per (model, backend, precision); ``rows`` have label, median_ms, p90_ms."""
    plt = _pyplot()
    labels = [str(r["label"]) for r in rows]
    med = np.array([float(r["median_ms"]) for r in rows])  # type: ignore[arg-type]
    p90 = np.array([float(r.get("p90_ms", r["median_ms"])) for r in rows])  # type: ignore[arg-type]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(rows) + 1.5), dpi=100)
    ax.barh(labels, med, xerr=[np.zeros_like(med), p90 - med], color="tab:blue", alpha=0.8)
    ax.set(xlabel="latency per call (ms, median; whisker to p90)", title=title or "Warm latency")
    ax.invert_yaxis()
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, out)


def _save(fig, out: str | Path) -> Path:  # noqa: ANN001
    out = Path(out)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png")
    fig.clear()
    _pyplot().close(fig)
    return out
