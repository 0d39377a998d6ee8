"""Benchmark a camera pipeline: source -> preprocess -> infer -> postprocess, per stage.

The bundle's manifest picks the pipeline (:data:`edge_sdk.pipelines.TASK_PIPELINES`): a white-balance
bundle runs :class:`WhiteBalance` on a dual-exposure source, an image classifier runs
:class:`Classifier`. Frames read during the first ``warmup`` seconds are not counted. Reports per-stage
latency statistics (from each result's :class:`Timings`), achieved fps against the source's fps, and the
frames the source dropped.
"""

from __future__ import annotations

import os
import time
from typing import Any

from edge_sdk.benchmark import (
    THREADED_BACKENDS,
    accuracy_summary,
    artifact_path,
    cov_warning,
    latency_stats,
    peak_rss_mb,
    resolve,
)
from edge_sdk.errors import EdgeSDKError
from edge_sdk.pipelines.timing import STAGES


def benchmark_pipeline(bundle: str | os.PathLike[str], source: str, *, backend: str = "auto", warmup: float = 1.0,
                       duration: float | None = 3.0, iterations: int | None = None, threads: int | None = None,
                       precision: str = "fp32", keep_times: bool = True) -> dict[str, Any]:
    """Run the bundle's pipeline on ``source`` (a URI) until ``iterations`` frames or ``duration`` s."""
    from edge_sdk.pipelines import open_task_source, pipeline_for, task_of
    from runtimes import load

    path = resolve(bundle, precision)
    options: dict[str, Any] = {"threads": threads} if threads is not None and backend in THREADED_BACKENDS else {}
    t0 = time.perf_counter()
    session = load(path, backend=backend, **options)
    load_ms = (time.perf_counter() - t0) * 1e3
    try:  # the manifest's task picks the pipeline and its source (edge_sdk.pipelines)
        task = task_of(session)
        pipeline: Any = pipeline_for(session)
    except BaseException:
        session.close()
        raise
    per_stage: dict[str, list[float]] = {s: [] for s in (*STAGES, "total")}
    first_ms: float | None = None
    counted = 0
    with session, open_task_source(task, source) as src:
        t_start = time.perf_counter()
        warm_end = t_start + max(0.0, warmup)
        t_count = None
        dropped_at_start = 0
        for result in pipeline.stream(src):
            now = time.perf_counter()
            if first_ms is None:
                first_ms = result.timings.total_ms
            if now < warm_end:
                continue
            if t_count is None:  # the first counted frame's own time is included below
                t_count = now - result.timings.total_ms / 1e3
                dropped_at_start = src.stats.dropped
            for s in STAGES:
                per_stage[s].append(result.timings.ms.get(s, 0.0))
            per_stage["total"].append(result.timings.total_ms)
            counted += 1
            if iterations is not None and counted >= iterations:
                break
            if iterations is None and duration is not None and now - t_count >= duration and counted >= 2:
                break
        wall = time.perf_counter() - (t_count or time.perf_counter())
        source_fps = src.fps
        dropped = src.stats.dropped - dropped_at_start
        frames_read = src.stats.frames_read
    if counted == 0:
        raise EdgeSDKError(f"{source}: no frames after the {warmup:g} s warm-up (a short source? lower --warmup)")
    stages = {s: latency_stats(v) for s, v in per_stage.items()}
    warn = cov_warning(stages["total"], "frame time")
    manifest = session.manifest
    result_: dict[str, Any] = {
        "kind": "pipeline", "pipeline": type(pipeline).__name__, "bundle": str(path), "source": source,
        "model": manifest.model if manifest else path.stem, "precision": manifest.precision if manifest else None,
        "backend": session.backend, "batch": 1, "threads": threads, "choice": session.choice,
        "start": {"artifact_bytes": artifact_path(path, manifest).stat().st_size, "load_ms": load_ms,
                  "first_frame_ms": first_ms},
        "frames": counted, "frames_read": frames_read, "wall_s": wall,
        "fps": counted / wall if wall > 0 else None, "source_fps": source_fps, "dropped": dropped,
        "stages_ms": stages, "latency_ms": stages["total"], "peak_rss_mb": peak_rss_mb(),
        "accuracy": accuracy_summary(manifest), "warnings": [warn] if warn else [],
    }
    if keep_times:
        result_["times_ms"] = per_stage
    return result_
