"""``edge-sdk demo``: the whole product in about two minutes, on embedded defaults.

1. Convert the shipped models (emlp, compact-cnn, care-tiny) to FP32 and INT8 bundles, and eccc
   to FP32, each validated against PyTorch within its accuracy budget.
2. White balance on a synthetic dual-exposure camera stream (true illuminant known), writing the
   corrected video and a before/after image (emlp); eccc estimates the same pairs.
3. The digit classifiers on a digits camera stream.
4. A summary table (accuracy or angular error, latency, fps) and ``report.json``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edge_sdk._io import atomic_write_text
from edge_sdk.errors import MissingDependencyError

SHIPPED = ("emlp", "compact-cnn", "care-tiny")
PRECISIONS = ("fp32", "int8")


def demo_precisions() -> tuple[str, str]:
    """FP32 and the INT8 format this machine runs fast: TensorRT's `int8` with a CUDA GPU, else `int8-cpu`
    (ONNX Runtime's and OpenVINO's CPU kernels; the TensorRT placement runs slower than FP32 on a CPU)."""
    from runtimes.gpu import gpu_info

    return ("fp32", "int8" if gpu_info()["gpu_name"] != "unknown" else "int8-cpu")
WB_ALSO = ("eccc",)  # converted at FP32 only and run on the same dual-exposure frames as emlp (a few seconds)
HOST_PACKAGES = ("torch", "onnxscript", "safetensors")  # step 1 converts with PyTorch: the thin install refuses


def require_host() -> None:
    """Refuse before writing anything where the conversion step cannot run (the thin device install)."""
    import importlib.util

    missing = [m for m in HOST_PACKAGES if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingDependencyError(missing[0], "host", "edge-sdk demo (step 1 converts the shipped models "
                                     "with PyTorch; on a device, run bundles exported on the host: "
                                     "edge-sdk run BUNDLE synthetic://digits)")


def _stage_means(timings: list[dict[str, float]]) -> dict[str, float]:
    return {k: float(np.mean([t[k] for t in timings])) for k in timings[0]} if timings else {}


def convert_all(out: Path, log: Callable[[str], None], show_progress: bool) -> dict[str, Any]:
    from converters import export
    from converters.parity import metric_text
    from runtimes.manifest import read_manifest

    rows: dict[str, Any] = {}
    for name, precisions in [*((n, demo_precisions()) for n in SHIPPED), *((n, ("fp32",)) for n in WB_ALSO)]:
        for precision in precisions:
            t0 = time.perf_counter()
            bundle = export(name, out / "bundles" / f"{name}-{precision}", precision=precision,
                            show_progress=show_progress, log=lambda m: None)
            m = read_manifest(bundle)
            p = m.parity or {}
            rows[f"{name}-{precision}"] = {
                "bundle": str(bundle), "size_kib": (bundle / m.artifact).stat().st_size / 1024,
                "metric": p["metric"], "budget": p["budget"]["rule"], "passed": p["passed"],
                "seconds": time.perf_counter() - t0,
            }
            log(f"  {name:12s} {precision:5s} {metric_text(p['metric'])} within budget "
                f"({time.perf_counter() - t0:.0f} s)")
    return rows


def white_balance_demo(bundle: Path, out: Path, frames: int, show_progress: bool,
                       also: dict[str, Path] | None = None) -> dict[str, Any]:
    """emlp on the synthetic camera (video, before/after image); each bundle of ``also`` runs on the same pairs
    through the pipeline its manifest picks (edge_sdk.pipelines), for its angular error and timings."""
    import cv2

    from edge_sdk.awb.metrics import angular_error_deg, summarize
    from edge_sdk.camera import open_dual_source, open_sink
    from edge_sdk.pipelines import WhiteBalance, pipeline_for
    from edge_sdk.pipelines.draw import draw_white_balance
    from edge_sdk.training.common import progress
    from runtimes import load

    wb = WhiteBalance(bundle, backend="numpy")
    others = {k: pipeline_for(load(b)) for k, b in (also or {}).items()}
    other_err: dict[str, list[float]] = {k: [] for k in others}
    other_ms: dict[str, list[dict[str, float]]] = {k: [] for k in others}
    errors, timings, t0 = [], [], time.perf_counter()
    uri = f"synthetic://dual-exposure?size=640x360&split=test&count={frames}"
    with open_dual_source(uri) as src, open_sink(out / "white_balance.mp4", fps=10) as sink:
        for k, r in enumerate(progress(wb.stream(src), "white balance", show_progress, total=frames)):
            assert r.frame is not None
            errors.append(float(angular_error_deg(r.illuminant[None], r.frame.meta["illuminant"][None])[0]))
            timings.append(dict(r.timings.ms))
            for key, other in others.items():
                o = other(r.frame, correct=False)
                truth = r.frame.meta["illuminant"][None]
                other_err[key].append(float(angular_error_deg(o.illuminant[None], truth)[0]))
                other_ms[key].append(dict(o.timings.ms))
            image = draw_white_balance(r, r.frame.meta["white_level"], r.frame.meta["black_level"])
            sink.write(image)
            if k == 0:
                cv2.imwrite(str(out / "white_balance_before_after.png"), image)
    elapsed = time.perf_counter() - t0
    return {"frames": len(errors), "fps": len(errors) / elapsed, "angular_error_deg": summarize(np.array(errors)),
            "stage_ms": _stage_means(timings), "video": str(out / "white_balance.mp4"),
            "image": str(out / "white_balance_before_after.png"), "backend": wb.session.backend,
            "also": {k: {"angular_error_deg": summarize(np.array(other_err[k])), "stage_ms": _stage_means(other_ms[k]),
                         "backend": o.session.backend} for k, o in others.items()}}


def classifier_demo(bundle: Path, name: str, frames: int, show_progress: bool) -> dict[str, Any]:
    from edge_sdk.camera import open_source
    from edge_sdk.pipelines import Classifier
    from edge_sdk.training.common import progress

    clf = Classifier(bundle)
    correct, timings, t0 = 0, [], time.perf_counter()
    with open_source(f"synthetic://digits?count={frames}&seed=1") as src:
        for p in progress(clf.stream(src), name, show_progress, total=frames):
            assert p.frame is not None
            correct += p.label == str(p.frame.meta["label"])
            timings.append(dict(p.timings.ms))
    n = len(timings)
    return {"frames": n, "fps": n / (time.perf_counter() - t0), "top1": correct / max(n, 1),
            "stage_ms": _stage_means(timings), "backend": clf.session.backend}


def run_demo(out: Path, *, frames: int = 40, digits: int = 300, show_progress: bool = True,
             log: Callable[[str], None] = print) -> dict[str, Any]:
    require_host()
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    log(f"edge-sdk demo -> {out}/")
    log("1/3 converting the shipped models (FP32 + INT8, each validated against PyTorch)")
    conversions = convert_all(out, log, show_progress)
    log("2/3 white balance on a synthetic dual-exposure camera (640x360)")
    wb = white_balance_demo(out / "bundles" / "emlp-fp32", out, frames, show_progress,
                            also={f"{n}-fp32": out / "bundles" / f"{n}-fp32" for n in WB_ALSO})
    log("3/3 digit classifiers on a digits camera stream")
    clf = {f"{n}-{p}": classifier_demo(out / "bundles" / f"{n}-{p}", f"{n} {p}", digits, show_progress)
           for n in ("compact-cnn", "care-tiny") for p in demo_precisions()}
    report = {"output_dir": str(out), "seconds": time.perf_counter() - t0, "conversions": conversions,
              "white_balance": wb, "classifiers": clf}
    atomic_write_text(out / "report.json", json.dumps(report, indent=2, default=float) + "\n")
    return report


def summary_table(report: dict[str, Any]) -> str:
    from edge_sdk.cli.output import format_table

    wb = report["white_balance"]
    rows = [("white balance (emlp fp32)", f"{wb['angular_error_deg']['mean']:.2f} deg mean angular error",
             f"{wb['stage_ms']['infer']:.3f}", f"{sum(wb['stage_ms'].values()):.2f}", f"{wb['fps']:.1f}")]
    for key, o in wb.get("also", {}).items():  # same frames; fps is emlp's loop
        rows.append((f"white balance ({key.replace('-', ' ')})", f"{o['angular_error_deg']['mean']:.2f} deg mean "
                     "angular error", f"{o['stage_ms']['infer']:.3f}", f"{sum(o['stage_ms'].values()):.2f}", "-"))
    for key, c in report["classifiers"].items():
        rows.append((key, f"{100 * c['top1']:.1f} % top-1", f"{c['stage_ms']['infer']:.3f}",
                     f"{sum(c['stage_ms'].values()):.2f}", f"{c['fps']:.1f}"))
    return format_table(["pipeline", "accuracy", "infer ms", "frame ms", "fps"], rows)
