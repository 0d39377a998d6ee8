"""The held-out rule: a model from outside the zoo given calibration data but no validation data is validated
on a fixed part of it, held out from calibration (:func:`held_out`: every 5th sample, or the last of 2-4);
the record says which samples (indices, and file names for images) so ``edge-sdk validate`` can read them
again."""

from __future__ import annotations

from typing import Any

import numpy as np

from converters.eval_set import EvalSet, _from_samples
from converters.user_data import Samples

HOLDOUT_EVERY = 5  # every 5th calibration sample validates when no validation data is given


def held_out(n: int) -> list[int]:
    """Which of ``n`` calibration samples are held out to validate: every 5th (indices 4, 9, 14, ...), the last
    one of 2-4 samples, none of 1 (that sample then validates as well as calibrates, and the record says so)."""
    return list(range(HOLDOUT_EVERY - 1, n, HOLDOUT_EVERY)) if n >= HOLDOUT_EVERY else [n - 1] if n >= 2 else []


def split_calibration(s: Samples, where: str | None, count: int | None) -> tuple[EvalSet, np.ndarray]:
    """The validation part and the calibration part of calibration samples ``s`` (:func:`held_out`)."""
    n = len(s.x)
    val = held_out(n)
    keep = [i for i in range(n) if i not in set(val)] if val else list(range(n))
    val = val or [0]
    record: dict[str, Any] = {"source": "calibration", "path": where, **({"count": count} if count else {}),
                              "held_out": {"rule": f"every {HOLDOUT_EVERY}th sample (indices 4, 9, ...); the last "
                                                   "one of 2-4 samples", "of": n, "indices": val,
                                           "calibrated_on_too": len(keep) == n}}
    if s.files is not None:
        record["held_out"]["files"] = [s.files[i] for i in val]
    part = Samples(s.x[val], s.y[val] if s.y is not None else None, s.format, None, s.classes)
    shown = where or "the calibration array"
    evalset = _from_samples(part, f"{shown} (held-out calibration samples: {len(val)} of {n})", record)
    evalset.note = (f"no validation data given: validating on {len(val)} of the {n} calibration samples, held out "
                    f"from calibration (every {HOLDOUT_EVERY}th; manifest extra.validation lists them; --val-data "
                    "gives separate data)" if len(keep) < n else
                    f"no validation data given and only {n} calibration sample: it validates as well as calibrates "
                    "(give --val-data, or more --calib samples)")
    return evalset, s.x[keep]
