"""Calibration and validation samples for a model source.

Defaults come from the model's own data: digits-28 for digit classifiers (train split to
calibrate, test split to validate), the synthetic dual-exposure set for emlp (DEF vectors), and
scikit-image's real sample photographs for the ImageNet-shaped CARE models. A user can point at
a directory of images (preprocessed as the manifest says) or an ``.npy`` array N x ... .
Models from outside the zoo are validated on seeded standard-normal inputs unless given data.

In an image directory, a file that does not decode is skipped and reported (a :class:`DataWarning`
naming it), as the camera sources do; more than :data:`MAX_CORRUPT` such files, or more than half of
those read, is a :class:`DatasetError` (the wrong directory, not a stray file).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from converters.sources import ModelSource
from edge_sdk.errors import DatasetError, EdgeSDKError
from edge_sdk.preprocess import preprocess_image

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
MAX_CORRUPT = 10  # corrupt images skipped in a data directory before it is refused
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "cat", "immunohistochemistry", "motorcycle", "colorwheel")


class DataWarning(UserWarning):
    """Some input data was skipped (corrupt images); the message names the files."""


@dataclass
class EvalSet:
    x: np.ndarray
    y: np.ndarray | None  # labels (classification) or true illuminants (emlp); None: compare outputs only
    name: str


def _photos(count: int, seed: int, spec: dict[str, Any]) -> np.ndarray:
    """Random crops of scikit-image's real photographs, preprocessed for an RGB model."""
    import skimage.data as sk

    rng = np.random.default_rng(seed)
    imgs = []
    for name in PHOTOS:
        fn = getattr(sk, "stereo_motorcycle" if name == "motorcycle" else name)
        im = fn()
        im = im[0] if isinstance(im, tuple) else im
        if im.ndim == 3 and im.shape[2] >= 3:
            imgs.append(np.ascontiguousarray(im[:, :, 2::-1]))  # RGB -> BGR, OpenCV order
    out = []
    for i in range(count):
        im = imgs[i % len(imgs)]
        h, w = im.shape[:2]
        side = int(min(h, w) * rng.uniform(0.5, 1.0))
        y0, x0 = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        crop = im[y0 : y0 + side, x0 : x0 + side]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        out.append(preprocess_image(np.ascontiguousarray(crop), spec))
    return np.stack(out)


def _digits(split: str) -> tuple[np.ndarray, np.ndarray]:
    from edge_sdk.data.digits import load_digits28

    return load_digits28(split)


def _emlp(split: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    from edge_sdk.data.dual_exposure import make_feature_dataset

    x, y = make_feature_dataset(split, n)
    return x.astype(np.float32), y.astype(np.float32)


def load_samples(path: Path, src: ModelSource, count: int | None = None) -> np.ndarray:
    """Samples from a user path: an ``.npy`` array, or a directory (or one file) of images."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"data path not found: {path}")
    if path.suffix == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except ValueError as e:
            raise DatasetError(f"{path}: not a plain numeric .npy array ({e})") from None
        if arr.ndim < 1 or tuple(arr.shape[1:]) != tuple(src.input_shape):
            raise DatasetError(
                f"{path}: expected an array N x {'x'.join(map(str, src.input_shape))}, got shape {arr.shape}"
            )
        arr = arr.astype(np.float32)
    else:
        import cv2

        files = sorted(p for p in ([path] if path.is_file() else path.rglob("*")) if p.suffix.lower() in IMAGE_EXTS)
        if not files:
            raise DatasetError(f"{path}: no images ({', '.join(IMAGE_EXTS)}) and not an .npy file")
        if not src.preprocessing:
            raise DatasetError(f"{src.name} has no image preprocessing spec; give calibration data as .npy")
        samples: list[np.ndarray] = []
        bad: list[str] = []
        for f in files:
            if count and len(samples) >= count:
                break
            img = cv2.imread(str(f), cv2.IMREAD_UNCHANGED)
            if img is None or img.size == 0:
                bad.append(f.name)
                if len(bad) > MAX_CORRUPT:
                    break
                continue
            samples.append(preprocess_image(img, src.preprocessing))
        if len(bad) > MAX_CORRUPT or len(bad) > len(samples):
            raise DatasetError(f"{path}: {len(bad)} of {len(bad) + len(samples)} images read do not decode "
                               f"({', '.join(bad[:5])}{', ...' if len(bad) > 5 else ''}); check the directory, "
                               "or remove the broken files")
        if bad:
            warnings.warn(f"{path}: skipped {len(bad)} image(s) that do not decode: {', '.join(bad[:5])}"
                          + (", ..." if len(bad) > 5 else ""), DataWarning, stacklevel=2)
        arr = np.stack(samples)
    if not np.isfinite(arr).all():
        raise DatasetError(f"{path}: samples contain NaN or Inf")
    out: np.ndarray = arr[:count] if count else arr
    return out


def calibration_samples(src: ModelSource, path: Path | None = None, count: int | None = None) -> np.ndarray:
    """Samples for INT8 calibration (training data, never the validation split)."""
    if path is not None:
        return load_samples(path, src, count)
    count = count or 256
    zoo = src.zoo_name or ""
    if zoo == "emlp":
        return _emlp("train", count)[0]
    if src.preprocessing.get("size") == [28, 28] and zoo:
        return _digits("train")[0][:count]
    if zoo.startswith("care-s") or (zoo and src.preprocessing.get("color") == "rgb"):
        return _photos(min(count, 32), seed=1, spec=src.preprocessing)
    raise EdgeSDKError(
        f"{src.name}: no default calibration data for a model outside the zoo; pass --calib DIR_OR_NPY"
    )


def validation_set(src: ModelSource, path: Path | None = None, count: int | None = None) -> EvalSet:
    """Held-out samples (with labels or true illuminants when the model has them) for parity checks."""
    if path is not None:
        return EvalSet(load_samples(path, src, count), None, str(path))
    zoo = src.zoo_name or ""
    if zoo == "emlp":
        x, y = _emlp("test", count or 300)
        return EvalSet(x, y, "synthetic-dual-exposure/test")
    if src.preprocessing.get("size") == [28, 28] and zoo:
        x, y = _digits("test")
        return EvalSet(x[:count] if count else x, y[:count] if count else y, "digits-28/test")
    if zoo.startswith("care-s") or (zoo and src.preprocessing.get("color") == "rgb"):
        return EvalSet(_photos(count or 16, seed=2, spec=src.preprocessing), None, "skimage-photos")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((count or 64, *src.input_shape)).astype(np.float32)
    return EvalSet(x, None, "random-normal(seed=0)")
