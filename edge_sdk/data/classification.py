"""One entry point for the image-classification datasets: built-in digits-28, and bring-your-own
MNIST / Fashion-MNIST (IDX files) and CIFAR-10 (binary batches) directories.

Every split is ``(x, y)``: float32 N x C x H x W in [0, 1] and int64 labels. The user datasets ship a
train and a test split only; their ``"val"`` split is carved off train, stratified and with a fixed
seed (so it never depends on the training seed), and ``"train"`` is what remains.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edge_sdk.errors import DatasetError

__all__ = [
    "DATASETS",
    "SPLITS",
    "VAL_FRACTION",
    "detect_dataset",
    "load_classification",
    "load_splits",
    "split_off_val",
]

#: dataset name -> (input shape of one sample, where it comes from)
DATASETS: dict[str, tuple[tuple[int, int, int], str]] = {
    "digits-28": ((1, 28, 28), "built in (scikit-learn digits resized to 28x28)"),
    "mnist": ((1, 28, 28), "a directory of MNIST IDX files"),
    "fashion-mnist": ((1, 28, 28), "a directory of Fashion-MNIST IDX files"),
    "cifar-10": ((3, 32, 32), "a directory of CIFAR-10 binary batches"),
}
SPLITS = ("train", "val", "test")
VAL_FRACTION = 0.1
_VAL_SEED = 20250102
_ALIASES = {
    "digits": "digits-28", "digits28": "digits-28",
    "fashion": "fashion-mnist", "fashionmnist": "fashion-mnist",
    "cifar10": "cifar-10", "cifar": "cifar-10",
}


def _canonical(dataset: str) -> str:
    key = dataset.strip().lower().replace("_", "-")
    key = _ALIASES.get(key.replace("-", ""), key)
    if key not in DATASETS:
        raise DatasetError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    return key


def split_off_val(
    x: np.ndarray, y: np.ndarray, fraction: float = VAL_FRACTION, seed: int = _VAL_SEED
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Stratified, seeded split: ``((x_train, y_train), (x_val, y_val))``, original order kept."""
    if len(y) < 2:
        raise DatasetError(f"cannot carve a validation split off {len(y)} training sample(s)")
    rng = np.random.default_rng(seed)
    is_val = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        is_val[idx[: int(round(fraction * len(idx)))]] = True
    if not is_val.any():  # tiny sets: at least one validation sample
        is_val[rng.integers(len(y))] = True
    if is_val.all():
        is_val[rng.integers(len(y))] = False
    return (x[~is_val], y[~is_val]), (x[is_val], y[is_val])


def _mnist_flavour(root: Path, images: Path) -> str:
    """MNIST or Fashion-MNIST? Their files have the same names and shapes.

    A "fashion" in the path decides. Otherwise the content: Fashion-MNIST products are scaled so their
    longest side spans the 28 pixels, so nearly every image touches the outer pixel frame, while MNIST
    digits sit in a centred 20 x 20 box and almost never do.
    """
    if any("fashion" in part.lower() for part in (*root.resolve().parts, *images.parent.parts)):
        return "fashion-mnist"
    from edge_sdk.data.idx import read_idx

    imgs = read_idx(images)[:2000]
    if imgs.ndim != 3 or len(imgs) == 0:
        return "mnist"  # the loader reports the malformed file
    frame = np.concatenate(
        [imgs[:, 0, :], imgs[:, -1, :], imgs[:, :, 0], imgs[:, :, -1]], axis=1
    ).astype(np.float32)
    touching = float((frame.max(axis=1) > 0.2 * float(imgs.max() or 1)).mean())
    return "fashion-mnist" if touching > 0.3 else "mnist"


def detect_dataset(data_dir: str | os.PathLike[str]) -> str:
    """Name the dataset a directory holds: ``"mnist"``, ``"fashion-mnist"`` or ``"cifar-10"``."""
    from edge_sdk.data.cifar import BINARY_URL, find_cifar10_dir, is_cifar10_python_dir
    from edge_sdk.data.idx import find_mnist_files

    root = Path(data_dir)
    if not root.is_dir():
        raise DatasetError(f"dataset directory not found: {root}")
    files = find_mnist_files(root, "test") or find_mnist_files(root, "train")
    if files is not None:
        return _mnist_flavour(root, files[0])
    if find_cifar10_dir(root) is not None:
        return "cifar-10"
    if is_cifar10_python_dir(root):
        raise DatasetError(
            f"{root} holds the python (pickle) version of CIFAR-10, which edge-sdk never loads; "
            f"download the binary version instead: {BINARY_URL}"
        )
    raise DatasetError(
        f"cannot tell which dataset {root} holds: expected MNIST / Fashion-MNIST IDX files "
        f"(train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], "
        f"t10k-labels-idx1-ubyte[.gz]) or CIFAR-10 binary batches (data_batch_1.bin .. data_batch_5.bin, "
        f"test_batch.bin, possibly in cifar-10-batches-bin/)"
    )


def _load_file_split(dataset: str, root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    if dataset == "cifar-10":
        from edge_sdk.data.cifar import load_cifar10_dir

        return load_cifar10_dir(root, split)
    from edge_sdk.data.idx import load_mnist_dir

    return load_mnist_dir(root, split)


def _resolve(dataset: str, data_dir: str | os.PathLike[str] | None) -> tuple[str, Path | None]:
    if dataset == "auto":
        if data_dir is None:
            raise DatasetError("dataset 'auto' needs a data directory to detect")
        return detect_dataset(data_dir), Path(data_dir)
    name = _canonical(dataset)
    if name == "digits-28":
        return name, None  # built in; a data_dir is ignored
    if data_dir is None:
        raise DatasetError(f"{name} is not bundled with edge-sdk: pass the directory holding {DATASETS[name][1]}")
    return name, Path(data_dir)


def load_classification(
    dataset: str, split: str, data_dir: str | os.PathLike[str] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Load one split (``"train"``, ``"val"`` or ``"test"``) of ``dataset`` (a name from DATASETS or
    ``"auto"`` to detect it from ``data_dir``)."""
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    name, root = _resolve(dataset, data_dir)
    if root is None:
        from edge_sdk.data.digits import load_digits28

        return load_digits28(split)
    if split == "test":
        return _load_file_split(name, root, "test")
    train, val = split_off_val(*_load_file_split(name, root, "train"))
    return train if split == "train" else val


def load_splits(
    dataset: str, data_dir: str | os.PathLike[str] | None = None
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """All three splits at once (reads the training files once)."""
    name, root = _resolve(dataset, data_dir)
    if root is None:
        from edge_sdk.data.digits import load_digits28

        return {s: load_digits28(s) for s in SPLITS}
    train, val = split_off_val(*_load_file_split(name, root, "train"))
    return {"train": train, "val": val, "test": _load_file_split(name, root, "test")}
