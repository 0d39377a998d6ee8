"""Calibration and validation samples for a model source.

Defaults come from the model's own data: digits-28 for digit classifiers (train split to
calibrate, test split to validate), the synthetic dual-exposure set for emlp (DEF vectors), and
scikit-image's real sample photographs for the ImageNet-shaped CARE models.

A user's data (``--calib`` / ``--val-data``, Python ``calibration=`` / ``data=``) is read by
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

**Honest validation.** A model from outside the zoo that is given calibration data but no
validation data is validated on a fixed part of the calibration data held out from calibration
(:func:`held_out`: every 5th sample, or the last of 2-4); the manifest's ``extra.validation`` records
which samples (indices, and file names for images) so ``edge-sdk validate`` can read them again.
Seeded random inputs are used only when no data at all is given, with a
:class:`NoValidationDataWarning` that names ``--val-data``.

In an image directory, a file that does not decode is skipped and reported (a :class:`DataWarning`
naming it), as the camera sources do; more than :data:`MAX_CORRUPT` such files, or more than half of
those read, is a :class:`DatasetError` (the wrong directory, not a stray file).
"""

from __future__ import annotations

import hashlib
import os
import warnings
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from converters.sources import ModelSource, env_limit
from edge_sdk.errors import DatasetError, EdgeSDKError
from edge_sdk.preprocess import preprocess_image

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
ARRAY_EXTS = (".npy", ".npz")
MAX_CORRUPT = 10  # corrupt images skipped in a data directory before it is refused
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "cat", "immunohistochemistry", "motorcycle", "colorwheel")
HOLDOUT_EVERY = 5  # every 5th calibration sample validates when no validation data is given
MAX_DATA_BYTES = 4 << 30  # an .npy/.npz larger than this (or with members larger) is refused
MAX_RECORDED_SAMPLES = 1 << 20  # a manifest asking to read more samples than this is refused
RANDOM_SAMPLES = 64


class DataWarning(UserWarning):
    """Some input data was skipped (corrupt images); the message names the files."""


class ValidationDataWarning(UserWarning):
    """About the data a validation runs on: the data a manifest records is gone or changed, a metric not re-run."""


class NoValidationDataWarning(UserWarning):
    """A model is validated on seeded random inputs because no data was given: the message says how to give it."""


@dataclass
class EvalSet:
    x: np.ndarray
    y: np.ndarray | None  # labels (classification) or true illuminants (emlp); None: compare outputs only
    name: str
    record: dict[str, Any] = field(default_factory=dict)  # manifest extra.validation: where x came from
    metric: Any = None  # a converters.user_metric.UserMetric that judges the gate instead of the built-in metric
    note: str = ""  # one line to tell the user when the set was chosen for them (held out from calibration)


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


def _digits_test(n: int | None) -> EvalSet:
    x, y = _digits("test")
    return EvalSet(x[:n] if n else x, y[:n] if n else y, "digits-28/test")


def _emlp(split: str, n: int, model: str = "emlp") -> tuple[np.ndarray, np.ndarray]:
    from edge_sdk.training.eccc import model_inputs  # emlp, eccc, ccc: each scene rendered once for all three

    return model_inputs(model, split, n)


def _awb_calibration(model: str) -> Callable[[ModelSource, int], np.ndarray]:
    return lambda src, n: _emlp("train", n, model)[0]


def _awb_validation(model: str) -> Callable[[dict[str, Any], int | None], EvalSet]:
    return lambda pre, n: EvalSet(*_emlp("test", n or 300, model), "synthetic-dual-exposure/test")


# -- reading a user's data ---------------------------------------------------------------------------------------


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


# -- defaults, and the plan export follows -----------------------------------------------------------------------


def _default_kind(src: ModelSource) -> str | None:
    """Which of the zoo's own data sets fits ``src`` (None: a model from outside the zoo)."""
    return default_kind(src.zoo_name, src.preprocessing)


def default_kind(zoo: str | None, preprocessing: dict[str, Any]) -> str | None:
    """Which of the zoo's own data sets fits the zoo model ``zoo`` (None: none, or not a zoo model)."""
    zoo = zoo or ""
    if zoo in ("emlp", "eccc", "ccc"):  # white balance: the model's own inputs of the synthetic scenes
        return zoo
    if zoo and preprocessing.get("size") == [28, 28]:
        return "digits"
    if zoo.startswith("care-s") or (zoo and preprocessing.get("color") == "rgb"):
        return "photos"
    return None


