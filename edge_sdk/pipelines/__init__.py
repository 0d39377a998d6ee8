"""Camera pipelines: white balance from dual exposures, classification. Results carry stage timings.

Which pipeline runs a bundle is one table, :data:`TASK_PIPELINES` (the manifest's task -> the pipeline
class and the kind of camera source it reads); :func:`pipeline_for` and :func:`open_task_source` are how
``edge-sdk run``, ``edge-sdk benchmark --pipeline``, the demo and the samples choose. Inside the white-balance
pipeline, which features feed the model is the second table, :data:`AWB_EXTRACTORS` (the manifest's
``preprocessing["extractor"]`` -> feature function).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edge_sdk.errors import ManifestError
from edge_sdk.pipelines.classifier import Classifier, Prediction
from edge_sdk.pipelines.timing import Timings
from edge_sdk.pipelines.white_balance import (
    AWB_EXTRACTORS,
    AwbExtractor,
    WhiteBalance,
    WhiteBalanceResult,
    apply_gains,
    to_display,
)


@dataclass(frozen=True)
class TaskPipeline:
    pipeline: Callable[..., Any]  # (session) -> a pipeline with __call__ and stream(source)
    source: str  # "frames": edge_sdk.camera.open_source; "dual-exposure": open_dual_source


TASK_PIPELINES: dict[str, TaskPipeline] = {
    "classification": TaskPipeline(Classifier, "frames"),
    "illuminant-estimation": TaskPipeline(WhiteBalance, "dual-exposure"),
}


def task_of(session: Any) -> str:
    """The task a session's manifest declares, if :data:`TASK_PIPELINES` has a pipeline for it."""
    manifest = getattr(session, "manifest", None)
    task = getattr(manifest, "task", None)
    if task not in TASK_PIPELINES:
        got = f"a {task} model" if manifest is not None else "no manifest (a bare model file)"
        raise ManifestError(f"no camera pipeline for {got}; pipelines exist for {', '.join(TASK_PIPELINES)} "
                            "bundles (export one with edge-sdk export)")
    return str(task)


def pipeline_for(session: Any) -> Any:
    """The pipeline for a loaded bundle, chosen by its manifest's task."""
    return TASK_PIPELINES[task_of(session)].pipeline(session)


def open_task_source(task: str, uri: str, **kwargs: Any) -> Any:
    """Open ``uri`` as the kind of source the task's pipeline reads (frames or dual-exposure pairs)."""
    from edge_sdk.camera import open_dual_source, open_source

    opener = open_dual_source if TASK_PIPELINES[task].source == "dual-exposure" else open_source
    return opener(uri, **kwargs)


__all__ = [
    "AWB_EXTRACTORS",
    "TASK_PIPELINES",
    "AwbExtractor",
    "Classifier",
    "Prediction",
    "TaskPipeline",
    "Timings",
    "WhiteBalance",
    "WhiteBalanceResult",
    "apply_gains",
    "open_task_source",
    "pipeline_for",
    "task_of",
    "to_display",
]
