"""CIFAR-10, *binary* version only (``cifar-10-binary.tar.gz``). The python version is pickle: refused.

Each ``.bin`` file is a sequence of 3,073-byte records: one label byte (0..9), then a 32 x 32 image as
1,024 red, 1,024 green and 1,024 blue bytes (channel-major, rows top to bottom). The train split is
``data_batch_1.bin`` .. ``data_batch_5.bin``, the test split ``test_batch.bin``; they may sit in the
given directory or in its ``cifar-10-batches-bin/`` subdirectory.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edge_sdk.errors import DatasetError

__all__ = [
    "BINARY_URL",
    "RECORD_BYTES",
    "SPLIT_FILES",
    "find_cifar10_dir",
    "is_cifar10_python_dir",
    "load_cifar10_dir",
    "read_cifar10_batch",
]

BINARY_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
RECORD_BYTES = 1 + 3 * 32 * 32
SPLIT_FILES = {
    "train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
    "test": ("test_batch.bin",),
}
_PY_MARKERS = ("data_batch_1", "test_batch", "batches.meta")


def read_cifar10_batch(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """One binary batch: ``(images uint8 N x 3 x 32 x 32, labels uint8 N)``."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DatasetError(f"cannot read CIFAR-10 batch {path}: {e.strerror or e}") from None
    if len(data) == 0 or len(data) % RECORD_BYTES:
        raise DatasetError(
            f"{path} is not a CIFAR-10 binary batch: {len(data)} bytes is not a positive multiple of "
            f"{RECORD_BYTES} (1 label byte + 3072 image bytes per record); truncated or wrong file?"
        )
    rec = np.frombuffer(data, dtype=np.uint8).reshape(-1, RECORD_BYTES)
    labels = rec[:, 0].copy()
    if int(labels.max()) > 9:
        bad = int(np.argmax(labels > 9))
        raise DatasetError(f"{path}: record {bad} has label {int(labels[bad])}, CIFAR-10 labels are 0..9")
    return rec[:, 1:].reshape(-1, 3, 32, 32).copy(), labels


def is_cifar10_python_dir(folder: Path) -> bool:
    """True when ``folder`` (or its ``cifar-10-batches-py/``) holds the pickled python version."""
    for d in (folder, folder / "cifar-10-batches-py"):
        if d.is_dir() and any((d / m).is_file() for m in _PY_MARKERS):
            return True
    return False


def find_cifar10_dir(data_dir: str | os.PathLike[str]) -> Path | None:
    """The folder holding any CIFAR-10 binary batch: ``data_dir`` or ``data_dir/cifar-10-batches-bin``."""
    root = Path(data_dir)
    names = [n for files in SPLIT_FILES.values() for n in files]
    for d in (root, root / "cifar-10-batches-bin"):
        if d.is_dir() and any((d / n).is_file() for n in names):
            return d
    return None


def _python_version_error(root: Path) -> DatasetError:
    return DatasetError(
        f"{root} holds the python (pickle) version of CIFAR-10, which edge-sdk never loads because "
        f"unpickling can execute code. Download the binary version instead: {BINARY_URL} "
        f"(it unpacks to cifar-10-batches-bin/)"
    )


def load_cifar10_dir(data_dir: str | os.PathLike[str], split: str) -> tuple[np.ndarray, np.ndarray]:
    """Load a split: ``(x, y)``, float32 N x 3 x 32 x 32 in [0, 1] (RGB) and int64 labels."""
    if split not in SPLIT_FILES:
        raise DatasetError(f"unknown CIFAR-10 split {split!r}; the binary files hold 'train' and 'test'")
    root = Path(data_dir)
    if not root.is_dir():
        raise DatasetError(f"dataset directory not found: {root}")
    folder = find_cifar10_dir(root)
    if folder is None:
        if is_cifar10_python_dir(root):
            raise _python_version_error(root)
        raise DatasetError(
            f"no CIFAR-10 binary batches in {root} (nor in {root / 'cifar-10-batches-bin'}): expected "
            f"{', '.join(SPLIT_FILES['train'])} and {SPLIT_FILES['test'][0]} from {BINARY_URL}"
        )
    missing = [n for n in SPLIT_FILES[split] if not (folder / n).is_file()]
    if missing:
        raise DatasetError(f"CIFAR-10 {split} split is incomplete: missing {', '.join(missing)} in {folder}")
    parts = [read_cifar10_batch(folder / n) for n in SPLIT_FILES[split]]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    x = images.astype(np.float32)
    x /= 255.0
    return x, labels.astype(np.int64)