_CALIBRATION: dict[str, Callable[[ModelSource, int], np.ndarray]] = {
    **{k: _awb_calibration(k) for k in ("emlp", "eccc", "ccc")},
    "digits": lambda src, n: _digits("train")[0][:n],
    "photos": lambda src, n: _photos(min(n, 32), seed=1, spec=src.preprocessing),
}
_VALIDATION: dict[str, Callable[[dict[str, Any], int | None], EvalSet]] = {  # (preprocessing, count)
    **{k: _awb_validation(k) for k in ("emlp", "eccc", "ccc")},
    "digits": lambda pre, n: _digits_test(n),
    "photos": lambda pre, n: EvalSet(_photos(n or 16, seed=2, spec=pre), None, "skimage-photos"),
}


def zoo_test_set(kind: str, preprocessing: dict[str, Any], count: int | None = None) -> EvalSet:
    """The held-out data of one of the zoo's data sets (:func:`default_kind`)."""
    evalset = _VALIDATION[kind](preprocessing, count)
    evalset.record = {"source": "default", "name": evalset.name, "samples": int(len(evalset.x))}
    return evalset


def calibration_samples(src: ModelSource, path: Path | None = None, count: int | None = None) -> np.ndarray:
    """Samples for INT8 calibration (training data, never the validation split)."""
    if path is not None:
        return load_samples(path, src, count)
    kind = _default_kind(src)
    if kind is None:
        raise EdgeSDKError(
            f"{src.name}: no default calibration data for a model outside the zoo; pass --calib DIR_OR_NPY"
        )
    return _CALIBRATION[kind](src, count or 256)


def _digest(x: np.ndarray, y: np.ndarray | None) -> str:
    h = hashlib.sha256(np.ascontiguousarray(x, np.float32).tobytes())
    if y is not None:
        h.update(np.ascontiguousarray(y).tobytes())
    return h.hexdigest()


def _from_samples(s: Samples, name: str, record: dict[str, Any]) -> EvalSet:
    record.update(format=s.format, samples=int(len(s.x)), labels=s.y is not None, sha256=_digest(s.x, s.y))
    if s.classes is not None:
        record["classes"] = s.classes
    return EvalSet(s.x, s.y, name, record)


def random_set(src: ModelSource, count: int | None = None) -> EvalSet:
    """Seeded standard-normal inputs, with a warning: says nothing about a trained model's accuracy."""
    n = count or RANDOM_SAMPLES
    warnings.warn(f"{src.name}: no validation data, so parity is checked on {n} seeded random-normal inputs, which "
                  "says little about a trained model; pass real samples with --val-data DIR_OR_NPZ (or --data; "
                  "Python: data=...), or calibration data with --calib (a part is then held out to validate)",
                  NoValidationDataWarning, stacklevel=3)
    x = np.random.default_rng(0).standard_normal((n, *src.input_shape)).astype(np.float32)
    return EvalSet(x, None, "random-normal(seed=0)", {"source": "random", "samples": n})


def validation_set(src: ModelSource, path: Any = None, count: int | None = None) -> EvalSet:
    """Held-out samples (with labels or true illuminants when the data has them) for parity checks: ``path``
    (a user path, array or ``(x, y)``), else the zoo model's test data, else seeded random inputs (warned)."""
    if path is not None:
        s, where = _given(path, src, count, "validation data")
        return _from_samples(s, where or f"an array ({len(s.x)} samples)",
                             {"source": "val-data", "path": where, **({"count": count} if count else {})})
    kind = _default_kind(src)
    return random_set(src, count) if kind is None else zoo_test_set(kind, src.preprocessing, count)


def held_out(n: int) -> list[int]:
    """Which of ``n`` calibration samples are held out to validate: every 5th (indices 4, 9, 14, ...), the last
    one of 2-4 samples, none of 1 (that sample then validates as well as calibrates, and the record says so)."""
    return list(range(HOLDOUT_EVERY - 1, n, HOLDOUT_EVERY)) if n >= HOLDOUT_EVERY else [n - 1] if n >= 2 else []


