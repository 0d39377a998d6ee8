"""The device self-check: run a bundle's golden samples (:mod:`runtimes.golden`) through the runtime on
this machine and judge the result with the export's metric and budget. Torch-free.

``check(bundle_or_session)`` returns a :class:`CheckReport` (``passed``, JSON-able); ``edge-sdk check``
prints it and exits 1 when the budget is broken. :func:`engine_check` is the hook for ``edge-sdk build``:
it checks a freshly built TensorRT engine and returns the JSON the build records in the manifest.

The rule (:data:`RULE`, also in ``edge-sdk check --help``). The golden file stores, for N held-out
samples, the PyTorch FP32 outputs and this artifact's outputs on the export host. The export measured
the artifact against FP32 on the whole validation set (Δ_export, in the manifest's parity report).
A few dozen samples cannot re-measure that: with 48 samples one changed prediction moves top-1 by
2.1 pp, four times the INT8 budget. So the device is judged on its *drift* from the export host on the
same samples, added to what the export measured on all of them:

    Δ_device = Δ_export + (metric on this device − metric on the export host), on the golden samples

* classification: top-1 drop (Δ_device, pp) within the precision's budget plus one golden sample
  (100/N pp): a single changed prediction is within what N samples can resolve; two are not;
* illuminant estimation: mean angular error increase (deg) within the budget;
* otherwise: the worst output's SQNR against the FP32 reference, on the golden samples, at least the
  budget (dB), as at export.

A device that computes what the export host computed passes exactly when the export passed. Agreement
with both references (per output SQNR, max abs error, argmax agreement) is reported beside it.
"""

from __future__ import annotations

import math
import os
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from runtimes.errors import ManifestError
from runtimes.golden import Golden, GoldenError, read_golden
from runtimes.loader import load
from runtimes.manifest import Manifest, read_manifest
from runtimes.metrics import SQNR, TaskMetric, metric_for, nonfinite_outputs, output_stats, sqnr_db
from runtimes.recovery import recover_bundle
from runtimes.session import Session

RULE = ("the device passes when the export's metric change against PyTorch FP32 (whole validation set) plus "
        "this device's drift from the export host (on the golden samples) stays within the precision's budget; "
        "top-1 may also move by one golden sample (100/N pp); without labels the worst output's SQNR against "
        "FP32 on the golden samples must reach the budget")


@dataclass
class CheckReport:
    bundle: str
    model: str
    precision: str
    backend: str
    machine: str
    samples: int
    dataset: str
    metric: dict[str, Any]  # name, unit, reference/host/device values, drift, export_delta, delta (judged)
    budget: dict[str, Any]  # rule, limit, tolerance
    outputs: dict[str, dict[str, dict[str, float]]]  # output -> {"vs_reference": stats, "vs_host": stats}
    passed: bool
    failures: list[str] = field(default_factory=list)
    rule: str = RULE

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        m, unit = self.metric, f" {self.metric['unit']}"
        tol = f" + one sample, {self.budget['tolerance']:.3g}{unit}" if self.budget["tolerance"] else ""
        if m["name"] == SQNR.name:  # PyTorch against itself has no SQNR: the figures are the candidates' own
            figures = (f"{m['name']} against FP32: export host {m['host']:.4g}{unit}, this device "
                       f"{m['device']:.4g}{unit}, worst output")
        else:
            figures = (f"{m['name']} FP32 {m['reference']:.4g}, export host {m['host']:.4g}, this device "
                       f"{m['device']:.4g} (drift {m['drift']:+.3g}{unit}; Δ {m['delta']:+.3g}{unit})")
        return (f"{self.model} {self.precision} on {self.backend} ({self.machine}), {self.samples} golden samples: "
                f"{figures}; budget: {self.budget['rule']}{tol} {'PASS' if self.passed else 'FAIL'}")


