"""Run the candidate ONNX (ONNX Runtime, CPU) and the PyTorch reference on the same samples.

Outputs keep the dtypes the models give (no cast), so that parity sees an FP16 model that returns
float16 where it promises FP32 I/O. Both run in batches of :data:`BATCH`: ``int8-dynamic`` quantizes
activations with one scale per tensor per call, so its outputs for a sample depend on the rest of its
batch (converters.quantize).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from converters.data import ValidationDataWarning, recorded_validation_set, validation_set
from converters.eval_set import EvalSet
from converters.parity import ParityReport, compare
from converters.sources import ModelSource, from_zoo, resolve_model
from converters.user_metric import resolve_metric
from edge_sdk.errors import EdgeSDKError, ManifestError
from edge_sdk.preprocess import parse_preprocessing
from edge_sdk.zoo.registry import REGISTRY

BATCH = 64


def run_onnx(path: Path, x: np.ndarray, batch: int = BATCH) -> dict[str, np.ndarray]:
    """All outputs of ``path`` on ``x``, through the runtime that ships (ONNX Runtime backend, CPU)."""
    from runtimes import load

    sess = load(path, backend="onnxruntime", providers=["CPUExecutionProvider"])
    name = sess.inputs[0].name
    outs: dict[str, list[np.ndarray]] = {o.name: [] for o in sess.outputs}
    for i in range(0, len(x), batch):
        for k, o in sess.run({name: np.ascontiguousarray(x[i : i + batch], np.float32)}).items():
            outs[k].append(np.asarray(o))
    return {k: np.concatenate(v) for k, v in outs.items()}


def run_torch(module: Any, x: np.ndarray, names: list[str], batch: int = BATCH) -> dict[str, np.ndarray]:
    import torch

    outs: list[list[np.ndarray]] = [[] for _ in names]
    module.eval()
    with torch.inference_mode():
        for i in range(0, len(x), batch):
            y = module(torch.from_numpy(np.ascontiguousarray(x[i : i + batch], np.float32)))
            ys = y if isinstance(y, (tuple, list)) else (y,)
            for k, t in enumerate(ys):
                outs[k].append((t.float() if t.dtype == torch.bfloat16 else t).numpy())  # numpy has no bfloat16
    return {n: np.concatenate(outs[k]) for k, n in enumerate(names)}


def validate_onnx(src: ModelSource, onnx_path: Path, precision: str, data: EvalSet,
                  expected_dtypes: dict[str, str] | None = None) -> ParityReport:
    """Parity of ``onnx_path`` against ``src.module`` on ``data`` (output dtypes against PyTorch's and against
    ``expected_dtypes``, a manifest's, when given)."""
    from converters.reference import reference_outputs  # kept per process: several candidates, one reference

    cand = run_onnx(onnx_path, data.x)
    ref = reference_outputs(src, data.x, list(cand))
    return compare(src.name, precision, src.task, data, ref, cand, expected_dtypes, src.task_output)


def _recorded(source: dict[str, Any]) -> str:
    """The manifest's record of its source, as text for the user to judge (never opened or run)."""
    kind = source.get("kind")
    if kind == "factory":
        return f"{source.get('path')}:{source.get('factory')}"
    if kind == "checkpoint":
        return f"{source.get('path')} --arch {source.get('arch')}"
    if kind == "python-object":
        return f"an nn.Module ({source.get('class')})"
    return str(source.get("path", "unknown"))


def source_from_manifest(
    manifest: Any, model: Any = None, *, arch: str | None = None, input_shape: tuple[int | str, ...] | None = None,
) -> ModelSource:
    """The PyTorch reference for a bundle. A zoo model is rebuilt from its zoo name; anything else
    (factory, checkpoint, .pt2, nn.Module) only from ``model``, the source the user names: a bundle
    may come from anyone, so no code or file named by its manifest is ever run or loaded."""
    s = manifest.extra.get("source", {})
    s = s if isinstance(s, dict) else {}
    kind = s.get("kind")
    recorded = manifest.extra.get("input_shape", [])
    if input_shape is None and isinstance(recorded, list) and recorded and all(
            isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in recorded):
        input_shape = (1, *recorded)
    if model is None:
        if kind == "zoo":
            name = s.get("name")
            if not isinstance(name, str) or name not in REGISTRY:
                raise ManifestError(f"the bundle's zoo model {str(name)[:60]!r} is not in this edge-sdk's zoo")
            return from_zoo(name)
        flag = f"--model SOURCE{' --arch ' + str(s.get('arch')) if kind == 'checkpoint' else ''}"
        raise EdgeSDKError(
            f"the bundle was exported from a {kind or 'unknown'} source ({_recorded(s)[:200]}); validate never runs "
            f"code or loads files a bundle names: pass the source yourself with {flag} "
            "(Python: converters.validate(bundle, model=...))"
        )
    src = resolve_model(model, arch=arch, input_shape=input_shape)
    if manifest.source_sha256 and src.source_sha256 != manifest.source_sha256:
        raise EdgeSDKError(
            f"{src.name} is not the source this bundle was exported from (sha256 {src.source_sha256[:12]}..., "
            f"the manifest records {str(manifest.source_sha256)[:12]}...); validating against another model "
            "means nothing: pass the original, or re-export the bundle from this one"
        )
    _declared_by(manifest, src)
    return src


def _declared_by(manifest: Any, src: ModelSource) -> None:
    """What the export declared (task, preprocessing, labels, task output, scores), from the manifest into the
    rebuilt source: data, checked as the runtime checks it, so that images are preprocessed and labelled as the
    bundle's app sees them and the task metric reads the task output."""
    pre = parse_preprocessing(manifest.preprocessing)  # ManifestError when unusable
    src.task = manifest.task or src.task
    if pre is not None:
        src.preprocessing = pre.to_json()
    src.labels = list(manifest.labels) or src.labels
    src.task_output = manifest.task_output
    src.scores = manifest.scores


def validate_bundle(
    bundle: Path, data_path: Any = None, count: int | None = None, *,
    model: Any = None, arch: str | None = None, input_shape: tuple[int | str, ...] | None = None,
    metric: str | Callable[..., float] | None = None, metric_budget: float | None = None,
    metric_mode: str | None = None, log: Callable[[str], None] | None = None,
) -> ParityReport:
    """``edge-sdk validate``: re-run parity of a bundle against its PyTorch source.

    ``model`` (a zoo name, ``file.py:factory``, checkpoint with ``arch``, ``.pt2`` or ``nn.Module``)
    is required unless the bundle came from the zoo; it must be the source the bundle records.

    Data: ``data_path``, else the validation data the manifest records (``extra.validation``: a user's
    ``--val-data`` or the calibration samples held out at export) when its path is reachable here, else
    the model's defaults. ``metric`` (``file.py:function`` or a callable; never taken from the manifest,
    which may come from anyone) judges instead of the built-in metric; ``metric_budget`` and
    ``metric_mode`` default to what the manifest recorded for it (numbers, not code).
    """
    from runtimes.manifest import read_manifest, verified_artifact

    say = log or (lambda msg: warnings.warn(msg, ValidationDataWarning, stacklevel=3))
    manifest = read_manifest(bundle)
    artifact = verified_artifact(bundle, manifest)
    if artifact.suffix != ".onnx":
        raise EdgeSDKError(f"validate runs ONNX bundles; {artifact.name} is not ONNX")
    recorded = manifest.extra.get("validation")
    recorded = recorded if isinstance(recorded, dict) else {}
    gated: dict[str, Any] = recorded["metric"] if isinstance(recorded.get("metric"), dict) else {}
    if metric is None and gated:
        say(f"the bundle was gated at export on the metric {str(gated.get('source'))[:200]!r}; validate never imports "
            "code a manifest names: pass --metric FILE.py:FUNCTION to judge by it again (now: the built-in metric)")
    if metric is not None:
        metric_budget = metric_budget if metric_budget is not None else _number(gated.get("budget"))
        metric_mode = metric_mode or (gated.get("mode") if gated.get("mode") in ("higher", "lower") else None)
    user_metric = resolve_metric(metric, metric_budget, metric_mode)
    src = source_from_manifest(manifest, model, arch=arch, input_shape=input_shape)
    evalset = None
    if data_path is None:
        evalset, why = recorded_validation_set(recorded, src.input_shape, src.preprocessing, src.labels, src.name)
        if why:
            fallback = "the zoo model's own data" if src.zoo_name else "seeded random inputs"
            say(f"{why}; validating on {fallback} (--val-data PATH gives data)")
    if evalset is None:
        evalset = validation_set(src, data_path, count)
    if evalset.note:
        say(evalset.note)
    evalset.metric = user_metric
    report = validate_onnx(src, artifact, manifest.precision, evalset,
                           expected_dtypes={t.name: t.dtype for t in manifest.outputs})
    report.override = manifest.accuracy_override
    return report


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