def split_calibration(s: Samples, where: str | None, count: int | None) -> tuple[EvalSet, np.ndarray]:
    """The validation part and the calibration part of calibration samples ``s`` (:func:`held_out`)."""
    n = len(s.x)
    val = held_out(n)
    keep = [i for i in range(n) if i not in set(val)] if val else list(range(n))
    val = val or [0]
    record: dict[str, Any] = {"source": "calibration", "path": where, **({"count": count} if count else {}),
                              "held_out": {"rule": f"every {HOLDOUT_EVERY}th sample (indices 4, 9, ...); the last "
                                                   "one of 2-4 samples", "of": n, "indices": val,
                                           "calibrated_on_too": len(keep) == n}}
    if s.files is not None:
        record["held_out"]["files"] = [s.files[i] for i in val]
    part = Samples(s.x[val], s.y[val] if s.y is not None else None, s.format, None, s.classes)
    shown = where or "the calibration array"
    evalset = _from_samples(part, f"{shown} (held-out calibration samples: {len(val)} of {n})", record)
    evalset.note = (f"no validation data given: validating on {len(val)} of the {n} calibration samples, held out "
                    f"from calibration (every {HOLDOUT_EVERY}th; manifest extra.validation lists them; --val-data "
                    "gives separate data)" if len(keep) < n else
                    f"no validation data given and only {n} calibration sample: it validates as well as calibrates "
                    "(give --val-data, or more --calib samples)")
    return evalset, s.x[keep]


def export_data(src: ModelSource, *, calibration: Any = None, calib_count: int | None = None,
                data: Any = None) -> tuple[EvalSet, Callable[[], np.ndarray]]:
    """What export validates on, and a loader of its calibration samples (read once, on first call).

    ``data`` (a path, an array or ``(x, y)``) validates when given; else the zoo model's test data; else,
    for a model from outside the zoo given ``calibration``, a held-out part of it (:func:`split_calibration`);
    random inputs (warned) only when nothing was given."""
    loaded: list[np.ndarray] = []

    def calib() -> np.ndarray:
        if not loaded:
            if calibration is None:
                loaded.append(calibration_samples(src, None, calib_count))
            else:
                loaded.append(_given(calibration, src, calib_count, "calibration data")[0].x)
        return loaded[0]

    if data is not None or calibration is None or _default_kind(src) is not None:
        return validation_set(src, data), calib
    evalset, rest = split_calibration(*_given(calibration, src, calib_count, "calibration data"), calib_count)
    loaded.append(rest)
    return evalset, calib


def recorded_validation_set(record: Any, input_shape: Sequence[int | str], preprocessing: dict[str, Any],
                            labels: Sequence[str] = (), what: str = "the model") -> tuple[EvalSet | None, str]:
    """The validation data a manifest records (``extra.validation``), read again when its path is reachable here;
    else ``(None, why)``. Reading data is all a manifest can make this do: never code, never unbounded."""
    if not isinstance(record, dict) or record.get("source") not in ("calibration", "val-data"):
        return None, ""
    path, count, total = record.get("path"), record.get("count"), record.get("samples")
    if not isinstance(path, str) or not path or len(path) > 4096 or "\0" in path or not os.path.isabs(path):
        return None, "the bundle's validation data was an array, which the manifest cannot point to"
    for value in (count, total):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                  or not 0 < value <= MAX_RECORDED_SAMPLES):
            return None, f"the manifest's extra.validation holds a bad sample count {str(value)[:40]!r}"
    if not os.path.exists(path):
        return None, f"the validation data the bundle records ({path[:200]}) is not on this machine"
    s = read_data(path, input_shape, preprocessing, labels, count, what)
    if record["source"] == "calibration":
        evalset, _ = split_calibration(s, path, count)
    else:
        evalset = _from_samples(s, path, {"source": "val-data", "path": path, **({"count": count} if count else {})})
    evalset.name += " (recorded at export)"
    if record.get("sha256") != evalset.record["sha256"]:
        evalset.note = (f"the data at {path[:200]} changed since the export (its sha256 differs); validating on it "
                        "as it is")
    return evalset, ""
