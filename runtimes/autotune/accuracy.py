"""The accuracy gate: a probe winner from a backend other than the one the bundle's parity report was
measured with (OpenVINO) must show its outputs stay within the precision's budget before it is chosen."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from runtimes.errors import EdgeSDKError
from runtimes.session import Session

REFERENCE_BACKENDS = ("onnxruntime", "numpy")  # compute what the bundle's parity report measured; others are checked


def _accuracy_problem(session: Session, reference: Session, call: Callable[[], Any],
                      ref_call: Callable[[], Any]) -> str | None:
    """Why a candidate's outputs are not good enough to run this bundle, or None.

    The bundle's parity report was measured with ONNX Runtime, so another backend (OpenVINO: its INT8
    kernels round and saturate in their own way) must show it stays within the precision's budget: on the
    bundle's golden samples where it has them (the device self-check, :mod:`runtimes.selfcheck`), else as
    the SQNR of its output against ONNX Runtime's on the probe input, at least the precision's SQNR budget.
    """
    from runtimes.golden import NoGoldenSamplesError

    if session.manifest is not None and session.manifest.golden is not None:
        from runtimes.selfcheck import check

        try:
            report = check(session)
        except NoGoldenSamplesError:
            pass
        except EdgeSDKError as e:
            return f"its golden-sample check could not run: {str(e)[:160]}"
        else:
            return None if report.passed else "outside the accuracy budget on the bundle's golden samples: " + \
                "; ".join(report.failures)[:200]
    from runtimes.precisions import TABLE

    budget = TABLE[session.manifest.precision].sqnr_db if session.manifest is not None and \
        session.manifest.precision in TABLE else min(p.sqnr_db for p in TABLE.values())
    got, want = (np.asarray(v, np.float64) for v in (call(), ref_call()))
    noise = float(np.sum((got - want) ** 2)) if got.shape == want.shape else math.inf
    sqnr = 10 * math.log10(max(float(np.sum(want ** 2)), 1e-30) / max(noise, 1e-30))
    if sqnr < budget:
        return (f"output SQNR {sqnr:.1f} dB against {reference.backend} on the probe input, under the {budget:g} dB "
                "budget")
    return None


