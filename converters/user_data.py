"""A user's data (``--calib`` / ``--val-data``, Python ``calibration=`` / ``data=``), read by
:func:`read_data`:

* an ``.npy`` array N x ... (samples, no labels);
* an ``.npz`` with ``x`` (N x ...) and optionally ``y`` (N labels, or N x ... targets);
* a directory in ImageFolder layout, one sub-folder per class (``val/cat/1.png``, ``val/dog/7.jpg``):
  labelled, a class's index being its position in the model's labels when every folder name is one
  of them, else in the sorted folder names (torchvision's rule); samples are taken round-robin over
  the classes, so any prefix (``--calib-count``) and every held-out part covers them all;
* any other directory (or one image file): its images, unlabelled, preprocessed as the manifest says.

Arrays are read with ``allow_pickle=False`` and refused over :func:`max_data_bytes` (4 GiB,
``EDGE_SDK_MAX_DATA_BYTES=N``); only regular files are opened (no FIFOs, devices).

In an image directory, a file that does not decode is skipped and reported (a :class:`DataWarning`
naming it), as the camera sources do; more than :data:`MAX_CORRUPT` such files, or more than half of
those read, is a :class:`DatasetError` (the wrong directory, not a stray file).
"""

from __future__ import annotations

import os
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from converters.limits import env_limit
from converters.sources import ModelSource
from edge_sdk.errors import DatasetError
from edge_sdk.preprocess import preprocess_image

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
ARRAY_EXTS = (".npy", ".npz")
MAX_CORRUPT = 10  # corrupt images skipped in a data directory before it is refused
MAX_DATA_BYTES = 4 << 30  # an .npy/.npz larger than this (or with members larger) is refused


class DataWarning(UserWarning):
    """Some input data was skipped (corrupt images); the message names the files."""


@dataclass
class Samples:
    """Samples read from a user path: ``x``, labels ``y`` when the format has them, and for images the
    files (relative to the path) in sample order."""

    x: np.ndarray
    y: np.ndarray | None
    format: str  # npy | npz | images | imagefolder | array
    files: list[str] | None = None
    classes: dict[str, int] | None = None


def max_data_bytes() -> int:
    return env_limit("EDGE_SDK_MAX_DATA_BYTES", MAX_DATA_BYTES)


def _regular_file(path: Path) -> None:
    if not path.is_file():  # follows links; False for FIFOs, devices, directories
        raise DatasetError(f"{path}: not a regular file")


def _numeric(arr: np.ndarray, what: str) -> np.ndarray:
    if arr.dtype.kind not in "biuf":
        raise DatasetError(f"{what}: expected a numeric array, got dtype {arr.dtype}")
    return arr


def _fits(shape: Sequence[int], want: Sequence[int | str]) -> bool:
    """Whether one sample's shape fits the model's (a non-int dim, e.g. a symbolic height, takes any size)."""
    return len(shape) == len(want) and all(not isinstance(w, int) or w == s for s, w in zip(shape, want))


def _read_arrays(path: Path, input_shape: Sequence[int | str], count: int | None) -> Samples:
    _regular_file(path)
    limit = max_data_bytes()
    if path.stat().st_size > limit:
        raise DatasetError(f"{path}: {path.stat().st_size} bytes, over the limit of {limit} "
                           "(EDGE_SDK_MAX_DATA_BYTES=N raises it)")
    y: np.ndarray | None = None
    try:
        if path.suffix == ".npy":
            x = np.load(path, mmap_mode="r", allow_pickle=False)  # nothing allocated until rows are taken
        else:
            with zipfile.ZipFile(path) as z:
                sizes = {i.filename: i.file_size for i in z.infolist()}
            if sum(sizes.values()) > limit:
                raise DatasetError(f"{path}: {sum(sizes.values())} bytes uncompressed, over the limit of {limit} "
                                   "(EDGE_SDK_MAX_DATA_BYTES=N raises it)")
            with np.load(path, allow_pickle=False) as z:
                if "x" not in z.files:
                    raise DatasetError(f"{path}: an .npz of data needs an array 'x' (samples) and optionally 'y' "
                                       f"(labels); it holds {', '.join(z.files)[:200] or 'nothing'}")
                x = z["x"]
                y = z["y"] if "y" in z.files else None
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
        raise DatasetError(f"{path}: not a plain numeric {path.suffix} file ({str(e)[:200]})") from None
    _numeric(x, str(path))
    if x.ndim < 1 or not _fits(x.shape[1:], input_shape):
        raise DatasetError(
            f"{path}: expected an array N x {'x'.join(map(str, input_shape))}, got shape {x.shape}"
        )
    if y is not None:
        _numeric(y, f"{path} 'y'")
        if y.ndim < 1 or len(y) != len(x):
            raise DatasetError(f"{path}: 'y' holds {len(y) if y.ndim else 'a scalar'} labels for {len(x)} samples")
    x = np.asarray(x[:count] if count else x, np.float32)
    if y is not None:
        y = np.asarray(y[:count] if count else y)
    return Samples(x, y, path.suffix[1:])


def _image_files(path: Path) -> list[Path]:
    found = [path] if path.is_file() else sorted(path.rglob("*"))
    return [p for p in found if p.suffix.lower() in IMAGE_EXTS and p.is_file()]


