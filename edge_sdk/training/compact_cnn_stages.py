"""The stages of the two-stage compact-CNN recipe: the dual-input-output model (stage 1), the weight-average
merge with BatchNorm recalibration, and progressive unfreezing (stage 2). :mod:`edge_sdk.training.compact_cnn`
explains the choices and runs them in order (``train``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from edge_sdk.training.augment import random_affine
from edge_sdk.training.common import run_epochs
from edge_sdk.zoo.compact_cnn import CompactCNN


@dataclass(frozen=True)
class Schedule:
    stage1_epochs: int
    phase_epochs: tuple[int, int, int, int]  # head, +block3, +block2, +block1
    stage1_lr: float = 3e-3
    phase_lrs: tuple[float, float, float, float] = (1e-2, 3e-3, 2e-3, 1.5e-3)
    batch_size: int = 64
    weight_decay: float = 5e-4

    def scaled(self, epochs: int) -> Schedule:
        """The same recipe with ``epochs`` stage-1 epochs and proportionally scaled phases."""
        if epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {epochs}")
        f = epochs / self.stage1_epochs
        p = tuple(max(1, round(e * f)) for e in self.phase_epochs)
        return Schedule(epochs, (p[0], p[1], p[2], p[3]), self.stage1_lr, self.phase_lrs, self.batch_size,
                        self.weight_decay)



class _Branch(nn.Module):
    """One stage-1 sub-model: a compact-cnn backbone and its own linear classifier."""

    def __init__(self, net: CompactCNN) -> None:
        super().__init__()
        self.net = net
        self.classifier = nn.Linear(net.feature_dim, net.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.net.features(x))  # type: ignore[no-any-return]


class DualInputOutput(nn.Module):
    """Two identical sub-models side by side; output ``[logits_orig, logits_aug, logits_joint]``."""

    def __init__(self, make: Callable[[], CompactCNN]) -> None:
        super().__init__()
        self.orig = _Branch(make())
        self.aug = _Branch(make())
        self.aug.load_state_dict(self.orig.state_dict())  # identical start: see the module docstring
        dim = self.orig.net.feature_dim
        self.joint = nn.Linear(2 * dim, self.orig.net.num_classes)
        self.num_classes = self.orig.net.num_classes

    def forward(self, x_orig: torch.Tensor, x_aug: torch.Tensor) -> torch.Tensor:
        fa, fb = self.orig.net.features(x_orig), self.aug.net.features(x_aug)
        out = [self.orig.classifier(fa), self.aug.classifier(fb), self.joint(torch.cat([fa, fb], 1))]
        return torch.cat(out, 1)

    def split(self, out: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(torch.split(out, self.num_classes, 1))


# --------------------------------------------------------------------------------------------- helpers


class Normalize:
    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self.identity = all(m == 0 for m in mean) and all(s == 1 for s in std)
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.identity else (x - self.mean) / self.std


def _epochs(
    params: Iterable[nn.Parameter],
    step: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    weight_decay: float,
    gen: torch.Generator,
    desc: str,
    show_progress: bool,
    before_epoch: Callable[[], object],
    after_epoch: Callable[[int, float], None] | None = None,
) -> float:
    """AdamW + one-cycle over ``epochs`` on :func:`~edge_sdk.training.common.run_epochs` (channels-last
    batches; batches of one skipped for BatchNorm); ``step(xb, yb)`` returns the loss. Returns the last mean loss."""
    trainable = [p for p in params if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=lr, weight_decay=weight_decay)
    steps = epochs * ((len(x) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(1, steps), pct_start=0.15)
    xt, yt = torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y.astype(np.int64))
    return run_epochs(
        lambda xb, yb: step(xb.contiguous(memory_format=torch.channels_last), yb), opt, sched, xt, yt,
        epochs=epochs, batch_size=batch_size, gen=gen, desc=desc, show_progress=show_progress,
        before_epoch=before_epoch, after_epoch=after_epoch, min_batch=2,
    )


def predict(fn: Callable[[torch.Tensor], torch.Tensor], x: np.ndarray, batch_size: int = 512) -> torch.Tensor:
    outs = []
    with torch.inference_mode():
        for i in range(0, len(x), batch_size):
            xb = torch.from_numpy(np.ascontiguousarray(x[i : i + batch_size]))
            outs.append(fn(xb.contiguous(memory_format=torch.channels_last)))
    return torch.cat(outs)


def score(logits: torch.Tensor, y: np.ndarray) -> tuple[float, float]:
    yt = torch.from_numpy(y.astype(np.int64))
    return float((logits.argmax(1) == yt).float().mean()), float(F.cross_entropy(logits, yt))


def _augment_half(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Each sample replaced by its random_affine draw with probability 1/2."""
    pick = torch.rand(len(x), generator=gen) < 0.5
    aug = random_affine(x, gen)
    return torch.where(pick.view(-1, 1, 1, 1), aug, x)


_BACKBONE_PREFIXES = ("block1.", "block2.", "block3.")


def merge_backbones(a: CompactCNN, b: CompactCNN, into: CompactCNN) -> None:
    """Write the parameter-wise average of the backbones of ``a`` and ``b`` into ``into``'s backbone.

    BatchNorm running statistics are averaged too, as a placeholder: re-estimate them afterwards
    (:func:`recalibrate_bn`). ``into``'s head is left as it is.
    """
    sa, sb = a.state_dict(), b.state_dict()
    merged = {}
    for k, va in sa.items():
        if not k.startswith(_BACKBONE_PREFIXES):
            continue
        merged[k] = (va + sb[k]) / 2 if va.is_floating_point() else va.clone()
    missing, unexpected = into.load_state_dict(merged, strict=False)
    assert not unexpected and all(not k.startswith(_BACKBONE_PREFIXES) for k in missing)


