"""What the user declares about a model at export (task, labels, output names, which output the task
reads, what a classifier's scores are, image preprocessing), checked against the model itself (one probe
forward pass) before anything is exported, and recorded on the :class:`~converters.sources.ModelSource`
for the manifest."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from converters.input_shapes import _DIM_NAME, _shape_text, probe_outputs
from edge_sdk.errors import EdgeSDKError
from edge_sdk.preprocess import TASKS, ImagePreprocessing, declare_image
from runtimes.manifest import SCORES

if TYPE_CHECKING:
    from converters.sources import ModelSource

TASK_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
MAX_LABELS = 100_000
MAX_LABELS_BYTES = 16 << 20
MAX_LABEL_CHARS = 256


def read_labels(path: str | os.PathLike[str]) -> list[str]:
    """Class names from a text file, one per line (blank lines skipped, spaces around a name stripped)."""
    p = Path(path)
    try:
        if not p.is_file():
            raise EdgeSDKError(f"--labels {p}: not a file (give a text file with one class name per line)")
        if p.stat().st_size > MAX_LABELS_BYTES:
            raise EdgeSDKError(f"--labels {p}: over {MAX_LABELS_BYTES >> 20} MiB; not a labels file")
        text = p.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise EdgeSDKError(f"--labels {p}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise EdgeSDKError(f"--labels {p}: not UTF-8 text") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def _check_labels(labels: Any) -> list[str]:
    if isinstance(labels, (str, os.PathLike)):
        labels = read_labels(labels)
    if not isinstance(labels, (list, tuple)) or not labels:
        raise EdgeSDKError(f"labels must be a non-empty list of class names or a file with one per line, got "
                           f"{type(labels).__name__}")
    if len(labels) > MAX_LABELS:
        raise EdgeSDKError(f"{len(labels):,} labels, over the limit of {MAX_LABELS:,}")
    for i, lab in enumerate(labels):
        if not isinstance(lab, str) or not lab.strip() or "\n" in lab or len(lab) > MAX_LABEL_CHARS:
            raise EdgeSDKError(f"label {i} ({lab!r:.40}) must be a non-empty one-line string of at most "
                               f"{MAX_LABEL_CHARS} characters")
    return [lab.strip() for lab in labels]


def _check_output_names(names: Any, count: int) -> list[str]:
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",")]
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) and _DIM_NAME.fullmatch(n) for n in names):
        raise EdgeSDKError(f"output names must be identifiers (letters, digits, _), got {names!r:.100}")
    if len(names) != count:
        raise EdgeSDKError(f"{len(names)} output names ({', '.join(names)}) for a model with {count} output"
                           f"{'s' if count != 1 else ''} (its forward() returns {count})")
    dup = sorted({n for n in names if names.count(n) > 1} | ({"input"} & set(names)))
    if dup:
        raise EdgeSDKError(f"output name {dup[0]!r} is used twice (or is the input's name); give each its own")
    return list(names)


def declare(
    src: ModelSource,
    *,
    task: str | None = None,
    labels: Sequence[str] | str | os.PathLike[str] | None = None,
    preprocessing: Mapping[str, Any] | ImagePreprocessing | None = None,
    output_names: Sequence[str] | str | None = None,
    task_output: str | None = None,
    scores: str | None = None,
    log: Callable[[str], None] | None = None,
) -> None:
    """Check what the user declares about ``src`` against the model (one probe forward pass) and record it.

    * ``task``: free-form name (``[a-z0-9._-]``); :data:`edge_sdk.preprocess.TASKS` lists those the pipelines know.
    * ``output_names``: one per output, in forward() order (default ``output`` / ``output0``, ``output1``, ...).
    * ``task_output``: the output the task's pipeline reads (a classifier's logits); default the first. A
      classification output must be batch x classes, and ``labels`` must have one name per class.
    * ``scores``: what a classifier's task output holds, ``logits`` (default: Classifier applies softmax) or
      ``probabilities`` (a model ending in softmax: used as they are).
    * ``preprocessing``: image fields (:class:`~edge_sdk.preprocess.ImagePreprocessing`, plus ``input_range``);
      unset ones default from the input shape. An image task (classification, detection, ...) on an
      image-shaped input gets the defaults even if nothing is declared, and says so in ``log``.
    """
    from converters.onnx_export import default_output_names

    say = log or (lambda _m: None)
    if task is not None:
        if not isinstance(task, str) or not TASK_NAME.fullmatch(task):
            raise EdgeSDKError(f"task {task!r:.80} must be a short lower-case name ({', '.join(TASKS)} or your own, "
                               "letters, digits, . _ -)")
        src.task = task
    classification = src.task == "classification"
    if scores is not None:
        if scores not in SCORES:
            raise EdgeSDKError(f"scores {scores!r:.40} must be {' or '.join(SCORES)}")
        if not classification:
            raise EdgeSDKError(f"--scores says what a classifier's output holds; the task is {src.task!r} "
                               "(add --task classification)")
        src.scores = scores
    probe = classification or output_names is not None or task_output is not None or labels is not None
    shapes = probe_outputs(src) if probe else (src.output_shapes or [])
    if output_names is not None:
        src.output_names = _check_output_names(output_names, len(shapes))
    names = src.output_names or default_output_names(len(shapes))
    if task_output is not None:
        if task_output not in names:
            raise EdgeSDKError(f"task output {task_output!r} is not one of the outputs ({', '.join(names)})")
        src.task_output = task_output
    elif len(names) > 1:
        src.task_output = names[0]
    which = src.task_output or (names[0] if names else "")
    out = shapes[names.index(which)] if shapes else None
    if out is not None and classification and len(out) != 1:
        raise EdgeSDKError(
            f"a classifier's output must be batch x classes (the logits), but output {which!r} is "
            f"Nx{_shape_text(out)}" + ("; name the logits output with --task-output" if len(names) > 1 else ""))
    if labels is not None:
        src.labels = _check_labels(labels)
        if out is not None and classification and len(src.labels) != out[0]:
            raise EdgeSDKError(f"{len(src.labels)} labels for output {which!r} with {out[0]} classes; give one "
                               "name per class")
    _declare_preprocessing(src, preprocessing, say)


def _declare_preprocessing(src: ModelSource, declared: Mapping[str, Any] | ImagePreprocessing | None,
                           say: Callable[[str], None]) -> None:
    if isinstance(declared, ImagePreprocessing):
        declared = declared.to_json()
    fields = {k: v for k, v in (declared or {}).items() if v is not None and k != "kind"}
    sample = tuple(None if axis + 1 in src.dynamic_axes else d for axis, d in enumerate(src.input_shape))
    if fields:
        base = {k: v for k, v in src.preprocessing.items() if k not in ("kind", "size")} \
            if src.preprocessing.get("kind") == "image" else {}
        spec = declare_image({**base, **fields}, sample)
        say(f"preprocessing: {spec.describe()}")
    elif src.zoo_name is None and TASKS.get(src.task) == "image" and len(sample) == 3 and sample[0] in (1, 3):
        spec = declare_image({}, sample)
        say(f"preprocessing (defaults for task {src.task}; declare --color, --scale, --mean, --std, --resize if the "
            f"model was trained otherwise): {spec.describe()}")
    else:
        return
    src.preprocessing = spec.to_json()
