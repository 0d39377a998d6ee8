"""Shared training utilities: seeding, progress bars, the one training loop (:func:`run_epochs`), a
supervised classifier recipe on it (:func:`fit`), accuracy.

Every trainer (EMLP, compact-cnn's stages, care-tiny) runs :func:`run_epochs`; each keeps its own recipe
(optimiser, schedule, loss, what happens before and after an epoch) through its arguments and hooks."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

if TYPE_CHECKING:
    import torch

T = TypeVar("T")


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one intra-op thread inside the block; the previous count is restored after.

    The zoo's models are small: thread synchronisation costs more than it saves, a second busy process on
    a 2-core host makes multi-threaded training many times slower, and one thread is reproducible.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def progress(it: Iterable[T], desc: str, enabled: bool = True, total: int | None = None) -> Iterator[T]:
    """A tqdm progress bar (to stderr), or the bare iterable when disabled."""
    if not enabled:
        yield from it
        return
    from tqdm.auto import tqdm

    yield from tqdm(it, desc=desc, total=total, leave=False, dynamic_ncols=True)


def accuracy(model: torch.nn.Module, x: np.ndarray, y: np.ndarray, batch_size: int = 512) -> float:
    """Top-1 accuracy (0..1) of ``model`` on float32 NCHW inputs ``x`` and int labels ``y``."""
    import torch

    model.eval()
    correct = 0
    with torch.inference_mode():
        for i in range(0, len(x), batch_size):
            logits = model(torch.from_numpy(np.ascontiguousarray(x[i : i + batch_size])))
            correct += int((logits.argmax(1).numpy() == y[i : i + batch_size]).sum())
    return correct / max(1, len(x))


def run_epochs(
    step: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    opt: torch.optim.Optimizer,
    sched: Any,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    epochs: int,
    batch_size: int,
    gen: torch.Generator,
    desc: str = "train",
    show_progress: bool = True,
    before_epoch: Callable[[], object] | None = None,
    after_epoch: Callable[[int, float], None] | None = None,
    min_batch: int = 1,
) -> float:
    """The training loop. Per epoch: ``before_epoch()``, a shuffle drawn from ``gen``, then per mini-batch
    ``loss = step(xb, yb)``, zero_grad, backward, ``opt.step()``, ``sched.step()``; then
    ``after_epoch(epoch, mean loss)``. Batches smaller than ``min_batch`` are skipped (BatchNorm cannot
    train on one sample) unless the whole set is that small. Returns the last epoch's mean loss."""
    import torch

    last = float("nan")
    for epoch in progress(range(epochs), desc, show_progress, total=epochs):
        if before_epoch is not None:
            before_epoch()
        order = torch.randperm(len(x), generator=gen)
        total, n = 0.0, 0
        for i in range(0, len(x), batch_size):
            idx = order[i : i + batch_size]
            if len(idx) < min_batch <= len(x):
                continue
            loss = step(x[idx], y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
            n += len(idx)
        last = total / max(1, n)
        if after_epoch is not None:
            after_epoch(epoch, last)
    return last


def fit(
    model: torch.nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    lr: float,
    batch_size: int = 64,
    weight_decay: float = 1e-4,
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
    params: Iterable[torch.nn.Parameter] | None = None,
    seed: int = 0,
    desc: str = "train",
    show_progress: bool = True,
    forward: Callable[[torch.Tensor, torch.Generator], Any] | None = None,
    label_smoothing: float = 0.0,
    after_epoch: Callable[[int, float], None] | None = None,
) -> float:
    """AdamW + one-cycle schedule + cross-entropy on :func:`run_epochs`. Returns the last epoch's mean loss.

    ``forward(xb, gen)`` overrides how a batch becomes logits (e.g. a dual-input model); by default
    it is ``model(augment(xb))``. Only ``params`` (default: all trainable) are optimised.
    ``after_epoch(epoch, loss)`` runs after each epoch (the model is put back in train mode after it).
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    trainable = [p for p in (params if params is not None else model.parameters()) if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=lr, weight_decay=weight_decay)
    steps = epochs * ((len(x) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(1, steps), pct_start=0.15)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=label_smoothing)

    def step(xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        if forward is not None:
            logits = forward(xb, gen)
        else:
            logits = model(augment(xb, gen) if augment is not None else xb)
        return loss_fn(logits, yb)  # type: ignore[no-any-return]

    last = run_epochs(step, opt, sched, xt, yt, epochs=epochs, batch_size=batch_size, gen=gen, desc=desc,
                      show_progress=show_progress, before_epoch=model.train, after_epoch=after_epoch)
    model.eval()
    return last
