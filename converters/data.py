"""Calibration and validation samples for a model source.

Which data export calibrates and validates on, from three places:

* the zoo model's own data (:mod:`converters.zoo_data`): digits-28, the synthetic dual-exposure scenes,
  scikit-image's photographs;
* a user's data (:mod:`converters.user_data`, ``--calib`` / ``--val-data``, Python ``calibration=`` /
  ``data=``): an ``.npy``, an ``.npz``, an ImageFolder directory or images, read with bounds;
* seeded random inputs (:func:`random_set`), the last resort (below).

**Honest validation.** A model from outside the zoo that is given calibration data but no
validation data is validated on a fixed part of the calibration data held out from calibration
(:func:`converters.held_out.held_out`: every 5th sample, or the last of 2-4); the manifest's
``extra.validation`` records which samples (indices, and file names for images) so ``edge-sdk validate``
can read them again (:func:`recorded_validation_set`).
Seeded random inputs are used only when no data at all is given, with a
:class:`NoValidationDataWarning` that names ``--val-data``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from converters.eval_set import EvalSet, _from_samples
from converters.held_out import split_calibration
from converters.sources import ModelSource
from converters.user_data import _given, load_samples, read_data
from converters.zoo_data import _CALIBRATION, _default_kind, zoo_test_set
from edge_sdk.errors import EdgeSDKError

MAX_RECORDED_SAMPLES = 1 << 20  # a manifest asking to read more samples than this is refused
RANDOM_SAMPLES = 64


class ValidationDataWarning(UserWarning):
    """About the data a validation runs on: the data a manifest records is gone or changed, a metric not re-run."""


class NoValidationDataWarning(UserWarning):
    """A model is validated on seeded random inputs because no data was given: the message says how to give it."""


def calibration_samples(src: ModelSource, path: Path | None = None, count: int | None = None) -> np.ndarray:
    """Samples for INT8 calibration (training data, never the validation split)."""
    if path is not None:
        return load_samples(path, src, count)
    kind = _default_kind(src)
    if kind is None:
        raise EdgeSDKError(
            f"{src.name}: no default calibration data for a model outside the zoo; pass --calib DIR_OR_NPY"
        )
    return _CALIBRATION[kind](src, count or 256)


def random_set(src: ModelSource, count: int | None = None) -> EvalSet:
    """Seeded standard-normal inputs, with a warning: says nothing about a trained model's accuracy."""
    n = count or RANDOM_SAMPLES
    warnings.warn(f"{src.name}: no validation data, so parity is checked on {n} seeded random-normal inputs, which "
                  "says little about a trained model; pass real samples with --val-data DIR_OR_NPZ (or --data; "
                  "Python: data=...), or calibration data with --calib (a part is then held out to validate)",
                  NoValidationDataWarning, stacklevel=3)
    x = np.random.default_rng(0).standard_normal((n, *src.input_shape)).astype(np.float32)
    return EvalSet(x, None, "random-normal(seed=0)", {"source": "random", "samples": n})


def validation_set(src: ModelSource, path: Any = None, count: int | None = None) -> EvalSet:
    """Held-out samples (with labels or true illuminants when the data has them) for parity checks: ``path``
    (a user path, array or ``(x, y)``), else the zoo model's test data, else seeded random inputs (warned)."""
    if path is not None:
        s, where = _given(path, src, count, "validation data")
        return _from_samples(s, where or f"an array ({len(s.x)} samples)",
                             {"source": "val-data", "path": where, **({"count": count} if count else {})})
    kind = _default_kind(src)
    return random_set(src, count) if kind is None else zoo_test_set(kind, src.preprocessing, count)


def export_data(src: ModelSource, *, calibration: Any = None, calib_count: int | None = None,
                data: Any = None) -> tuple[EvalSet, Callable[[], np.ndarray]]:
    """What export validates on, and a loader of its calibration samples (read once, on first call).

    ``data`` (a path, an array or ``(x, y)``) validates when given; else the zoo model's test data; else,
    for a model from outside the zoo given ``calibration``, a held-out part of it (:func:`split_calibration`);
    random inputs (warned) only when nothing was given."""
    loaded: list[np.ndarray] = []

    def calib() -> np.ndarray:
        if not loaded:
            if calibration is None:
                loaded.append(calibration_samples(src, None, calib_count))
            else:
                loaded.append(_given(calibration, src, calib_count, "calibration data")[0].x)
        return loaded[0]

    if data is not None or calibration is None or _default_kind(src) is not None:
        return validation_set(src, data), calib
    evalset, rest = split_calibration(*_given(calibration, src, calib_count, "calibration data"), calib_count)
    loaded.append(rest)
    return evalset, calib


def recorded_validation_set(record: Any, input_shape: Sequence[int | str], preprocessing: dict[str, Any],
                            labels: Sequence[str] = (), what: str = "the model") -> tuple[EvalSet | None, str]:
    """The validation data a manifest records (``extra.validation``), read again when its path is reachable here;
    else ``(None, why)``. Reading data is all a manifest can make this do: never code, never unbounded."""
    if not isinstance(record, dict) or record.get("source") not in ("calibration", "val-data"):
        return None, ""
    path, count, total = record.get("path"), record.get("count"), record.get("samples")
    if not isinstance(path, str) or not path or len(path) > 4096 or "\0" in path or not os.path.isabs(path):
        return None, "the bundle's validation data was an array, which the manifest cannot point to"
    for value in (count, total):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                  or not 0 < value <= MAX_RECORDED_SAMPLES):
            return None, f"the manifest's extra.validation holds a bad sample count {str(value)[:40]!r}"
    if not os.path.exists(path):
        return None, f"the validation data the bundle records ({path[:200]}) is not on this machine"
    s = read_data(path, input_shape, preprocessing, labels, count, what)
    if record["source"] == "calibration":
        evalset, _ = split_calibration(s, path, count)
    else:
        evalset = _from_samples(s, path, {"source": "val-data", "path": path, **({"count": count} if count else {})})
    evalset.name += " (recorded at export)"
    if record.get("sha256") != evalset.record["sha256"]:
        evalset.note = (f"the data at {path[:200]} changed since the export (its sha256 differs); validating on it "
                        "as it is")
    return evalset, ""
