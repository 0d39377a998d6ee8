"""digits-28: scikit-learn's 1,797 real handwritten digits (8x8, 17 grey levels), resized to 28x28.

The fixed split is stratified and seeded: 70 % train, 10 % val, 20 % test (1,258 / 179 / 360).
It is the data behind the shipped ``compact-cnn`` and ``care-tiny`` weights. The resize is
OpenCV's bicubic on a 2-pixel padded 8x8 -> 24x24 digit, centred on a 28x28 canvas, the way
MNIST centres a 20x20 digit in 28x28.

Where scikit-learn is not installed (the thin device install), the same 1,797 8x8 digits come from
the copy shipped in :mod:`edge_sdk.assets` (``digits.npz``, made by ``tools/make_assets.py``): every
split is identical, bit for bit.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from edge_sdk.assets import load_asset
from edge_sdk.errors import DatasetError

SPLITS = ("train", "val", "test")
_SPLIT_SEED = 20250101


def host_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as published: uint8 (1797, 8, 8) grey levels 0-16 and uint8 labels.

    Raises ImportError where scikit-learn is not installed."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.images.astype(np.uint8), d.target.astype(np.uint8)


def _source_digits() -> tuple[np.ndarray, np.ndarray]:
    try:
        return host_digits()
    except ImportError:  # the thin install: the copy in edge_sdk.assets
        data = load_asset("digits")
        return data["images"], data["labels"]


@lru_cache(maxsize=1)
def _all() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import cv2

    images, labels = _source_digits()
    imgs = (images / 16.0).astype(np.float32)
    out = np.zeros((len(imgs), 1, 28, 28), np.float32)
    for i, im in enumerate(imgs):
        big = cv2.resize(im, (24, 24), interpolation=cv2.INTER_CUBIC)
        out[i, 0, 2:26, 2:26] = np.clip(big, 0.0, 1.0)
    y = labels.astype(np.int64)
    # stratified split: per class, a seeded permutation cut 70/10/20
    rng = np.random.default_rng(_SPLIT_SEED)
    split = np.empty(len(y), dtype=np.int8)
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_tr, n_va = round(0.7 * len(idx)), round(0.1 * len(idx))
        split[idx[:n_tr]], split[idx[n_tr : n_tr + n_va]], split[idx[n_tr + n_va :]] = 0, 1, 2
    return out, y, split


def load_digits28(split: str) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(x, y)``: float32 N x 1 x 28 x 28 in [0, 1] and int64 labels, for one split."""
    if split not in SPLITS:
        raise DatasetError(f"unknown digits-28 split {split!r}; choose one of {', '.join(SPLITS)}")
    x, y, s = _all()
    m = s == SPLITS.index(split)
    return x[m].copy(), y[m].copy()
