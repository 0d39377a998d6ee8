"""The zoo models' own calibration and validation data: digits-28 for digit classifiers (train split to
calibrate, test split to validate), the synthetic dual-exposure scenes for the white-balance models (emlp,
eccc, ccc), and scikit-image's real sample photographs for the ImageNet-shaped CARE models. One table per
use, keyed by :func:`default_kind`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from converters.eval_set import EvalSet
from converters.sources import ModelSource
from edge_sdk.preprocess import preprocess_image

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "cat", "immunohistochemistry", "motorcycle", "colorwheel")


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
