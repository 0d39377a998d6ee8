"""Shared training utilities: seeding, progress bars, a supervised classifier loop, accuracy."""

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
) -> float:
    """AdamW + cosine schedule + cross-entropy. Returns the last epoch's mean loss.

    ``forward(xb, gen)`` overrides how a batch becomes logits (e.g. a dual-input model); by default
    it is ``model(augment(xb))``. Only ``params`` (default: all trainable) are optimised.
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    trainable = [p for p in (params if params is not None else model.parameters()) if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=lr, weight_decay=weight_decay)
    steps = epochs * ((len(x) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(1, steps), pct_start=0.15)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    last = float("nan")
    for epoch in progress(range(epochs), desc, show_progress, total=epochs):
        model.train()
        order = torch.randperm(len(xt), generator=gen)
        total, n = 0.0, 0
        for i in range(0, len(xt), batch_size):
            idx = order[i : i + batch_size]
            xb, yb = xt[idx], yt[idx]
            if forward is not None:
                logits = forward(xb, gen)
            else:
                logits = model(augment(xb, gen) if augment is not None else xb)
            loss = loss_fn(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
            n += len(idx)
        last = total / max(1, n)
        del epoch
    model.eval()
    return last
