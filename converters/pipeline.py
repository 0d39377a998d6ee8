"""The whole conversion: resolve -> export ONNX -> quantize -> validate -> bundle.

``export()`` is the Python API behind ``edge-sdk export``. When the parity budget is broken it
raises :class:`ParityError` and leaves no bundle behind, unless ``allow_accuracy_loss=True``,
which the manifest records.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as _dt
import functools
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from converters import quantize as q
from converters.bundle import check_output, prepare_output, staged_bundle
from converters.data import export_data
from converters.declarations import declare
from converters.eval_set import EvalSet
from converters.onnx_export import DEFAULT_OPSET, check_opset, export_onnx, io_specs, model_opset
from converters.parity import ParityReport
from converters.sources import ModelSource, resolve_model
from converters.user_metric import resolve_metric
from converters.validate import validate_onnx
from edge_sdk import __version__
from edge_sdk._io import atomic_write_text
from edge_sdk.errors import EdgeSDKError, ParityError
from runtimes.manifest import MANIFEST_NAME, Manifest, TensorSpec, artifact_dependencies, sha256_file
from runtimes.precisions import CHOICES, STATIC_INT8, get
from runtimes.recovery import WORK_PREFIX

PRECISIONS = CHOICES  # from the precision table (runtimes.precisions), with "auto"
ARTIFACT = "model.onnx"


def _versions() -> dict[str, str]:
    import onnx
    import onnxruntime
    import torch

    return {"edge-sdk": __version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__,
            "torch": torch.__version__, "numpy": np.__version__}


def build_candidate(
    src: ModelSource,
    fp32_path: Path,
    precision: str,
    out_path: Path,
    *,
    calibration: np.ndarray | None,
    calib_method: str,
    per_channel: bool,
    exclude_nodes: Sequence[str],
    show_progress: bool,
) -> dict[str, Any] | None:
    """Write ``out_path`` in ``precision`` from the FP32 export; returns the calibration summary."""
    return q.build(fp32_path, precision, out_path, calibration=calibration, calib_method=calib_method,
                   per_channel=per_channel, exclude_nodes=exclude_nodes, show_progress=show_progress)


def export(
    model: Any,
    out_dir: str | Path,
    *,
    example_input: Any = None,
    input_shape: Sequence[int | str] | None = None,
    dynamic_axes: Sequence[int] | Mapping[int, str | None] | None = None,
    task: str | None = None,
    labels: Sequence[str] | str | Path | None = None,
    preprocessing: Mapping[str, Any] | None = None,
    output_names: Sequence[str] | None = None,
    task_output: str | None = None,
    scores: str | None = None,
    precision: str = "fp32",
    calibration: str | Path | np.ndarray | None = None,
    calib_count: int | None = None,
    calib_method: str = "minmax",
    per_channel: bool = True,
    exclude_nodes: Sequence[str] = (),
    opset: int = DEFAULT_OPSET,
    arch: str | None = None,
    data: str | Path | np.ndarray | tuple[np.ndarray, np.ndarray] | None = None,
    metric: str | Callable[[dict[str, np.ndarray], np.ndarray | None], float] | None = None,
    metric_budget: float | None = None,
    metric_mode: str = "higher",
    allow_accuracy_loss: bool = False,
    strict: bool = False,
    force: bool = False,
    show_progress: bool = True,
    log: Callable[[str], None] = print,
) -> Path:
    """Convert ``model`` (zoo name, checkpoint path, ``file.py:factory``, ``.pt2`` or ``nn.Module``)
    into a validated bundle at ``out_dir``; returns ``out_dir``.

    ``input_shape`` includes the batch dim (e.g. ``(1, 3, 224, 224)``); ``example_input`` (a tensor)
    can stand in for it. ``calibration`` is a directory of images, an ``.npy`` file or an array;
    by default the zoo model's own training data. ``data`` (a path, an array or ``(x, y)``) overrides the
    validation samples; without it a model from outside the zoo validates on a held-out part of
    ``calibration`` (every 5th sample, recorded in ``manifest.extra["validation"]``), and on random inputs
    (warned) only when given no data at all. ``metric(outputs, labels) -> float`` (or ``"file.py:function"``)
    with ``metric_budget`` (largest allowed drop vs PyTorch FP32; ``metric_mode`` "higher" or "lower" is better)
    judges the gate instead of the built-in metric (converters.user_metric).

    What the bundle tells the app (converters.declarations.declare, checked against the model before export):
    ``task`` (``"classification"``, ``"detection"``, ... or your own name), ``labels`` (a list, or a file with
    one per line; one per class of a classifier's output), ``output_names`` (forward() order), ``task_output``
    (the output a task's pipeline reads, default the first), ``scores`` (what a classifier's task output holds:
    ``"logits"``, the default, or ``"probabilities"`` for a model ending in softmax), ``preprocessing`` (image
    fields: ``color`` rgb|bgr|gray, ``layout``, ``scale``, ``mean``, ``std``, ``resize``, or ``input_range=(lo, hi)``).
    ``input_shape`` may name dims to keep symbolic (``(1, 3, "H", "W")``), as may ``dynamic_axes`` (``[2, 3]``);
    such a model is validated at a second size too (converters.dynamic_dims).

    INT8 that breaks the budget keeps its most sensitive nodes in float until it fits (converters.mixed_precision;
    recorded in ``manifest.extra["mixed_precision"]``); ``strict=True`` refuses it instead.

    ``out_dir`` must be missing, empty or a bundle holding only bundle files (``force=True``: a bundle with
    other files too); anything else raises :class:`OutputExistsError` before any work (converters.bundle).
    """
    if precision not in PRECISIONS:
        raise EdgeSDKError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    check_opset(opset)
    out_dir = Path(out_dir)
    prepare_output(out_dir, force=force)  # refuse now, not after minutes of conversion
    if example_input is not None and input_shape is None:
        input_shape = tuple(example_input.shape)
    src = resolve_model(model, arch=arch, input_shape=tuple(input_shape) if input_shape else None,
                        dynamic_axes=dynamic_axes)
    declare(src, task=task, labels=labels, preprocessing=preprocessing, output_names=output_names,
            task_output=task_output, scores=scores, log=log)
    # validation data: `data`, else the zoo's, else a held-out part of `calibration`; calib() loads the rest once
    evalset, calib = export_data(src, calibration=calibration, calib_count=calib_count, data=data)
    evalset.metric = resolve_metric(metric, metric_budget, metric_mode)
    if evalset.note:
        log(evalset.note)
    if calibration is not None and (precision == "auto" or precision in STATIC_INT8):
        calib()  # the user's calibration data is checked now (wrong shape, corrupt images), not after the export
    with _work_dir() as work:
        fp32 = work / "fp32.onnx"
        log(f"exporting {src.name} to ONNX (opset {opset}, dynamic {', '.join(['batch', *src.dynamic_axes.values()])})")
        _export_fp32(src, fp32, opset)

        kwargs: dict[str, Any] = {"calib_method": calib_method, "per_channel": per_channel,
                                  "exclude_nodes": exclude_nodes, "show_progress": show_progress}
        decision, mixed = None, None
        if precision == "auto":
            from converters.auto import choose_precision

            precision, summary, report, decision = choose_precision(
                src, fp32, work, evalset, calib, log=log, strict=strict, **kwargs)
            mixed = decision.pop("mixed", {}).get(precision)
            shutil.copyfile(work / f"cand-{precision}.onnx", work / ARTIFACT)
        else:
            log(f"converting to {precision}")
            samples = calib() if precision in STATIC_INT8 else None
            summary = build_candidate(src, fp32, precision, work / ARTIFACT, calibration=samples, **kwargs)
            log(f"validating against PyTorch FP32 on {evalset.name} ({len(evalset.x)} samples)")
            report = validate_onnx(src, work / ARTIFACT, precision, evalset)
            if not report.passed and get(precision).mixed and not strict:
                from converters.mixed_precision import fallback

                found = fallback(src, fp32, precision, work / ARTIFACT, evalset, report, calibration=samples,
                                 log=log, **kwargs)
                if found is None:
                    log(f"{precision}: even with all but one quantizable node in float it breaks the budget")
                else:
                    summary, report, mixed = found
        sizes = None
        if src.dynamic_axes:  # symbolic dims besides the batch: parity at a second size too
            from converters.dynamic_dims import parity_at_second_size

            sizes = parity_at_second_size(src, work / ARTIFACT, precision, evalset, report, log=log)
        log(report.summary())
        if summary is not None and precision in STATIC_INT8:
            summary.setdefault("data", _calibration_name(calibration, src))
            if evalset.record.get("source") == "calibration":  # the rest validated (extra.validation)
                summary["held_out_for_validation"] = len(evalset.x)
        if mixed is not None:
            from converters.mixed_precision import summary_line

            log(summary_line(mixed))
        if not report.passed:
            if not allow_accuracy_loss:
                hint = (" or drop --strict to keep its most sensitive nodes in float"
                        if strict and get(precision).mixed else "")
                raise ParityError(
                    f"{src.name} {precision} breaks its accuracy budget: {'; '.join(report.failures)}. "
                    f"No bundle was written (use --allow-accuracy-loss to keep it anyway{hint})", report)
            report.override = True
        # the opset the file declares (quantizers may raise it), so that the manifest never says otherwise
        manifest = make_manifest(src, work / ARTIFACT, precision, model_opset(work / ARTIFACT), summary, report,
                                 evalset)
        if decision is not None:
            manifest.extra["auto"] = decision
        if mixed is not None:
            manifest.extra["mixed_precision"] = mixed
        if sizes is not None:
            manifest.extra["parity_at_sizes"] = sizes
        with staged_bundle(out_dir, check=functools.partial(check_output, force=force)) as stage:
            shutil.copyfile(work / ARTIFACT, stage / ARTIFACT)
            from converters.golden import write_golden  # golden samples for `edge-sdk check` on the device

            manifest.golden = write_golden(stage, src, stage / ARTIFACT, evalset, [o.name for o in manifest.outputs],
                                           log=log)
            atomic_write_text(stage / MANIFEST_NAME, manifest.dumps())
            from converters.report import render_report

            atomic_write_text(stage / "report.md", render_report(manifest, stage / ARTIFACT))
    log(f"wrote {out_dir}/ ({ARTIFACT}, {MANIFEST_NAME}, report.md{', golden.npz' if manifest.golden else ''})")
    return out_dir


# FP32 ONNX files this process already exported from zoo architectures (our code) with known weights: exporting
# the same model at several precisions (a notebook, the demo, --precision sweeps) runs torch's exporter once.
# Least recently used first out, within a byte budget (the zoo's files are 10 KB to 30 MB).
_FP32_CACHE: collections.OrderedDict[tuple[Any, ...], bytes] = collections.OrderedDict()
_FP32_CACHE_MAX_BYTES = 64 << 20  # all entries together; a larger file is not kept


def _export_fp32(src: ModelSource, path: Path, opset: int) -> None:
    """``export_onnx`` of ``src``, reusing this process's earlier export of the same zoo architecture, weights
    (sha256), input shape, opset, output names and dynamic axes. User modules are always exported anew (their
    code may have changed since)."""
    key = (src.zoo_name, src.source_sha256, tuple(src.input_shape), opset, tuple(src.output_names or ()),
           tuple(sorted(src.dynamic_axes.items()))) if src.zoo_name and src.source_sha256 else None
    if key is not None and key in _FP32_CACHE:
        _FP32_CACHE.move_to_end(key)
        path.write_bytes(_FP32_CACHE[key])
        return
    export_onnx(src.module, src.input_shape, path, opset=opset, output_names=src.output_names,
                dynamic_axes=src.dynamic_axes)
    if key is not None and path.stat().st_size <= _FP32_CACHE_MAX_BYTES:
        _FP32_CACHE[key] = path.read_bytes()
        while sum(map(len, _FP32_CACHE.values())) > _FP32_CACHE_MAX_BYTES:
            _FP32_CACHE.popitem(last=False)


@contextlib.contextmanager
def _work_dir() -> Iterator[Path]:
    """Export's private scratch directory ``edge-sdk-export-<pid>-XXXXXXXX`` in the temporary directory
    (the pid lets the next export remove it if this process is killed); its OSErrors become typed."""
    tmp = tempfile.gettempdir()
    hint = "free space there or set TMPDIR to a writable directory"
    try:
        work = Path(tempfile.mkdtemp(prefix=f"{WORK_PREFIX}{os.getpid()}-", dir=tmp))
    except OSError as e:
        raise EdgeSDKError(f"cannot create export's temporary work directory in {tmp}: {e.strerror or e}; "
                           f"{hint}") from None
    try:
        yield work
    except OSError as e:
        where = Path(e.filename) if isinstance(e.filename, str) else None
        if where is not None and work not in where.parents and where != work:
            raise EdgeSDKError(f"export failed: {where}: {e.strerror or e}") from None
        raise EdgeSDKError(f"cannot write export's temporary work files in {tmp}: {e.strerror or e}; "
                           f"{hint}") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)


def make_manifest(src: ModelSource, artifact: Path, precision: str, opset: int, calibration: dict[str, Any] | None,
                  report: ParityReport, evalset: EvalSet) -> Manifest:
    inputs, outputs = io_specs(artifact)
    return Manifest(
        model=src.name, task=src.task, precision=precision, artifact=ARTIFACT,
        artifact_sha256=sha256_file(artifact), source_sha256=src.source_sha256,
        artifact_files=artifact_dependencies(artifact),  # external-data files, hashed too ({} when single-file)
        inputs=[TensorSpec(str(t["name"]), tuple(t["shape"]), str(t["dtype"])) for t in inputs],  # type: ignore[arg-type]
        outputs=[TensorSpec(str(t["name"]), tuple(t["shape"]), str(t["dtype"])) for t in outputs],  # type: ignore[arg-type]
        opset=opset, sdk_version=__version__, preprocessing=src.preprocessing, labels=src.labels,
        task_output=src.task_output, scores=src.scores,
        versions=_versions(), calibration=calibration, parity=report.to_json(),
        accuracy_override=report.override,
        extra={"source": src.source, "input_shape": list(src.input_shape), "validation_data": evalset.name,
               "validation": {**evalset.record, **({"metric": evalset.metric.to_json()} if evalset.metric else {})}},
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    )


def _calibration_name(calibration: Any, src: ModelSource) -> str:
    """What calibrated the model, in words for the manifest and report.md."""
    if isinstance(calibration, np.ndarray):
        return f"an array given to converters.export ({len(calibration)} samples)"
    if calibration:
        return str(calibration)
    return f"{src.zoo_name}'s own training data" if src.zoo_name else "generated samples"
