"""Train care-tiny (CARE Transformer block design at 28x28) on digits-28, or on your own data.

Recipe: AdamW + one-cycle cosine schedule + label smoothing (``edge_sdk.training.fit``) with random
rotation / zoom / translation / brightness (``random_affine``). The train split is fitted; the val
split selects the checkpoint (evaluated at the end of each epoch over the last third of training,
best val top-1 wins, later epochs win ties); the test split is only reported.

``data``: a directory with ``train.npz`` / ``val.npz`` / ``test.npz`` (arrays ``x``: float32
N x 1 x 28 x 28 in [0, 1], ``y``: int labels 0..9); ``test.npz`` is optional.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edge_sdk.errors import DatasetError
from edge_sdk.training.augment import random_affine
from edge_sdk.training.common import accuracy, fit, seed_everything, single_thread

if TYPE_CHECKING:
    import torch

EPOCHS = 60
LR = 4e-3
BATCH_SIZE = 64
WEIGHT_DECAY = 0.05
LABEL_SMOOTHING = 0.1
RECIPE = (
    f"care-tiny digits-28: AdamW lr={LR} wd={WEIGHT_DECAY} one-cycle, batch {BATCH_SIZE}, "
    f"label smoothing {LABEL_SMOOTHING}, random_affine(deg 12, zoom .12, shift .1, brightness .2), "
    "best val top-1 over the last third of epochs"
)


def _load_split(data: Path | None, split: str) -> tuple[np.ndarray, np.ndarray] | None:
    if data is None:
        from edge_sdk.data.digits import load_digits28

        return load_digits28(split)
    f = Path(data) / f"{split}.npz"
    if not f.is_file():
        if split == "test":
            return None
        raise DatasetError(f"care-tiny training data: {f} not found (need train.npz and val.npz)")
    with np.load(f) as z:
        if "x" not in z or "y" not in z:
            raise DatasetError(f"{f} must hold arrays 'x' (N x 1 x 28 x 28 float32) and 'y' (int labels)")
        x, y = z["x"].astype(np.float32), z["y"].astype(np.int64)
    if x.ndim != 4 or x.shape[1:] != (1, 28, 28) or len(x) != len(y):
        raise DatasetError(f"{f}: expected x of shape N x 1 x 28 x 28 and as many labels, got {x.shape}")
    return x, y


def train(
    *,
    out: Path,
    seed: int = 0,
    data: Path | None = None,
    epochs: int | None = None,
    show_progress: bool = True,
) -> dict[str, float]:
    """Train care-tiny, save safetensors weights to ``out``; return top-1 metrics (0..1) and seconds."""

    from edge_sdk.zoo.care import build
    from edge_sdk.zoo.weights import save_weights

    train_split, val_split = _load_split(data, "train"), _load_split(data, "val")
    assert train_split is not None and val_split is not None
    test_split = _load_split(data, "test")
    (x_tr, y_tr), (x_va, y_va) = train_split, val_split
    n_epochs = EPOCHS if epochs is None else int(epochs)
    if n_epochs < 1:
        raise ValueError("epochs must be >= 1")

    seed_everything(seed)
    model = build("tiny", num_classes=10, in_channels=1)
    select_from = n_epochs - max(1, n_epochs // 3)  # first epoch index eligible for selection
    best: dict[str, object] = {"acc": -1.0, "epoch": -1, "state": None}

    def select(epoch_done: int) -> None:
        acc = accuracy(model, x_va, y_va)
        if acc >= float(best["acc"]):  # type: ignore[arg-type]
            best.update(acc=acc, epoch=epoch_done, state=copy.deepcopy(model.state_dict()))

    def forward(xb: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        return model(random_affine(xb, gen))  # type: ignore[no-any-return]

    def after_epoch(epoch: int, loss: float) -> None:  # score the eligible epochs; the last one is scored below
        if select_from < epoch + 1 < n_epochs:
            select(epoch + 1)

    t0 = time.perf_counter()
    with single_thread():
        loss = fit(
            model, x_tr, y_tr, epochs=n_epochs, lr=LR, batch_size=BATCH_SIZE, weight_decay=WEIGHT_DECAY,
            seed=seed, desc="care-tiny", show_progress=show_progress, forward=forward,
            label_smoothing=LABEL_SMOOTHING, after_epoch=after_epoch,
        )
        select(n_epochs)
    seconds = time.perf_counter() - t0
    model.load_state_dict(best["state"])  # type: ignore[arg-type]
    model.eval()

    metrics = {
        "train_top1": accuracy(model, x_tr, y_tr),
        "val_top1": float(best["acc"]),  # type: ignore[arg-type]
        "final_loss": float(loss),
        "epochs": float(n_epochs),
        "selected_epoch": float(best["epoch"]),  # type: ignore[arg-type]
        "train_seconds": seconds,
    }
    if test_split is not None:
        metrics["test_top1"] = accuracy(model, *test_split)
    meta = {"seed": str(seed), "recipe": RECIPE, "dataset": "digits-28" if data is None else str(data)}
    meta.update({k: f"{v:.4f}" for k, v in metrics.items()})
    save_weights(model, out, metadata=meta)
    return metrics