def run_samples(session: Session, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every output of ``session`` on ``x``, one sample at a time (as a camera pipeline runs them, and within
    any engine's batch range), as float32, by output name."""
    name = session.inputs[0].name
    outs: dict[str, list[np.ndarray]] = {}
    for i in range(len(x)):
        for k, v in session.run({name: np.ascontiguousarray(x[i : i + 1])}).items():
            outs.setdefault(k, []).append(np.asarray(v, np.float32))
    return {k: np.concatenate(v) for k, v in outs.items()}


def check(target: str | os.PathLike[str] | Session, *, backend: str = "auto", **options: Any) -> CheckReport:
    """Run the bundle's golden samples on this machine and judge them (module docstring).

    ``target``: a bundle directory (loaded with ``backend`` and ``options``, as :func:`runtimes.load` takes
    them, and closed afterwards) or a session loaded from a bundle. Raises :class:`NoGoldenSamplesError`
    for a bundle without golden samples and :class:`GoldenError` for changed or malformed ones.
    """
    if isinstance(target, Session):
        if target.manifest is None:
            raise ManifestError("check needs a bundle (its manifest and golden samples): load a bundle directory, "
                                "not a bare model file")
        bundle = target.artifact.parent
        return _check(bundle, target.manifest, read_golden(bundle, target.manifest), target)
    bundle = Path(target)
    recover_bundle(bundle)
    manifest = read_manifest(bundle)
    golden = read_golden(bundle, manifest)  # before loading a backend: a bundle without samples fails fast
    with load(bundle, backend=backend, **options) as session:
        return _check(bundle, manifest, golden, session)


def engine_check(bundle: str | os.PathLike[str], engine: str | os.PathLike[str] | None = None,
                 **options: Any) -> dict[str, Any]:
    """For ``edge-sdk build``: check the TensorRT engine just built against the bundle's golden samples.

    ``engine``: the plan file (loaded as a bare engine, so the manifest need not list it yet); None loads the
    bundle with the tensorrt backend. Returns JSON for the engine's manifest entry (e.g. ``entry["check"]``):
    :meth:`CheckReport.to_json` (``passed`` true or false), or ``{"passed": None, "error": ...}`` when the
    bundle has no usable golden samples. Never raises for a broken budget; the caller decides.
    """
    bundle = Path(bundle)
    manifest = read_manifest(bundle)
    try:
        golden = read_golden(bundle, manifest)
    except GoldenError as e:
        return {"passed": None, "error": str(e), "error_type": type(e).__name__}
    if engine is None:
        with load(bundle, backend="tensorrt", **options) as session:
            return _check(bundle, manifest, golden, session).to_json()
    with load(engine, backend="tensorrt", **options) as session:
        return _check(bundle, manifest, golden, session).to_json()


def _check(bundle: Path, manifest: Manifest, golden: Golden, session: Session) -> CheckReport:
    names = [o.name for o in manifest.outputs]
    if len(session.inputs) != 1 or session.inputs[0].dtype != "float32":
        raise GoldenError(f"golden samples feed one float32 input; this model takes "
                          f"{[(t.name, t.dtype) for t in session.inputs]}")
    device = run_samples(session, golden.inputs)
    missing = [n for n in names if n not in device]
    if missing:
        raise GoldenError(f"the model on this device has no output {missing[0]!r} that the golden samples hold; "
                          "re-export the bundle")
    device = {n: device[n] for n in names}
    tm = metric_for(manifest.task, golden.labels is not None)
    n = golden.samples
    limit = tm.limit(manifest.precision)
    first = manifest.task_output if manifest.task_output in names else names[0]  # the output the task reads
    judged = golden.reference if tm is SQNR else {first: golden.reference[first]}
    values = {k: tm.value(outs, judged, golden.labels)
              for k, outs in (("reference", golden.reference), ("host", golden.host), ("device", device))}
    drift = values["device"] - values["host"]
    if tm is SQNR:
        export_delta = values["host"] - values["reference"]
        delta, tolerance = values["device"] - values["reference"], 0.0
        passed = tm.within(values["reference"], values["device"], limit)
    else:
        export_delta = _export_delta(manifest, tm, values["host"] - values["reference"])
        delta = export_delta + drift
        tolerance = 100.0 / n if tm.name == "top1" else 0.0
        passed = tm.within(0.0, delta, limit, tolerance)
    rule = tm.describe(limit)
    outputs = {name: {"vs_reference": output_stats(golden.reference[name], device[name]),
                      "vs_host": output_stats(golden.host[name], device[name])} for name in names}
    kept = " (the bundle already broke it at export and was kept with --allow-accuracy-loss)" \
        if manifest.accuracy_override else ""
    failures = [] if passed else [
        f"{name}: output SQNR {s['vs_reference']['sqnr_db']:.4g} dB against PyTorch FP32 on {n} golden samples "
        f"(export host: {sqnr_db(golden.reference[name], golden.host[name]):.4g} dB) breaks the budget ({rule}){kept}"
        for name, s in outputs.items() if s["vs_reference"]["sqnr_db"] < limit
    ] if tm is SQNR else [_failure(tm, first, values, drift, export_delta, delta, rule, tolerance, n) + kept]
    failures += [f"{name}: non-finite outputs on this device" for name in nonfinite_outputs(device)]
    return CheckReport(
        bundle=str(bundle), model=manifest.model, precision=manifest.precision, backend=_backend(session),
        machine=f"{platform.system()} {platform.machine()}", samples=n,
        dataset=str(golden.info.get("dataset", ""))[:200],
        metric={"name": tm.name, "unit": tm.unit, **values, "drift": drift, "export_delta": export_delta,
                "delta": delta},
        budget={"rule": rule, "limit": limit, "tolerance": tolerance}, outputs=outputs,
        passed=not failures, failures=failures,
    )


def _export_delta(manifest: Manifest, tm: TaskMetric, fallback: float) -> float:
    """Δ_export from the manifest's parity report (whole validation set); the golden samples' own host Δ
    when the manifest records none for this metric (e.g. the export was judged by a user's metric, which is
    code, so the device never runs it: the built-in metric judges here)."""
    metric = (manifest.parity or {}).get("metric")
    delta = metric.get("delta") if isinstance(metric, dict) and metric.get("name") == tm.name else None
    if isinstance(delta, (int, float)) and not isinstance(delta, bool) and math.isfinite(delta):
        return float(delta)
    return fallback


def _failure(tm: TaskMetric, output: str, values: dict[str, float], drift: float, export_delta: float,
             delta: float, rule: str, tolerance: float, n: int) -> str:
    u = f" {tm.unit}"
    tol = f" + one of {n} samples, {tolerance:.3g}{u}" if tolerance else ""
    return (f"{output}: {tm.name} {values['device']:.4g} on this device vs {values['host']:.4g} on the export "
            f"host ({n} golden samples): Δ {delta:+.3g}{u} against PyTorch FP32 (export {export_delta:+.3g}{u}, "
            f"this device's drift {drift:+.3g}{u}) breaks the budget ({rule}{tol})")


def _backend(session: Session) -> str:
    providers = getattr(session, "providers", None)
    if isinstance(providers, list) and providers:
        return f"{session.backend} ({providers[0]})"
    return session.backend
