"""Run the candidate ONNX (ONNX Runtime, CPU) and the PyTorch reference on the same samples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from converters.data import EvalSet, validation_set
from converters.parity import ParityReport, compare
from converters.sources import ModelSource, from_exported_program, from_factory, from_zoo
from edge_sdk.errors import EdgeSDKError, ManifestError


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


def source_from_manifest(manifest: Any) -> ModelSource:
    """Rebuild the PyTorch reference recorded in a bundle's manifest."""
    s = manifest.extra.get("source", {})
    kind = s.get("kind")
    shape = (1, *manifest.extra.get("input_shape", []))
    if kind == "zoo":
        return from_zoo(s["name"])
    if kind == "checkpoint":
        return from_zoo(s["arch"], weights=Path(s["path"]))
    if kind == "factory":
        return from_factory(f"{s['path']}:{s['factory']}", shape)
    if kind == "exported-program":
        return from_exported_program(Path(s["path"]), shape)
    raise ManifestError(f"the bundle's source ({kind or 'unknown'}) cannot be rebuilt for validation")


def validate_bundle(bundle: Path, data_path: Path | None = None, count: int | None = None) -> ParityReport:
    """``edge-sdk validate``: re-run parity of a bundle against its PyTorch source."""
    from runtimes.manifest import read_manifest, verified_artifact

    manifest = read_manifest(bundle)
    artifact = verified_artifact(bundle, manifest)
    if artifact.suffix != ".onnx":
        raise EdgeSDKError(f"validate runs ONNX bundles; {artifact.name} is not ONNX")
    src = source_from_manifest(manifest)
    report = validate_onnx(src, artifact, manifest.precision, validation_set(src, data_path, count))
    report.override = manifest.accuracy_override
    return report
