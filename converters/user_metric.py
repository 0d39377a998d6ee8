"""A user's own accuracy metric for the parity gate, like NNCF's validation function.

``--metric file.py:function`` (Python: ``metric=callable`` or the same string) with ``--metric-budget B``
and ``--metric-mode higher|lower``. The function is called as ``function(outputs, labels) -> float``:

* ``outputs``: dict output name -> N x ... numpy array, in the model's output order (one entry per output,
  ``next(iter(outputs.values()))`` for a single-output model);
* ``labels``: the validation labels (``y`` of an ``.npz``, class indices of an ImageFolder directory), or
  None when the validation data has none.

It runs on the PyTorch FP32 outputs and on the converted model's, on the same samples. The gate passes when
the converted model's value is within ``B`` of PyTorch's: ``higher`` (accuracy, mAP, IoU; the default)
allows ``reference - candidate <= B``, ``lower`` (an error, a loss) ``candidate - reference <= B``. It
decides instead of the built-in metric (top-1, angular error, output SQNR; those are still reported per
output); non-finite outputs and output dtypes that differ from PyTorch's fail whatever it says.

The function is code, so it comes only from the user's command line: the manifest records its name,
``file.py:function`` text, budget and mode, and ``edge-sdk validate`` never imports it from there (pass
``--metric`` again).
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from edge_sdk.errors import EdgeSDKError

MODES = {"higher": "higher is better", "lower": "lower is better"}
MetricFn = Callable[[dict[str, np.ndarray], "np.ndarray | None"], float]


def _failed(what: str, e: BaseException) -> EdgeSDKError:
    if isinstance(e, SystemExit):
        return EdgeSDKError(f"{what} called sys.exit({e.code!r}); a metric must return a number")
    text = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
    return EdgeSDKError(f"{what} failed: {type(e).__name__}{': ' + text if text else ''}")


def load_metric(target: str) -> MetricFn:
    """The function ``name`` of ``file.py`` in ``file.py:name`` (imported: the user named it on their command line)."""
    path_text, sep, attr = target.rpartition(":")
    if not sep or not path_text or not attr:
        raise EdgeSDKError(f"--metric {target!r}: expected FILE.py:FUNCTION, e.g. metric.py:top1")
    path = Path(path_text)
    if not path.is_file():
        raise EdgeSDKError(f"--metric: file not found: {path}")
    mod = import_user_file(path, "_edge_sdk_metric_", _failed, what="--metric: ")
    fn = getattr(mod, attr, None)
    if not callable(fn):
        raise EdgeSDKError(f"--metric: {path} has no function {attr!r}")
    return fn  # type: ignore[no-any-return]


def import_user_file(path: Path, prefix: str, failed: Callable[[str, BaseException], Exception], *,
                     what: str = "") -> ModuleType:
    """Import the Python file ``path`` the user named on their command line (only the user's own command line
    names code to run; never a manifest or bundle) as a module ``prefix<hash of its path>``. Any exception, or
    ``sys.exit``, while it runs becomes ``failed("importing PATH", e)``."""
    name = f"{prefix}{hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise EdgeSDKError(f"{what}cannot import {path} as a Python module")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    try:
        spec.loader.exec_module(mod)
    except (Exception, SystemExit) as e:  # SyntaxError, RecursionError, sys.exit() at import, ...
        sys.modules.pop(name, None)
        raise failed(f"importing {path}", e) from None
    return mod


@dataclass(frozen=True)
class UserMetric:
    fn: MetricFn
    name: str
    source: str  # "metric.py:top1", or "a Python callable"
    budget: float  # the largest allowed drop (higher) / increase (lower) against PyTorch FP32
    mode: str  # higher | lower

    def value(self, outputs: Mapping[str, np.ndarray], labels: np.ndarray | None) -> float:
        """The metric on ``outputs``; a typed error naming the function if it fails or returns no finite number."""
        try:
            result = self.fn(dict(outputs), labels)
        except (Exception, SystemExit) as e:
            raise _failed(f"metric {self.name} ({self.source})", e) from None
        try:
            v = float(result)
        except (TypeError, ValueError):
            raise EdgeSDKError(f"metric {self.name} returned {type(result).__name__}, not a number") from None
        if not math.isfinite(v):
            raise EdgeSDKError(f"metric {self.name} returned {v}; it must return a finite number")
        return v

    def loss(self, delta: float) -> float:
        """How much worse a change of ``delta`` (candidate - reference) is; negative: better."""
        return -delta if self.mode == "higher" else delta

    def within(self, reference: float, candidate: float) -> bool:
        return self.loss(candidate - reference) <= self.budget + 1e-12

    @property
    def rule(self) -> str:
        change = "drop" if self.mode == "higher" else "increase"
        return f"{self.name} {change} <= {self.budget:g} ({MODES[self.mode]})"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "budget": self.budget, "mode": self.mode}


def resolve_metric(metric: str | MetricFn | None, budget: float | None,
                   mode: str | None = "higher") -> UserMetric | None:
    """The user's metric, checked before any work; None when none is given (the built-in metric judges)."""
    mode = mode or "higher"
    if metric is None:
        if budget is not None:
            raise EdgeSDKError("--metric-budget needs --metric FILE.py:FUNCTION (the metric it is a budget for)")
        return None
    if mode not in MODES:
        raise EdgeSDKError(f"metric mode {mode!r}: choose {' or '.join(MODES)} (which direction is better)")
    if budget is None:
        raise EdgeSDKError("--metric needs --metric-budget B: the largest drop of the metric against PyTorch FP32 that "
                           "still passes (e.g. 0.01 for one point of an accuracy in 0..1)")
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not math.isfinite(budget) or budget < 0:
        raise EdgeSDKError(f"--metric-budget must be a finite number >= 0, got {budget!r}")
    if isinstance(metric, str):
        return UserMetric(load_metric(metric), metric.rpartition(":")[2], metric, float(budget), mode)
    if not callable(metric):
        raise EdgeSDKError(f"metric must be a callable(outputs, labels) -> float or 'file.py:function', "
                           f"got {type(metric).__name__}")
    name = str(getattr(metric, "__name__", type(metric).__name__))
    return UserMetric(metric, name, "a Python callable", float(budget), mode)
