"""Parity at a second input size, for models exported with symbolic dims besides the batch.

A fully convolutional model exported with symbolic height and width (``--input-shape 1x3xHxW`` or
``--dynamic-axes 2,3``) is validated at its example size by the usual parity check, and here again at
:func:`converters.input_shapes.second_shape` (each symbolic dim twice its example size): the validation
samples resized there (bilinear; real data stays real), at most :data:`MAX_SAMPLES` of them, ONNX
Runtime against PyTorch, judged on output SQNR with the precision's budget. A model that silently
fixed a dim at export fails here, not on the device. Both sizes are recorded in the manifest
(``extra["parity_at_sizes"]``); a failure at the second size joins the report's failures.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from converters.eval_set import EvalSet
from converters.input_shapes import second_shape
from converters.parity import ParityReport, sqnr_db
from converters.sources import ModelSource
from runtimes.precisions import BUDGETS

MAX_SAMPLES = 16


def resized_samples(x: np.ndarray, sample: tuple[int, ...]) -> np.ndarray:
    """``x`` (N x one sample) brought to ``sample``: spatial dims (axis 2 on) interpolated, the rest as is."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    t = torch.from_numpy(np.ascontiguousarray(x, np.float32))
    if tuple(t.shape[1:2]) != tuple(sample[:1]) or not 3 <= t.dim() <= 5:
        raise ValueError(f"cannot resize samples {list(x.shape)} to {list(sample)}")
    mode = {3: "linear", 4: "bilinear", 5: "trilinear"}[t.dim()]
    out = F.interpolate(t, size=tuple(sample[1:]), mode=mode, align_corners=False)
    return np.ascontiguousarray(out.numpy(), np.float32)


def _samples_at(src: ModelSource, evalset: EvalSet, sample: tuple[int, ...]) -> tuple[np.ndarray, str]:
    x = evalset.x[:MAX_SAMPLES]
    if 1 not in src.dynamic_axes and len(x) and x.ndim >= 3:  # only spatial dims are symbolic: resize real data
        return resized_samples(x, sample), f"{evalset.name}, resized"
    rng = np.random.default_rng(0)
    return rng.standard_normal((MAX_SAMPLES, *sample)).astype(np.float32), "random-normal(seed=0)"


def parity_at_second_size(
    src: ModelSource, artifact: Path, precision: str, evalset: EvalSet, report: ParityReport,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Check ``artifact`` against ``src.module`` at a second size; record a failure in ``report``. Returns both
    sizes' records for the manifest."""
    from converters.validate import run_onnx, run_torch

    limit = float(BUDGETS["sqnr"][precision])
    sample = second_shape(tuple(src.input_shape), src.dynamic_axes)
    x, data = _samples_at(src, evalset, sample)
    log(f"validating at a second input size, 1x{'x'.join(map(str, sample))} ({len(x)} samples of {data})")
    cand = run_onnx(artifact, x)
    ref = run_torch(src.module, x, list(cand))
    sqnr = {name: round(sqnr_db(ref[name], np.asarray(cand[name], np.float64)), 3) for name in ref}
    passed = all(v >= limit for v in sqnr.values()) and all(np.isfinite(c).all() for c in cand.values())
    shape_text = "x".join(map(str, (1, *sample)))
    for name, value in sqnr.items():
        if value < limit:
            report.failures.append(f"{name} at input {shape_text}: output SQNR {value:.4g} dB < {limit:g} dB")
    if not passed:
        report.passed = False
        if not any(shape_text in f for f in report.failures):
            report.failures.append(f"at input {shape_text}: non-finite outputs")
    first = {"input_shape": [1, *src.input_shape], "samples": report.samples, "data": report.dataset,
             "sqnr_db": {k: round(v.get("sqnr_db", 0.0), 3) for k, v in report.outputs.items()}}
    second = {"input_shape": [1, *sample], "samples": len(x), "data": data, "sqnr_db": sqnr,
              "budget": f"output SQNR >= {limit:g} dB", "passed": passed}
    log(f"at 1x{'x'.join(map(str, sample))}: output SQNR {min(sqnr.values()):.1f} dB "
        f"({'PASS' if passed else 'FAIL'}, budget >= {limit:g} dB)")
    return [first, second]
