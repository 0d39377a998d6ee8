"""Train and evaluate EMLP on the synthetic dual-exposure data.

Recipe (``RECIPE``): features from :func:`edge_sdk.data.dual_exposure.make_feature_dataset`
(train split scenes 0..2999, val split scenes 0..499, rendered at 108 x 192); inputs standardised
with the train mean/std (folded into the first Linear afterwards); loss = mean angular error in
degrees; AdamW (lr 1e-2, weight decay 1e-4, cosine decay to 0) on mini-batches of 128; the
epoch with the lowest val mean angular error is kept.

The no-DEF comparison model (``mlp-no-def``) is trained by the very same recipe and data, on the 6
single-frame statistics only, with a hidden width giving the same parameter count (6-38-3 = 383 vs
EMLP's 15-20-3 = 383).

Per sensor: ``sensor`` (a colour-science camera name, a curves CSV or a
:class:`~edge_sdk.data.sensors.Sensor`) renders the same synthetic scenes through that sensor's curves
and levels; the weights file's metadata records the sensor (``"sensor"``: JSON of name, curve hash,
levels), and the export puts it in the manifest. ``data`` trains on captured pairs instead
(:mod:`edge_sdk.data.captured_pairs`: a folder with ``pairs.csv``) or on an ``.npz`` of features.
"""

from __future__ import annotations

import time
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edge_sdk.awb.baselines import BASELINES
from edge_sdk.awb.features import N_DEF, N_FEATURES, N_SINGLE
from edge_sdk.awb.metrics import angular_error_deg, summarize
from edge_sdk.data.dual_exposure import FEATURE_HEIGHT, FEATURE_WIDTH, generate_scene, make_feature_dataset
from edge_sdk.data.sensors import Sensor, load_sensor
from edge_sdk.errors import DatasetError
from edge_sdk.training.common import progress, run_epochs, seed_everything, single_thread

if TYPE_CHECKING:
    import torch

N_TRAIN, N_VAL, N_TEST = 3000, 500, 500
EPOCHS = 150
BATCH = 128
LR = 1e-2
WEIGHT_DECAY = 1e-4
HIDDEN = 20
HIDDEN_NO_DEF = 38  # (6 + 1) * 38 + (38 + 1) * 3 = 383 = EMLP's (15 + 1) * 20 + (20 + 1) * 3
RECIPE = (
    f"synthetic dual-exposure {FEATURE_HEIGHT}x{FEATURE_WIDTH}, train {N_TRAIN} / val {N_VAL} scenes; "
    f"standardised inputs folded into fc1; angular-error loss; AdamW lr {LR} wd {WEIGHT_DECAY} cosine, "
    f"batch {BATCH}, {EPOCHS} epochs, best val epoch kept"
)


def _angular_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    import torch

    cos = (pred * target).sum(-1) / (pred.norm(dim=-1) * target.norm(dim=-1) + 1e-12)
    return torch.rad2deg(torch.acos(cos.clamp(-1 + 1e-7, 1 - 1e-7))).mean()


def predict(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    import torch

    model.eval()
    with torch.inference_mode():
        return model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).numpy()


def fit_mlp(
    x: np.ndarray,
    y: np.ndarray,
    xv: np.ndarray,
    yv: np.ndarray,
    *,
    hidden: int,
    seed: int = 0,
    epochs: int = EPOCHS,
    show_progress: bool = False,
    desc: str = "emlp",
) -> tuple[torch.nn.Module, dict[str, float]]:
    """Train one MLP (EMLP architecture, any input width) by :data:`RECIPE`; return it (standardisation
    folded in, eval mode) and its val summary."""


    with single_thread():  # tiny matmuls: extra threads only add synchronisation (30x slower here)
        return _fit(x, y, xv, yv, hidden=hidden, seed=seed, epochs=epochs, show_progress=show_progress, desc=desc)


