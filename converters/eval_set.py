"""The samples a parity check runs on (:class:`EvalSet`): inputs, labels or targets when known, where they
came from (the manifest's ``extra.validation`` record, with the samples' sha256) and an optional user
metric."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from converters.user_data import Samples


@dataclass
class EvalSet:
    x: np.ndarray
    y: np.ndarray | None  # labels (classification) or true illuminants (emlp); None: compare outputs only
    name: str
    record: dict[str, Any] = field(default_factory=dict)  # manifest extra.validation: where x came from
    metric: Any = None  # a converters.user_metric.UserMetric that judges the gate instead of the built-in metric
    note: str = ""  # one line to tell the user when the set was chosen for them (held out from calibration)


def _digest(x: np.ndarray, y: np.ndarray | None) -> str:
    h = hashlib.sha256(np.ascontiguousarray(x, np.float32).tobytes())
    if y is not None:
        h.update(np.ascontiguousarray(y).tobytes())
    return h.hexdigest()


def _from_samples(s: Samples, name: str, record: dict[str, Any]) -> EvalSet:
    record.update(format=s.format, samples=int(len(s.x)), labels=s.y is not None, sha256=_digest(s.x, s.y))
    if s.classes is not None:
        record["classes"] = s.classes
    return EvalSet(s.x, s.y, name, record)
