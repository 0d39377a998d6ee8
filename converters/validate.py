"""Run the candidate ONNX (ONNX Runtime, CPU) and the PyTorch reference on the same samples."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import numpy as np

from converters.data import EvalSet, validation_set
from converters.parity import ParityReport, compare
from converters.sources import ModelSource, from_zoo, resolve_model
from edge_sdk.errors import EdgeSDKError, ManifestError
from edge_sdk.zoo.registry import REGISTRY


def run_onnx(path: Path, x: np.ndarray, batch: int = 64) -> dict[str, np.ndarray]:
    """All outputs of ``path`` on ``x``, through the runtime that ships (ONNX Runtime backend, CPU)."""
    from runtimes import load

    sess = load(path, backend="onnxruntime", providers=["CPUExecutionProvider"])
    name = sess.inputs[0].name
    outs: dict[str, list[np.ndarray]] = {o.name: [] for o in sess.outputs}
    for i in range(0, len(x), batch):
        for k, o in sess.run({name: np.ascontiguousarray(x[i : i + batch], np.float32)}).items():
            outs[k].append(np.asarray(o, np.float32))
    return {k: np.concatenate(v) for k, v in outs.items()}


def run_torch(module: Any, x: np.ndarray, names: list[str], batch: int = 64) -> dict[str, np.ndarray]:
    import torch

    outs: list[list[np.ndarray]] = [[] for _ in names]
    module.eval()
    with torch.inference_mode():
        for i in range(0, len(x), batch):
            y = module(torch.from_numpy(np.ascontiguousarray(x[i : i + batch], np.float32)))
            ys = y if isinstance(y, (tuple, list)) else (y,)
            for k, t in enumerate(ys):
                outs[k].append(t.float().numpy())
    return {n: np.concatenate(outs[k]) for k, n in enumerate(names)}


def validate_onnx(src: ModelSource, onnx_path: Path, precision: str, data: EvalSet) -> ParityReport:
    """Parity of ``onnx_path`` against ``src.module`` on ``data``."""
    cand = run_onnx(onnx_path, data.x)
    ref = run_torch(src.module, data.x, list(cand))
    return compare(src.name, precision, src.task, data, ref, cand)


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
    manifest: Any, model: Any = None, *, arch: str | None = None, input_shape: tuple[int, ...] | None = None,
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
    return src


def validate_bundle(
    bundle: Path, data_path: Path | None = None, count: int | None = None, *,
    model: Any = None, arch: str | None = None, input_shape: tuple[int, ...] | None = None,
) -> ParityReport:
    """``edge-sdk validate``: re-run parity of a bundle against its PyTorch source.

    ``model`` (a zoo name, ``file.py:factory``, checkpoint with ``arch``, ``.pt2`` or ``nn.Module``)
    is required unless the bundle came from the zoo; it must be the source the bundle records.
    """
    from runtimes.manifest import read_manifest, verified_artifact

    manifest = read_manifest(bundle)
    artifact = verified_artifact(bundle, manifest)
    if artifact.suffix != ".onnx":
        raise EdgeSDKError(f"validate runs ONNX bundles; {artifact.name} is not ONNX")
    src = source_from_manifest(manifest, model, arch=arch, input_shape=input_shape)
    report = validate_onnx(src, artifact, manifest.precision, validation_set(src, data_path, count))
    report.override = manifest.accuracy_override
    return report


class _CallableModule(types.ModuleType):
    """Importing this submodule rebinds ``converters.validate`` (the public function) to the module;
    calling the module keeps ``converters.validate(bundle, data, model=...)`` working either way."""

    def __call__(self, bundle: str | Path, data: str | Path | None = None, **kwargs: Any) -> ParityReport:
        return validate_bundle(Path(bundle), Path(data) if data else None, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
