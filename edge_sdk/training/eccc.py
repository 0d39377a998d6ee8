"""Train ECCC and CCC (:mod:`edge_sdk.zoo.eccc`) on the synthetic dual-exposure data.

Recipe (``RECIPE``): the same scenes as EMLP (train split 0..2999, val split 0..499, rendered at 108 x 192
for the sensor; :func:`awb_dataset` renders each scene once and keeps every white-balance input of it:
the 15 EMLP features and the log-chroma histograms with their centre). Loss: mean angular error in degrees
plus a smoothness penalty (:data:`SMOOTH` times the mean squared difference between neighbouring bins of
the filters and bias maps, wrap-around, as in Barron's CCC) and weight decay. Adam (lr :data:`LR`, cosine
decay to 0) on mini-batches of :data:`BATCH` for :data:`EPOCHS` epochs; the steering inputs are
standardised with the train mean/std (folded into the steering Linear afterwards); the epoch with the
lowest val mean angular error is kept. The circular correlation is computed by FFT on spectra computed
once (the exported graph computes the same by Pad + Conv). One thread: a few seconds per model.

Per sensor: ``sensor`` renders the same scenes through that sensor's curves and levels; the weights record
it (``"sensor"`` metadata) and the export puts it in the manifest, as for EMLP.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edge_sdk.awb.features import N_DEF
from edge_sdk.awb.metrics import angular_error_deg, summarize
from edge_sdk.data.dual_exposure import FEATURE_HEIGHT, FEATURE_WIDTH, awb_inputs
from edge_sdk.data.sensors import Sensor, load_sensor
from edge_sdk.errors import DatasetError
from edge_sdk.training.common import run_epochs, seed_everything, single_thread

if TYPE_CHECKING:
    import torch

    from edge_sdk.zoo.eccc import ECCC

N_TRAIN, N_VAL, N_TEST = 3000, 500, 500
EPOCHS = 40
BATCH = 250
LR = 0.1
WEIGHT_DECAY = 1e-5
SMOOTH = 0.1
RECIPE = (
    f"synthetic dual-exposure {FEATURE_HEIGHT}x{FEATURE_WIDTH}, train {N_TRAIN} / val {N_VAL} scenes; "
    f"angular-error loss + {SMOOTH} x smoothness of filters and bias maps; standardised steering inputs folded "
    f"into the steering Linear; Adam lr {LR} wd {WEIGHT_DECAY} cosine, batch {BATCH}, {EPOCHS} epochs, "
    "best val epoch kept"
)
SensorLike = Sensor | str | Path | None


def awb_dataset(split: str, n: int, sensor: SensorLike = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(emlp (n x 15), ccc (n x 2050), y (n x 3))`` of scenes 0..n-1 of a split, each scene rendered once
    for every white-balance model (cached per process; read-only arrays). ECCC's input is
    ``[ccc, emlp[:, :9]]`` (the DEF is the first 9 EMLP features)."""
    return awb_inputs(split, int(n), load_sensor(sensor))