def _fit(
    x: np.ndarray,
    y: np.ndarray,
    xv: np.ndarray,
    yv: np.ndarray,
    *,
    hidden: int,
    seed: int,
    epochs: int,
    show_progress: bool,
    desc: str,
) -> tuple[torch.nn.Module, dict[str, float]]:
    import torch

    from edge_sdk.zoo.emlp import build

    seed_everything(seed)
    x = np.asarray(x, np.float32)
    mean = x.mean(axis=0)
    std = x.std(axis=0) + 1e-6
    xt = torch.from_numpy((x - mean) / std)
    yt = torch.from_numpy(np.asarray(y, np.float32))
    xvt = torch.from_numpy((np.asarray(xv, np.float32) - mean) / std)
    yvt = torch.from_numpy(np.asarray(yv, np.float32))
    model = build(in_features=x.shape[1], hidden=hidden)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    steps_per_epoch = (len(xt) + BATCH - 1) // BATCH
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs * steps_per_epoch))
    best: dict[str, Any] = {"val": float("inf"), "state": {k: v.clone() for k, v in model.state_dict().items()}}

    def keep_best(epoch: int, loss: float) -> None:  # the epoch with the lowest val angular error is kept
        model.eval()
        with torch.inference_mode():
            val = float(_angular_loss(model(xvt), yvt))
        if val < best["val"]:
            best.update(val=val, state={k: v.clone() for k, v in model.state_dict().items()})

    run_epochs(lambda xb, yb: _angular_loss(model(xb), yb), opt, sched, xt, yt, epochs=epochs, batch_size=BATCH,
               gen=gen, desc=desc, show_progress=show_progress, before_epoch=model.train, after_epoch=keep_best)
    model.load_state_dict(best["state"])
    model.fold_standardisation(torch.from_numpy(mean), torch.from_numpy(std))  # type: ignore[operator]
    model.eval()
    return model, summarize(angular_error_deg(predict(model, xv), yv))


def _load_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            x, y = np.asarray(z["X"], np.float32), np.asarray(z["y"], np.float32)
    except (OSError, KeyError, ValueError) as e:
        raise DatasetError(f"{path}: expected an .npz with arrays X (n x {N_FEATURES}) and y (n x 3): {e}") from None
    if x.ndim != 2 or x.shape[1] != N_FEATURES or y.shape != (len(x), 3) or len(x) < 10:
        raise DatasetError(
            f"{path}: expected X (n x {N_FEATURES}) and y (n x 3) with n >= 10, got {x.shape} and {y.shape}"
        )
    return x, y


SensorLike = Sensor | str | Path | None
Data = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str, dict[str, object]]


