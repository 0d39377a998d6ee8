"""Classification on camera frames: frame -> the manifest's preprocessing -> model -> top-k labels.

Any bundle whose manifest says ``task: classification`` with image preprocessing runs here: the zoo's,
and your own exported with ``edge-sdk export ... --task classification`` (plus ``--labels``, ``--color``,
``--mean``/``--std`` ...). The logits are the manifest's ``task_output`` (``--task-output``; absent: the
first output), of shape batch x classes; the other outputs are computed and ignored. Scores are the
softmax of those logits, or the output itself when the manifest says it already holds probabilities
(``scores: probabilities``, declared with ``edge-sdk export ... --scores probabilities`` for a model that
ends in softmax; absent: logits).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge_sdk.camera.frames import Frame, Source
from edge_sdk.errors import ManifestError
from edge_sdk.pipelines.timing import Timings
from edge_sdk.preprocess import ImagePreprocessing, image_spec, preprocess_image
from runtimes import Session, load


@dataclass
class Prediction:
    labels: list[str]  # top-k, best first
    scores: list[float]  # probabilities (softmax of the logits, or the model's own: manifest scores)
    indices: list[int]
    timings: Timings
    frame: Frame | None = None

    @property
    def label(self) -> str:
        return self.labels[0]

    @property
    def score(self) -> float:
        return self.scores[0]


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


# what the classifier's output holds (manifest field scores; "" = logits) -> its probabilities
PROBABILITIES: dict[str, Callable[[np.ndarray], np.ndarray]] = {"": softmax, "logits": softmax,
                                                                "probabilities": lambda p: p}


def _check_input(spec: ImagePreprocessing, session: Session) -> None:
    """The model's static input dims must match what the preprocessing produces (1 x C x H x W, or NHWC);
    a side the preprocessing leaves free (no ``size``) must be symbolic in the model."""
    shape = tuple(session.inputs[0].shape)
    want = spec.sample_shape()
    fits = len(shape) == 4 and all(
        not isinstance(d, int) or d == w for d, w in zip(shape[1:], want))  # symbolic model dims take any size
    if not fits:
        size = list(spec.size) if spec.size else "any"
        raise ManifestError(f"preprocessing (color {spec.color}, size {size}, {spec.layout}) gives "
                            f"{'x'.join('?' if w is None else str(w) for w in want)} inputs, but the model takes "
                            f"{list(shape)}; fix the bundle's manifest.json or re-export it")


def _logits(session: Session, name: str) -> tuple[str, int]:
    """The classification output's name and class count (0 if symbolic); ManifestError unless batch x classes."""
    out = next((o for o in session.outputs if o.name == name), None)
    if out is None:
        raise ManifestError(f"task_output {name!r} is not an output of the model; re-export the bundle")
    if len(out.shape) != 2:
        raise ManifestError(f"a classifier's output must be batch x classes, but {name!r} has shape {list(out.shape)}; "
                            "re-export naming the logits output (edge-sdk export ... --task-output NAME)")
    return name, out.shape[1] if isinstance(out.shape[1], int) else 0


class Classifier:
    """``Classifier(bundle)(frame)`` -> :class:`Prediction`. Uses the bundle's preprocessing, labels and
    classification output (module docstring)."""

    def __init__(self, bundle: str | os.PathLike[str] | Session, backend: str = "auto", top_k: int = 5,
                 **options: Any) -> None:
        self.session = bundle if isinstance(bundle, Session) else load(bundle, backend=backend, **options)
        manifest = self.session.manifest
        if manifest is None:
            raise ManifestError("Classifier needs a bundle with a manifest (edge-sdk export ... --task classification)")
        if manifest.task != "classification":
            raise ManifestError(f"Classifier runs classification bundles; {manifest.model}'s task is "
                                f"{manifest.task[:60]!r}: if it is a classifier, re-export it with edge-sdk export "
                                "... --task classification --labels labels.txt")
        self.spec = image_spec(manifest.preprocessing)
        self.preprocessing = self.spec.to_json()
        if len(self.session.inputs) != 1:
            raise ManifestError(f"Classifier runs single-input models; {manifest.model} has {len(self.session.inputs)}")
        _check_input(self.spec, self.session)
        self.output, n = _logits(self.session, manifest.task_output or self.session.outputs[0].name)
        if manifest.labels and n and len(manifest.labels) != n:
            raise ManifestError(f"the manifest lists {len(manifest.labels)} labels for {n} classes (output "
                                f"{self.output!r}); re-export the bundle with one label per class")
        probabilities = PROBABILITIES.get(manifest.scores)
        if probabilities is None:
            raise ManifestError(f"manifest field scores {manifest.scores[:40]!r} must be logits or probabilities")
        self.probabilities = probabilities
        self.labels = manifest.labels or [str(i) for i in range(n)]
        self.top_k = max(1, min(top_k, len(self.labels) or top_k))
        self._input = self.session.inputs[0].name

    def __call__(self, frame: Frame | np.ndarray, *, timings: Timings | None = None) -> Prediction:
        t = timings or Timings()
        image = frame.image if isinstance(frame, Frame) else frame
        with t.stage("preprocess"):
            x = preprocess_image(image, self.spec)[None]
        with t.stage("infer"):
            logits = self.session.run({self._input: x})[self.output][0]
        with t.stage("postprocess"):
            p = self.probabilities(logits.astype(np.float64))
            top = np.argsort(-p)[: self.top_k]
            labels = [self.labels[i] if i < len(self.labels) else str(i) for i in top]
        return Prediction(labels, [float(p[i]) for i in top], [int(i) for i in top], t,
                          frame if isinstance(frame, Frame) else None)

    def stream(self, source: Source[Frame]) -> Iterator[Prediction]:
        while True:
            t = Timings()
            with t.stage("capture"):
                frame = source.read()
            if frame is None:
                return
            yield self(frame, timings=t)
