"""Top-1 accuracy of a classifier (a zoo name or an ``nn.Module``) on a dataset split."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from edge_sdk.errors import DatasetError

if TYPE_CHECKING:
    import torch

__all__ = ["evaluate_classifier"]


def evaluate_classifier(
    model_or_name: str | torch.nn.Module,
    dataset: str = "digits-28",
    split: str = "test",
    data_dir: str | os.PathLike[str] | None = None,
    *,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    batch_size: int = 512,
) -> dict[str, float]:
    """Return ``{"top1": accuracy in 0..1, "n": samples, "correct": count}``.

    A zoo name loads the shipped weights and its spec's normalisation (mean/std); for a module, pass
    ``mean``/``std`` if it expects normalised inputs (default: the [0, 1] pixels as loaded).
    """
    import torch

    from edge_sdk.data.classification import load_classification

    x, y = load_classification(dataset, split, data_dir)
    if isinstance(model_or_name, str):
        from edge_sdk.zoo import create_model, get_spec

        spec = get_spec(model_or_name)
        if tuple(x.shape[1:]) != tuple(spec.input_shape):
            raise DatasetError(
                f"{model_or_name} takes {'x'.join(map(str, spec.input_shape))} inputs, but {dataset} {split} "
                f"holds {'x'.join(map(str, x.shape[1:]))}"
            )
        model = create_model(model_or_name)
        mean = spec.preprocessing.get("mean") if mean is None else mean
        std = spec.preprocessing.get("std") if std is None else std
    else:
        model = model_or_name
    if mean is not None or std is not None:
        c = x.shape[1]
        m = np.asarray(mean if mean is not None else [0.0] * c, np.float32).reshape(1, -1, 1, 1)
        s = np.asarray(std if std is not None else [1.0] * c, np.float32).reshape(1, -1, 1, 1)
        x = (x - m) / s
    model.eval()
    correct = 0
    with torch.inference_mode():
        for i in range(0, len(x), batch_size):
            xb = torch.from_numpy(np.ascontiguousarray(x[i : i + batch_size], dtype=np.float32))
            try:
                logits = model(xb)
            except RuntimeError as e:  # e.g. a 1x28x28 model on 3x32x32 data
                raise DatasetError(
                    f"the model cannot take {dataset} {split} inputs of shape {tuple(x.shape[1:])}: "
                    f"{str(e).splitlines()[0]}"
                ) from None
            correct += int((logits.argmax(1).numpy() == y[i : i + batch_size]).sum())
    n = len(y)
    return {"top1": correct / max(1, n), "n": n, "correct": correct}