def _data(data: Path | None, sensor: SensorLike, n_train: int, n_val: int) -> Data:
    """(x, y, x_val, y_val, source, sensor entry) for synthetic scenes, a captured-pairs folder or an .npz."""
    if data is None:
        sens = load_sensor(sensor)
        x, y = make_feature_dataset("train", n_train, sensor=sens)
        xv, yv = make_feature_dataset("val", n_val, sensor=sens)
        return x, y, xv, yv, "synthetic-dual-exposure", sens.describe()
    data = Path(data)
    base = load_sensor(sensor).describe() if sensor is not None else None
    if data.is_dir():
        from edge_sdk.data.captured_pairs import load_captured_pairs

        pairs = load_captured_pairs(data, base)
        tr, va = ~pairs.is_val, pairs.is_val
        return pairs.x[tr], pairs.y[tr], pairs.x[va], pairs.y[va], f"captured-pairs:{data}", pairs.sensor
    x, y = _load_npz(data)
    n_v = max(1, len(x) // 10)  # the last 10 % validates
    return x[:-n_v], y[:-n_v], x[-n_v:], y[-n_v:], str(data), base or load_sensor(None).describe()


def train(
    *,
    out: Path,
    seed: int = 0,
    data: Path | None = None,
    epochs: int | None = None,
    show_progress: bool = True,
    sensor: SensorLike = None,
    n_train: int = N_TRAIN,
    n_val: int = N_VAL,
) -> dict[str, float]:
    """Train EMLP and save it as safetensors at ``out``; returns val metrics and timings.

    Data: the synthetic train/val splits (``n_train`` / ``n_val`` scenes) rendered for ``sensor``
    (default: the shipped Nikon D5100), or ``data``: a captured-pairs folder
    (:mod:`edge_sdk.data.captured_pairs`) or an .npz with ``X``, ``y`` (its last 10 % validates)."""
    import json

    from edge_sdk.zoo.emlp import param_count
    from edge_sdk.zoo.weights import library_versions, save_weights

    t0 = time.perf_counter()
    x, y, xv, yv, source, sensor_entry = _data(data, sensor, n_train, n_val)
    t_data = time.perf_counter() - t0
    n_epochs = EPOCHS if epochs is None else int(epochs)
    model, val = fit_mlp(x, y, xv, yv, hidden=HIDDEN, seed=seed, epochs=n_epochs, show_progress=show_progress)
    t_total = time.perf_counter() - t0
    metrics = {f"val_{k}": v for k, v in val.items() if k != "n"}
    metrics.update(
        {"params": float(param_count(model)), "data_seconds": t_data, "train_seconds": t_total,
         "n_train": float(len(x)), "n_val": float(len(xv))}
    )
    recipe = RECIPE if epochs is None else RECIPE.replace(f"{EPOCHS} epochs", f"{n_epochs} epochs")
    recipe = recipe.replace(f"train {N_TRAIN} / val {N_VAL}", f"train {len(x)} / val {len(xv)}")
    meta = {"seed": str(seed), "recipe": recipe, "data": source, "features": "edge_sdk.awb.features:extract_features",
            "sensor": json.dumps(sensor_entry, sort_keys=True), "versions": json.dumps(library_versions())}
    meta.update({k: f"{v:.4f}" for k, v in metrics.items()})
    save_weights(model, out, metadata=meta)
    return metrics


@lru_cache(maxsize=4)
def _test_set(
    n_test: int, height: int, width: int, sensor: Sensor
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Test-split features, ground truth and every baseline's estimates (on the long frame), for ``sensor``."""
    from edge_sdk.awb.features import extract_features

    x = np.empty((n_test, N_FEATURES), np.float32)
    y = np.empty((n_test, 3), np.float32)
    est = {k: np.empty((n_test, 3), np.float32) for k in BASELINES}
    for i in range(n_test):
        sc = generate_scene(i, "test", height, width, sensor)
        lv: dict[str, float] = {"white_level": sc.white_level, "black_level": sc.black_level}
        x[i] = extract_features(sc.long, sc.short, white_level=sc.white_level, black_level=sc.black_level)
        y[i] = sc.illuminant
        for k, fn in BASELINES.items():
            est[k][i] = fn(sc.long, **lv)
    return x, y, est


def train_no_def(
    seed: int = 0, epochs: int = EPOCHS, sensor: SensorLike = None, n_train: int = N_TRAIN, n_val: int = N_VAL
) -> torch.nn.Module:
    """The same-size MLP on the 6 single-frame statistics only, by the same recipe and data as EMLP.

    Seeded and deterministic, so it is trained once per process and arguments (a shared model in eval mode:
    evaluate it, do not train it further)."""
    return _train_no_def(seed, epochs, load_sensor(sensor), n_train, n_val)


@lru_cache(maxsize=4)
def _train_no_def(seed: int, epochs: int, sensor: Sensor, n_train: int, n_val: int) -> torch.nn.Module:
    x, y = make_feature_dataset("train", n_train, sensor=sensor)
    xv, yv = make_feature_dataset("val", n_val, sensor=sensor)
    sl = slice(N_DEF, N_DEF + N_SINGLE)
    model, _ = fit_mlp(x[:, sl], y, xv[:, sl], yv, hidden=HIDDEN_NO_DEF, seed=seed, epochs=epochs, desc="no-def")
    return model.eval()


def angular_errors(
    model: torch.nn.Module | None = None,
    *,
    n_test: int = N_TEST,
    seed: int = 0,
    show_progress: bool = False,
    no_def_model: torch.nn.Module | None = None,
    sensor: SensorLike = None,
    references: dict[str, torch.nn.Module] | None = None,
) -> dict[str, np.ndarray]:
    """Per-scene angular errors (degrees) on test scenes 0..n_test-1 rendered for ``sensor`` (default: the
    shipped one): "emlp" (the shipped model unless ``model``), "mlp-no-def" (trained here with ``seed``
    for that sensor unless given), ``references`` (more EMLPs by name, e.g. one trained for another sensor)
    and the four baselines on the long frame."""
    if model is None:
        from edge_sdk.zoo import create_model

        model = create_model("emlp")
    sens = load_sensor(sensor)
    x, y, est = _test_set(int(n_test), FEATURE_HEIGHT, FEATURE_WIDTH, sens)
    errors: dict[str, np.ndarray] = {"emlp": angular_error_deg(predict(model, x), y)}
    for name, ref in (references or {}).items():
        errors[name] = angular_error_deg(predict(ref, x), y)
    if no_def_model is None:
        no_def_model = train_no_def(seed, sensor=sens)
    errors["mlp-no-def"] = angular_error_deg(predict(no_def_model, x[:, N_DEF:]), y)
    for k in progress(BASELINES, "baselines", show_progress, total=len(BASELINES)):
        errors[k] = angular_error_deg(est[k], y)
    return errors


def evaluate(
    model: torch.nn.Module | None = None,
    *,
    n_test: int = N_TEST,
    seed: int = 0,
    show_progress: bool = False,
    no_def_model: torch.nn.Module | None = None,
    sensor: SensorLike = None,
) -> dict[str, dict[str, float]]:
    """``{method: summary}`` of :func:`angular_errors` (mean, median, tri-mean, best/worst 25 %)."""
    errors = angular_errors(model, n_test=n_test, seed=seed, show_progress=show_progress, no_def_model=no_def_model,
                            sensor=sensor)
    return {k: summarize(v) for k, v in errors.items()}
