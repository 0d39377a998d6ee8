"""Classification on camera frames: frame -> the manifest's preprocessing -> model -> top-k labels."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge_sdk.camera.frames import Frame, Source
from edge_sdk.errors import ManifestError
from edge_sdk.pipelines.timing import Timings
from edge_sdk.preprocess import check_spec, preprocess_image
from runtimes import Session, load


@dataclass
class Prediction:
    labels: list[str]  # top-k, best first
    scores: list[float]  # softmax probabilities
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


def _check_input(spec: dict[str, Any], session: Session) -> None:
    """The model's static input dims must match what the preprocessing produces (1 x C x H x W)."""
    shape = tuple(session.inputs[0].shape)
    want = (1 if spec.get("color", "rgb") == "gray" else 3, *spec["size"])
    if len(shape) != 4 or any(isinstance(d, int) and d != w for d, w in zip(shape[1:], want)):
        raise ManifestError(f"preprocessing (color {spec.get('color', 'rgb')}, size {list(spec['size'])}) gives "
                            f"{'x'.join(map(str, want))} inputs, but the model takes {list(shape)}; fix the "
                            "bundle's manifest.json or re-export it")


class Classifier:
    """``Classifier(bundle)(frame)`` -> :class:`Prediction`. Uses the bundle's preprocessing and labels."""

    def __init__(self, bundle: str | os.PathLike[str] | Session, backend: str = "auto", top_k: int = 5,
                 **options: Any) -> None:
        self.session = bundle if isinstance(bundle, Session) else load(bundle, backend=backend, **options)
        manifest = self.session.manifest
        if manifest is None or not manifest.preprocessing.get("size"):
            raise ManifestError("Classifier needs a bundle whose manifest describes image preprocessing "
                                "(export it with edge-sdk export)")
        self.preprocessing = check_spec(manifest.preprocessing)
        _check_input(self.preprocessing, self.session)
        n = int(self.session.outputs[0].shape[-1]) if isinstance(self.session.outputs[0].shape[-1], int) else 0
        self.labels = manifest.labels or [str(i) for i in range(n)]
        self.top_k = max(1, min(top_k, len(self.labels) or top_k))

    def __call__(self, frame: Frame | np.ndarray, *, timings: Timings | None = None) -> Prediction:
        t = timings or Timings()
        image = frame.image if isinstance(frame, Frame) else frame
        with t.stage("preprocess"):
            x = preprocess_image(image, self.preprocessing)[None]
        with t.stage("infer"):
            logits = self.session(x)[0]
        with t.stage("postprocess"):
            p = softmax(logits.astype(np.float64))
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
