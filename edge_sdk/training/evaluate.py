"""Evaluation: top-1 accuracy of a classifier on a dataset split; the white-balance models side by side.

:func:`white_balance_errors` puts EMLP, ECCC, CCC, the no-DEF MLP and the four classical baselines on the
*same* synthetic test scenes (500, rendered for one sensor). Every learned method is for that sensor: the
shipped weights on the shipped sensor (Nikon D5100); on another sensor, the model being evaluated uses the
weights given, and the others are trained here by their recipes with the same seed (what ``edge-sdk train
NAME --sensor ...`` writes), so no row is a model evaluated on a sensor it never saw.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from edge_sdk.awb.metrics import angular_error_deg
from edge_sdk.errors import DatasetError

if TYPE_CHECKING:
    import torch

__all__ = ["AWB_MODELS", "evaluate_classifier", "white_balance_errors"]

AWB_MODELS = ("emlp", "eccc", "ccc")  # the learned white-balance zoo models, in table order


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


@lru_cache(maxsize=8)
def _train_for_sensor(name: str, sensor: object, seed: int) -> torch.nn.Module:
    """``name`` trained here for ``sensor`` by its recipe (the model ``edge-sdk train NAME --sensor`` writes);
    seeded and deterministic, so trained once per process (a shared model: evaluate it, do not train it)."""
    from edge_sdk.data.dual_exposure import make_feature_dataset
    from edge_sdk.training import eccc, emlp

    if name == "emlp":
        x, y = make_feature_dataset("train", emlp.N_TRAIN, sensor=sensor)  # type: ignore[arg-type]
        xv, yv = make_feature_dataset("val", emlp.N_VAL, sensor=sensor)  # type: ignore[arg-type]
        return emlp.fit_mlp(x, y, xv, yv, hidden=emlp.HIDDEN, seed=seed)[0]
    x, y = eccc.model_inputs(name, "train", eccc.N_TRAIN, sensor)  # type: ignore[arg-type]
    xv, yv = eccc.model_inputs(name, "val", eccc.N_VAL, sensor)  # type: ignore[arg-type]
    return eccc.fit(x, y, xv, yv, with_def=name == "eccc", seed=seed)[0]


def white_balance_errors(
    name: str = "emlp",
    model: torch.nn.Module | None = None,
    *,
    sensor: object = None,
    references: dict[str, torch.nn.Module] | None = None,
    seed: int = 0,
    show_progress: bool = False,
) -> dict[str, np.ndarray]:
    """Per-scene angular errors (degrees) on the synthetic test split (500 scenes) rendered for ``sensor``
    (default: the shipped one): emlp, eccc, ccc (``model`` standing in for ``name``), ``references`` (more
    models of ``name``'s kind, e.g. its shipped weights on another sensor), the same-size MLP without DEF
    (trained here), and the four classical baselines on the long frame."""
    from edge_sdk.data.sensors import load_sensor
    from edge_sdk.training import eccc, emlp
    from edge_sdk.training.common import progress
    from edge_sdk.zoo import create_model

    sens = load_sensor(sensor)  # type: ignore[arg-type]
    shipped_sensor = sens == load_sensor(None)
    models: dict[str, torch.nn.Module] = {}
    for m in progress(AWB_MODELS, "models", show_progress, total=len(AWB_MODELS)):
        if m == name and model is not None:
            models[m] = model
        else:
            models[m] = create_model(m) if shipped_sensor else _train_for_sensor(m, sens, seed)
    emlp_refs = references if name == "emlp" else None
    base = emlp.angular_errors(models["emlp"], n_test=emlp.N_TEST, seed=seed, sensor=sens, references=emlp_refs,
                               show_progress=show_progress)
    errors: dict[str, np.ndarray] = {"emlp": base.pop("emlp")}
    for m in ("eccc", "ccc"):
        x, y = eccc.model_inputs(m, "test", emlp.N_TEST, sens)
        errors[m] = angular_error_deg(eccc.predict(models[m], x), y)
        for ref_name, ref in (references or {}).items() if name == m else ():
            errors[ref_name] = angular_error_deg(eccc.predict(ref, x), y)
    errors.update(base)  # emlp references, mlp-no-def, the baselines
    return errors