def model_inputs(name: str, split: str, n: int, sensor: SensorLike = None) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)``: the inputs of white-balance zoo model ``name`` (emlp, eccc, ccc) for scenes 0..n-1 of a split."""
    emlp, hist, y = awb_dataset(split, n, sensor)
    x = {"emlp": lambda: emlp, "ccc": lambda: hist, "eccc": lambda: np.concatenate([hist, emlp[:, :N_DEF]], 1)}
    if name not in x:
        raise DatasetError(f"no white-balance inputs defined for {name!r}; choose one of {', '.join(x)}")
    return np.array(x[name](), np.float32), np.array(y)


def _angular_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    import torch

    cos = (pred * target).sum(-1) / (pred.norm(dim=-1) * target.norm(dim=-1) + 1e-12)
    return torch.rad2deg(torch.acos(cos.clamp(-1 + 1e-7, 1 - 1e-7))).mean()


def _smoothness(model: ECCC) -> torch.Tensor:
    b = model.bins
    maps = [model.filters.reshape(-1, b, b), model.bias_maps.reshape(-1, b, b)]
    total = sum(((m - m.roll(1, dims=d)) ** 2).mean() for m in maps for d in (1, 2))
    return total  # type: ignore[return-value]


def predict(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    import torch

    model.eval()
    with torch.inference_mode():
        return model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).numpy()


def fit(
    x: np.ndarray, y: np.ndarray, xv: np.ndarray, yv: np.ndarray, *, with_def: bool, seed: int = 0,
    epochs: int = EPOCHS, show_progress: bool = False,
) -> tuple[ECCC, dict[str, float]]:
    """Train one ECCC (``with_def``) or CCC by :data:`RECIPE`; return it (eval mode) and its val summary."""
    with single_thread():
        return _fit(x, y, xv, yv, with_def=with_def, seed=seed, epochs=epochs, show_progress=show_progress)


def _fit(x: np.ndarray, y: np.ndarray, xv: np.ndarray, yv: np.ndarray, *, with_def: bool, seed: int, epochs: int,
         show_progress: bool) -> tuple[ECCC, dict[str, float]]:
    import torch

    from edge_sdk.zoo.eccc import build

    seed_everything(seed)
    model = build(with_def=with_def)
    if x.shape[1] != model.in_features:
        raise DatasetError(f"expected {model.in_features} inputs per sample, got {x.shape[1]}")
    xt, xvt = torch.from_numpy(np.asarray(x, np.float32)), torch.from_numpy(np.asarray(xv, np.float32))
    hist, centre, steer = model.split(xt)
    mean, std = steer.mean(0), steer.std(0) + 1e-6
    spec = model.spectra(hist)
    feats = torch.cat([centre, (steer - mean) / std], dim=1)  # per sample: centre, standardised steering
    yt = torch.from_numpy(np.asarray(y, np.float32))
    idx = torch.arange(len(xt))
    hv, cv, sv = model.split(xvt)
    spec_v, feats_v = model.spectra(hv), torch.cat([cv, (sv - mean) / std], dim=1)
    yvt = torch.from_numpy(np.asarray(yv, np.float32))
    nc = centre.shape[1]

    def estimate(s: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        return model.head(model.scores_from_spectra(s), f[:, :nc], f[:, nc:])

    def step(ib: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        return _angular_loss(estimate(spec[ib], feats[ib]), yb) + SMOOTH * _smoothness(model)

    opt = torch.optim.Adam(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    steps = max(1, epochs * ((len(xt) + BATCH - 1) // BATCH))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    best: dict[str, Any] = {"val": float("inf"), "state": {k: v.clone() for k, v in model.state_dict().items()}}

    def keep_best(epoch: int, loss: float) -> None:
        with torch.inference_mode():
            val = float(_angular_loss(estimate(spec_v, feats_v), yvt))
        if val < best["val"]:
            best.update(val=val, state={k: v.clone() for k, v in model.state_dict().items()})

    gen = torch.Generator().manual_seed(seed)
    run_epochs(step, opt, sched, idx, yt, epochs=epochs, batch_size=BATCH, gen=gen,
               desc="eccc" if with_def else "ccc", show_progress=show_progress, after_epoch=keep_best)
    model.load_state_dict(best["state"])
    model.fold_standardisation(mean, std)
    model.eval()
    return model, summarize(angular_error_deg(predict(model, xv), yv))


def _train(name: str, *, out: Path, seed: int, data: Path | None, epochs: int | None, show_progress: bool,
           sensor: SensorLike, n_train: int, n_val: int) -> dict[str, float]:
    from edge_sdk.zoo.weights import library_versions, save_weights

    if data is not None:
        raise DatasetError(f"{name} trains on the synthetic dual-exposure scenes (use --sensor for another "
                           "sensor); --data (captured pairs, feature files) is for emlp only")
    t0 = time.perf_counter()
    sens = load_sensor(sensor)
    x, y = model_inputs(name, "train", n_train, sens)
    xv, yv = model_inputs(name, "val", n_val, sens)
    t_data = time.perf_counter() - t0
    n_epochs = EPOCHS if epochs is None else int(epochs)
    model, val = fit(x, y, xv, yv, with_def=name == "eccc", seed=seed, epochs=n_epochs, show_progress=show_progress)
    metrics = {f"val_{k}": v for k, v in val.items() if k != "n"}
    metrics.update({"params": float(sum(p.numel() for p in model.parameters())), "data_seconds": t_data,
                    "train_seconds": time.perf_counter() - t0, "n_train": float(len(x)), "n_val": float(len(xv))})
    recipe = RECIPE if epochs is None else RECIPE.replace(f"{EPOCHS} epochs", f"{n_epochs} epochs")
    recipe = recipe.replace(f"train {N_TRAIN} / val {N_VAL}", f"train {len(x)} / val {len(xv)}")
    meta = {"seed": str(seed), "recipe": recipe, "data": "synthetic-dual-exposure",
            "features": "edge_sdk.awb.histogram:histogram_features",
            "sensor": json.dumps(sens.describe(), sort_keys=True),
            "versions": json.dumps(library_versions())}
    meta.update({k: f"{v:.4f}" for k, v in metrics.items()})
    save_weights(model, out, metadata=meta)
    return metrics


def train_eccc(*, out: Path, seed: int = 0, data: Path | None = None, epochs: int | None = None,
               show_progress: bool = True, sensor: SensorLike = None, n_train: int = N_TRAIN,
               n_val: int = N_VAL) -> dict[str, float]:
    """Train ECCC (DEF-steered bias) and save it as safetensors at ``out``; returns val metrics and timings."""
    return _train("eccc", out=out, seed=seed, data=data, epochs=epochs, show_progress=show_progress, sensor=sensor,
                  n_train=n_train, n_val=n_val)


def train_ccc(*, out: Path, seed: int = 0, data: Path | None = None, epochs: int | None = None,
              show_progress: bool = True, sensor: SensorLike = None, n_train: int = N_TRAIN,
              n_val: int = N_VAL) -> dict[str, float]:
    """Train CCC (the same network, no DEF) and save it as safetensors at ``out``."""
    return _train("ccc", out=out, seed=seed, data=data, epochs=epochs, show_progress=show_progress, sensor=sensor,
                  n_train=n_train, n_val=n_val)

