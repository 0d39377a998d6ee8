"""`edge-sdk eval BUNDLE`: a bundle's accuracy through the runtime (ONNX Runtime, CPU) on held-out data.

Data, first found: ``--data`` (ImageFolder directory, ``.npz`` with x and y, images, or an IDX / CIFAR
directory for classifiers), the zoo's test split for a zoo bundle, the validation data the manifest
records (when reachable here). Metric, one table by task; ``--metric FILE.py:FUNCTION`` for anything else.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edge_sdk.cli.output import format_table, print_json
from edge_sdk.errors import DatasetError, EdgeSDKError

EMLP_TEST_SCENES = 500  # the whole synthetic test split, as `edge-sdk eval emlp|eccc|ccc`


def _top1(outputs: dict[str, np.ndarray], y: np.ndarray) -> dict[str, float]:
    from runtimes.metrics import top1_percent

    logits = next(iter(outputs.values()))
    if y.ndim != 1 or y.dtype.kind not in "iub":
        raise DatasetError("top-1 needs one integer class label per sample (an ImageFolder directory, or y in an "
                           ".npz)")
    return {"top1": top1_percent(logits, y) / 100.0, "correct": int((logits.argmax(1) == y).sum())}


def _angular(outputs: dict[str, np.ndarray], y: np.ndarray) -> dict[str, float]:
    from edge_sdk.awb.metrics import summarize
    from runtimes.metrics import angular_deg

    return {f"angular_error_{k}" if k != "n" else k: v
            for k, v in summarize(angular_deg(next(iter(outputs.values())), y)).items()}


METRICS: dict[str, Callable[[dict[str, np.ndarray], np.ndarray], dict[str, float]]] = {
    "classification": _top1,
    "illuminant-estimation": _angular,
}


def _idx_or_cifar(path: Path, manifest: Any) -> tuple[np.ndarray, np.ndarray, str] | None:
    """A classifier test split from an IDX / CIFAR directory, normalised as the manifest says; None if not one."""
    from edge_sdk.data.classification import detect_dataset, load_classification

    if not path.is_dir():
        return None
    try:
        dataset = detect_dataset(path)
    except DatasetError:
        return None
    x, y = load_classification(dataset, "test", path)
    pre = manifest.preprocessing
    c = x.shape[1]
    mean = np.asarray(pre.get("mean", [0.0] * c), np.float32).reshape(1, -1, 1, 1)
    std = np.asarray(pre.get("std", [1.0] * c), np.float32).reshape(1, -1, 1, 1)
    return ((x - mean) / std).astype(np.float32), y, f"{dataset}/test ({path})"


def _data(args: argparse.Namespace, manifest: Any) -> tuple[np.ndarray, np.ndarray | None, str]:
    from converters.data import recorded_validation_set
    from converters.user_data import read_data
    from converters.zoo_data import default_kind, zoo_test_set

    shape = tuple(manifest.inputs[0].shape[1:])
    if args.data is not None:
        found = _idx_or_cifar(args.data, manifest)
        if found is not None:
            return found
        s = read_data(args.data, shape, manifest.preprocessing, manifest.labels, what=manifest.model)
        return s.x, s.y, str(args.data)
    source = manifest.extra.get("source")
    zoo = source.get("name") if isinstance(source, dict) and source.get("kind") == "zoo" else None
    kind = default_kind(zoo if isinstance(zoo, str) else None, manifest.preprocessing)
    if kind is not None:
        ev = zoo_test_set(kind, manifest.preprocessing, EMLP_TEST_SCENES if kind in ("emlp", "eccc", "ccc") else None)
        return ev.x, ev.y, ev.name
    recorded, why = recorded_validation_set(manifest.extra.get("validation"), shape, manifest.preprocessing,
                                      manifest.labels, manifest.model)
    if recorded is None:
        raise EdgeSDKError(f"{args.name} is not a zoo bundle{' and ' + why if why else ''}: pass --data (an "
                           "ImageFolder directory with one sub-folder per class, or an .npz with x and y)")
    return recorded.x, recorded.y, recorded.name


def eval_bundle(args: argparse.Namespace) -> int:
    from converters.user_metric import resolve_metric
    from converters.validate import run_onnx
    from runtimes.manifest import read_manifest

    for flag in ("weights", "sensor", "plot"):
        if getattr(args, flag, None):
            raise EdgeSDKError(f"--{flag} applies to zoo names (edge-sdk eval NAME), not to a bundle")
    bundle = Path(args.name)
    manifest = read_manifest(bundle)
    metric = resolve_metric(args.metric, 0.0) if args.metric else None  # imported: named on the command line
    x, y, dataset = _data(args, manifest)
    outputs = run_onnx(bundle, x)
    if metric is not None:
        results: dict[str, float] = {metric.name: metric.value(outputs, y)}
    elif manifest.task in METRICS and y is not None:
        task_output = manifest.task_output if manifest.task_output in outputs else next(iter(outputs))
        results = METRICS[manifest.task]({task_output: outputs[task_output]}, y)  # the output the task reads
    else:
        why = "the data has no labels" if y is None else f"no built-in metric for task {manifest.task!r}"
        raise EdgeSDKError(f"{why}: pass labelled --data (an ImageFolder directory, or an .npz with x and y) and, "
                           "for other tasks, --metric FILE.py:FUNCTION")
    if args.json:
        print_json({"bundle": str(bundle), "model": manifest.model, "precision": manifest.precision,
                    "task": manifest.task, "dataset": dataset, "samples": int(len(x)), **results})
        return 0
    print(f"{bundle}: {manifest.model} {manifest.precision} on {dataset} ({len(x)} samples)")
    rows = [(k, f"{100 * v:.2f} %" if k == "top1" else f"{v:.6g}") for k, v in results.items()]
    print(format_table(["metric", "value"], rows))
    return 0