def _class_dirs(path: Path) -> list[Path]:
    """The class sub-folders of an ImageFolder layout; [] when ``path`` is not one (images at its top level)."""
    if not path.is_dir() or any(p.suffix.lower() in IMAGE_EXTS and p.is_file() for p in path.iterdir()):
        return []
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


def _read_images(path: Path, files: list[Path], spec: dict[str, Any], count: int | None,
                 what: str) -> tuple[np.ndarray, list[int]]:
    """Decoded, preprocessed images; the positions in ``files`` of the ones kept."""
    import cv2

    if not files:
        raise DatasetError(f"{path}: no images ({', '.join(IMAGE_EXTS)}) and not an .npy/.npz file")
    if not spec:
        raise DatasetError(f"{what} has no image preprocessing spec; give the data as .npy or .npz")
    samples: list[np.ndarray] = []
    kept: list[int] = []
    bad: list[str] = []
    for i, f in enumerate(files):
        if count and len(samples) >= count:
            break
        img = cv2.imread(str(f), cv2.IMREAD_UNCHANGED)
        if img is None or img.size == 0:
            bad.append(f.name)
            if len(bad) > MAX_CORRUPT:
                break
            continue
        samples.append(preprocess_image(img, spec))
        kept.append(i)
    if len(bad) > MAX_CORRUPT or len(bad) > len(samples):
        raise DatasetError(f"{path}: {len(bad)} of {len(bad) + len(samples)} images read do not decode "
                           f"({', '.join(bad[:5])}{', ...' if len(bad) > 5 else ''}); check the directory, "
                           "or remove the broken files")
    if bad:
        warnings.warn(f"{path}: skipped {len(bad)} image(s) that do not decode: {', '.join(bad[:5])}"
                      + (", ..." if len(bad) > 5 else ""), DataWarning, stacklevel=3)
    return np.stack(samples), kept


def _read_image_folder(path: Path, classes: list[Path], spec: dict[str, Any], labels: Sequence[str],
                       count: int | None, what: str) -> Samples:
    names = [c.name for c in classes]
    by_label = bool(labels) and all(n in labels for n in names)
    index = {n: (list(labels).index(n) if by_label else i) for i, n in enumerate(names)}
    per_class = [_image_files(c) for c in classes]
    order: list[tuple[str, Path]] = []  # round-robin over the classes: every prefix and every 5th covers them all
    for k in range(max((len(f) for f in per_class), default=0)):
        order += [(n, f[k]) for n, f in zip(names, per_class) if k < len(f)]
    x, kept = _read_images(path, [f for _, f in order], spec, count, what)
    y = np.array([index[order[i][0]] for i in kept], np.int64)
    return Samples(x, y, "imagefolder", [str(order[i][1].relative_to(path)) for i in kept], index)


def read_data(path: str | os.PathLike[str], input_shape: Sequence[int | str], preprocessing: dict[str, Any],
              labels: Sequence[str] = (), count: int | None = None, what: str = "the model") -> Samples:
    """Samples (and labels where the format has them) from a user path: ``.npy``, ``.npz`` (``x``, ``y``), an
    ImageFolder directory, or images; the first ``count`` when given (module docstring)."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"data path not found: {path}")
    if path.suffix in ARRAY_EXTS:
        out = _read_arrays(path, input_shape, count)
    elif classes := _class_dirs(path):
        out = _read_image_folder(path, classes, preprocessing, labels, count, what)
    else:
        x, kept = _read_images(path, files := _image_files(path), preprocessing, count, what)
        root = path if path.is_dir() else path.parent
        out = Samples(x, None, "images", [str(files[i].relative_to(root)) for i in kept])
    if not np.isfinite(out.x).all():
        raise DatasetError(f"{path}: samples contain NaN or Inf")
    return out


def load_samples(path: Path, src: ModelSource, count: int | None = None) -> np.ndarray:
    """Samples from a user path (labels, if any, dropped): see :func:`read_data`."""
    return read_data(path, src.input_shape, src.preprocessing, src.labels, count, src.name).x


def _given(value: Any, src: ModelSource, count: int | None, what: str) -> tuple[Samples, str | None]:
    """A path, an array or an ``(x, y)`` pair given to export, as Samples, and the path it came from."""
    if isinstance(value, (str, os.PathLike)):
        return read_data(value, src.input_shape, src.preprocessing, src.labels, count, src.name), \
            str(Path(value).resolve())
    x, y = value if isinstance(value, tuple) and len(value) == 2 else (value, None)
    x = np.asarray(x)
    _numeric(x, what)
    if x.ndim < 1 or not _fits(x.shape[1:], src.input_shape) or not len(x):
        raise DatasetError(f"{what}: expected an array N x {'x'.join(map(str, src.input_shape))}, got {x.shape}")
    if y is not None:
        y = _numeric(np.asarray(y), f"{what} labels")
        if y.ndim < 1 or len(y) != len(x):
            raise DatasetError(f"{what}: {len(y) if y.ndim else 'a scalar'} labels for {len(x)} samples")
        y = y[:count] if count else y
    x = np.asarray(x[:count] if count else x, np.float32)
    if not np.isfinite(x).all():
        raise DatasetError(f"{what}: samples contain NaN or Inf")
    return Samples(x, y, "array"), None