def recalibrate_bn(
    model: nn.Module, x: np.ndarray, prep: Callable[[torch.Tensor], torch.Tensor], gen: torch.Generator,
    batch_size: int = 256, max_samples: int = 20_000,
) -> None:
    """Re-estimate every BatchNorm's running mean/var on ``x`` and an augmented copy (no weight changes)."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over all batches
    was_training = model.training
    model.train()
    x = x[:max_samples]
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            xb = torch.from_numpy(np.ascontiguousarray(x[i : i + batch_size]))
            xb = xb.contiguous(memory_format=torch.channels_last)
            model(prep(xb))
            model(prep(random_affine(xb, gen)))
    for m, mom in zip(bns, momenta, strict=True):
        m.momentum = mom
    model.train(was_training)


# --------------------------------------------------------------------------------------------- stages


def stage1_dual(
    make: Callable[[], CompactCNN],
    train_xy: tuple[np.ndarray, np.ndarray],
    val_xy: tuple[np.ndarray, np.ndarray],
    schedule: Schedule,
    prep: Callable[[torch.Tensor], torch.Tensor],
    gen: torch.Generator,
    show_progress: bool = True,
) -> tuple[DualInputOutput, dict[str, float]]:
    """Train the dual-input-output model; returns it and its validation metrics."""
    dual = DualInputOutput(make).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    x, y = train_xy

    def step(xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        out = dual(prep(xb), prep(random_affine(xb, gen)))
        return sum((F.cross_entropy(o, yb) for o in dual.split(out)), torch.zeros(())) / 3

    loss = _epochs(
        dual.parameters(), step, x, y, epochs=schedule.stage1_epochs, lr=schedule.stage1_lr,
        batch_size=schedule.batch_size, weight_decay=schedule.weight_decay, gen=gen,
        desc="stage 1: dual-input-output", show_progress=show_progress, before_epoch=dual.train,
    )
    dual.eval()
    xv, yv = val_xy
    la, lb, lj = dual.split(predict(lambda t: dual(prep(t), prep(t)), xv))
    metrics = {
        "stage1_epochs": float(schedule.stage1_epochs),
        "stage1_train_loss": loss,
        "stage1_val_top1_orig": score(la, yv)[0],
        "stage1_val_top1_aug": score(lb, yv)[0],
        "stage1_val_top1_joint": score(lj, yv)[0],
    }
    return dual, metrics


def _set_trainable(model: CompactCNN, groups: Sequence[nn.Module]) -> list[nn.Module]:
    """Freeze everything, then unfreeze ``groups``; returns the frozen modules (to hold in eval mode)."""
    for p in model.parameters():
        p.requires_grad_(False)
    for g in groups:
        for p in g.parameters():
            p.requires_grad_(True)
    return [m for m in (*model.backbone_blocks(), model.head) if all(m is not g for g in groups)]


def progressive_unfreeze(
    model: CompactCNN,
    train_xy: tuple[np.ndarray, np.ndarray],
    val_xy: tuple[np.ndarray, np.ndarray],
    schedule: Schedule,
    prep: Callable[[torch.Tensor], torch.Tensor],
    gen: torch.Generator,
    show_progress: bool = True,
    on_phase_end: Callable[[int, CompactCNN], None] | None = None,
) -> dict[str, float]:
    """Stage 2: fine-tune in phases, unfreezing from the head backwards; keeps the best val epoch.

    ``model`` ends holding the best epoch's weights, all parameters trainable again. ``on_phase_end``
    is called as ``(phase, model)`` after each phase (1-based), before the best weights are restored.
    """
    x, y = train_xy
    xv, yv = val_xy
    order = [model.head, *reversed(model.backbone_blocks())]  # last layer first
    best: dict[str, Any] = {"key": (-1.0, 0.0), "state": None, "where": ""}
    metrics: dict[str, float] = {}
    for phase, (epochs, lr) in enumerate(zip(schedule.phase_epochs, schedule.phase_lrs, strict=True), start=1):
        groups = order[:phase]
        frozen = _set_trainable(model, groups)
        metrics[f"stage2_phase{phase}_trainable_params"] = float(
            sum(p.numel() for p in model.parameters() if p.requires_grad)
        )

        def before_epoch(frozen: list[nn.Module] = frozen) -> None:
            model.train()
            for m in frozen:
                m.eval()  # frozen BatchNorm statistics too

        def step(xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
            return F.cross_entropy(model(prep(_augment_half(xb, gen))), yb)

        def after_epoch(epoch: int, loss: float, phase: int = phase) -> None:
            model.eval()
            acc, nll = score(predict(lambda t: model(prep(t)), xv), yv)
            metrics[f"stage2_phase{phase}_val_top1"] = acc
            metrics[f"stage2_phase{phase}_train_loss"] = loss
            if (acc, -nll) >= best["key"]:
                best.update(key=(acc, -nll), state=copy.deepcopy(model.state_dict()), where=f"{phase}.{epoch + 1}")

        _epochs(
            model.parameters(), step, x, y, epochs=epochs, lr=lr, batch_size=schedule.batch_size,
            weight_decay=schedule.weight_decay, gen=gen, desc=f"stage 2: phase {phase}/4",
            show_progress=show_progress, before_epoch=before_epoch, after_epoch=after_epoch,
        )
        model.eval()
        if on_phase_end is not None:
            on_phase_end(phase, model)
    for p in model.parameters():
        p.requires_grad_(True)
    model.load_state_dict(best["state"])
    model.eval()
    ph, ep = best["where"].split(".")
    metrics.update(best_phase=float(ph), best_phase_epoch=float(ep), val_top1=best["key"][0])
    return metrics
