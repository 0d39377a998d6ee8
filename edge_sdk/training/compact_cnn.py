"""The two-stage compact-CNN recipe (Isong, arXiv 2501.15547), as designed here.

The paper confirms: stage 1 trains two identical sub-models side by side, one on the original images
and one on an augmented copy (random rotation, zoom, translation, brightness), with their outputs
concatenated; stage 2 merges the sub-models into one model with extra layers and fine-tunes it with
progressive unfreezing from the last layer backwards. It does not say how the weights are merged, which
layers are "extra", or the unfreezing schedule. The choices made here:

Stage 1, dual-input-output
    A sub-model is the compact-cnn backbone (block1..block3 + global pool, see
    :mod:`edge_sdk.zoo.compact_cnn`) with its own linear classifier. Both sub-models start from the
    *same* initialisation (identical sub-models, and the shared start is what makes a weight average
    meaningful later). The dual model takes ``(x, augment(x))``: branch "orig" sees the batch as is,
    branch "aug" sees :func:`~edge_sdk.training.augment.random_affine` of it (a fresh draw per step).
    Its output is the concatenation ``[logits_orig, logits_aug, logits_joint]`` where the joint head
    is a linear layer on the concatenated features of both branches. The loss is the mean of the three
    cross-entropies, so each branch learns alone and both learn to complement each other.

Merge
    The two backbones are averaged parameter by parameter. BatchNorm running statistics of an average are
    not the average of the statistics, so they are re-estimated on the training images (original and
    augmented) before fine-tuning. ``merge_val_top1`` reports the merged backbone with the averaged
    branch classifiers, to show the average is a working network and not a collapse.

Stage 2, extra layers + progressive unfreezing
    The merged backbone gets the "extra layers": the ``head`` (linear -> ReLU -> linear) of the final
    architecture, freshly initialised. Fine-tuning runs four phases, unfreezing from the last layer
    backwards: (1) head only, (2) + block3, (3) + block2, (4) + block1 (everything). Each phase has its
    own AdamW + one-cycle schedule with a peak learning rate that falls phase by phase. Frozen blocks are
    kept in eval mode, so their BatchNorm statistics are frozen too, not just their weights. Training
    samples are augmented with probability 1/2 (the union of the two stage-1 datasets). After every
    epoch of stage 2 the model is scored on the validation split; the best epoch (top-1, then loss) is
    the result, so the saved model is exactly ``build(...)``.

Data: no ``data`` -> digits-28 (train for fitting, val for model selection, test reported once at the
end). A directory -> MNIST / Fashion-MNIST / CIFAR-10, detected from its files, with a seeded val split
carved off train. Inputs are normalised with the model spec's preprocessing mean/std (identity for the
grey 28x28 models). ``epochs`` sets stage 1's epochs; the stage-2 phases scale with it (at least 1 each).
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from torch import nn

from edge_sdk.errors import DatasetError
from edge_sdk.training.common import seed_everything, single_thread
from edge_sdk.training.compact_cnn_stages import (
    DualInputOutput,
    Normalize,
    Schedule,
    merge_backbones,
    predict,
    progressive_unfreeze,
    recalibrate_bn,
    score,
    stage1_dual,
)
from edge_sdk.zoo.compact_cnn import CompactCNN

__all__ = [
    "RECIPE",
    "SCHEDULES",
    "DualInputOutput",
    "Schedule",
    "merge_backbones",
    "progressive_unfreeze",
    "recalibrate_bn",
    "single_thread",
    "stage1_dual",
    "train",
]

RECIPE = "dual-input-output(orig|aug, shared init) -> weight-average merge + BN recalibration -> head + " \
         "progressive unfreezing (head, block3, block2, block1)"


SCHEDULES: dict[str, Schedule] = {
    "digits-28": Schedule(stage1_epochs=30, phase_epochs=(4, 4, 4, 20)),
    "mnist": Schedule(stage1_epochs=10, phase_epochs=(1, 1, 2, 6), batch_size=128),
    "fashion-mnist": Schedule(stage1_epochs=15, phase_epochs=(1, 2, 2, 8), batch_size=128),
    "cifar-10": Schedule(stage1_epochs=30, phase_epochs=(2, 3, 3, 15), batch_size=128),
}


# --------------------------------------------------------------------------------------------- entry


def train(
    *,
    out: Path,
    seed: int = 0,
    data: Path | None = None,
    epochs: int | None = None,
    show_progress: bool = True,
    model_name: str = "compact-cnn",
) -> dict[str, float]:
    """Train ``model_name`` (compact-cnn or compact-cnn-cifar) with the two-stage recipe; save to ``out``.

    Returns metrics: per-stage validation top-1 (``stage1_*``, ``merge_val_top1``, ``stage2_phase*``),
    the selected ``val_top1``, ``test_top1``, ``params`` and ``train_seconds``.

    Runs on one CPU thread (restored afterwards): these small convolutions gain little from more, and
    with several threads a busy machine slows them down several-fold (OpenMP oversubscription).
    """
    with single_thread():
        return _train(out=out, seed=seed, data=data, epochs=epochs, show_progress=show_progress,
                      model_name=model_name)


def _train(
    *, out: Path, seed: int, data: Path | None, epochs: int | None, show_progress: bool, model_name: str
) -> dict[str, float]:
    from edge_sdk.data.classification import DATASETS, detect_dataset, load_splits
    from edge_sdk.zoo.registry import get_spec, resolve
    from edge_sdk.zoo.weights import save_weights

    t0 = time.perf_counter()
    spec = get_spec(model_name)
    dataset = "digits-28" if data is None else detect_dataset(data)
    shape = DATASETS[dataset][0]
    if tuple(spec.input_shape) != shape:
        want = "x".join(map(str, spec.input_shape))
        if data is None:
            raise DatasetError(
                f"{model_name} takes {want} images and the built-in digits-28 is 1x28x28: "
                f"pass --data DIR with a matching dataset (CIFAR-10 binary batches for 3x32x32)"
            )
        hint = {(1, 28, 28): "compact-cnn", (3, 32, 32): "compact-cnn-cifar"}.get(shape)
        raise DatasetError(
            f"{model_name} takes {want} images but {data} ({dataset}) holds {'x'.join(map(str, shape))}"
            + (f": train {hint} on it instead" if hint else "")
        )
    splits = load_splits(dataset, data)
    schedule = SCHEDULES[dataset] if epochs is None else SCHEDULES[dataset].scaled(epochs)

    seed_everything(seed)
    gen = torch.Generator().manual_seed(seed)
    builder = resolve(spec.builder)
    pp = spec.preprocessing
    prep = Normalize(pp.get("mean", [0.0]), pp.get("std", [1.0]))

    def make() -> CompactCNN:
        return builder(**spec.config)  # type: ignore[no-any-return]

    # stage 1
    dual, metrics = stage1_dual(make, splits["train"], splits["val"], schedule, prep, gen, show_progress)

    # merge: averaged backbone (+ averaged branch classifiers, only to score the merge itself)
    model = make().to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    merge_backbones(dual.orig.net, dual.aug.net, into=model)
    recalibrate_bn(model, splits["train"][0], prep, gen)
    model.eval()
    cls = nn.Linear(model.feature_dim, model.num_classes)
    with torch.no_grad():
        cls.weight.copy_((dual.orig.classifier.weight + dual.aug.classifier.weight) / 2)
        cls.bias.copy_((dual.orig.classifier.bias + dual.aug.classifier.bias) / 2)
    xv, yv = splits["val"]
    metrics["merge_val_top1"] = score(predict(lambda t: cls(model.features(prep(t))), xv), yv)[0]
    del dual

    # stage 2
    metrics.update(progressive_unfreeze(model, splits["train"], splits["val"], schedule, prep, gen, show_progress))

    xt, yt = splits["test"]
    metrics["test_top1"] = score(predict(lambda t: model(prep(t)), xt), yt)[0]
    metrics["params"] = float(sum(p.numel() for p in model.parameters()))
    metrics["train_seconds"] = time.perf_counter() - t0
    meta = {
        "model": model_name,
        "seed": str(seed),
        "recipe": RECIPE,
        "dataset": dataset,
        "schedule": f"stage1={schedule.stage1_epochs} phases={','.join(map(str, schedule.phase_epochs))}",
        **{k: f"{v:.6g}" for k, v in metrics.items()},
    }
    save_weights(model, out, metadata=meta)
    return metrics
