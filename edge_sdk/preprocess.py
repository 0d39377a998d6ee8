"""Image preprocessing as the manifest describes it (numpy + OpenCV; no torch).

The spec is the bundle's ``preprocessing`` dict::

    {"layout": "NCHW", "color": "gray" | "rgb", "size": [H, W], "scale": 1/255,
     "mean": [...], "std": [...], "crop": "center" | "none"}

``crop: "center"`` (the default) first cuts the largest centred region with the model's aspect
ratio, so a 4:3 camera frame is not squashed into a square input (the usual resize-and-centre-crop
of classification evaluation); ``"none"`` resizes the whole frame.

Frames arrive as OpenCV gives them: H x W (gray) or H x W x 3 (BGR), uint8 or uint16 (scaled to
the uint8 range), or float in [0, 1]. Colour frames given to a gray model are converted, and the
reverse: gray frames given to an RGB model are replicated to three channels.

:func:`check_spec` validates a spec before anything is allocated (pipelines call it once, when they
are built; :func:`preprocess_image` calls it too): ``size`` two whole numbers 1..:data:`MAX_SIDE`,
``scale`` a finite number, ``mean``/``std`` a finite number or a list of 1 or C of them (std never 0),
``layout`` NCHW, ``color`` gray|rgb, ``crop`` center|none. A bad value is a
:class:`~edge_sdk.errors.ManifestError` naming the field (``preprocessing.size`` ...).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from edge_sdk.errors import InputError, ManifestError

MAX_SIDE = 8192  # a model input side larger than this is refused (an 8192 x 8192 RGB float input is 805 MB)
LAYOUTS = ("NCHW",)
COLORS = ("gray", "rgb")
CROPS = ("center", "none")


def _bad(field: str, want: str, got: Any) -> ManifestError:
    return ManifestError(f"preprocessing.{field} must be {want}, got {got!r:.80}; fix the bundle's manifest.json "
                         "or re-export it")


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def check_spec(spec: Any) -> dict[str, Any]:
    """``spec`` if it is a usable preprocessing spec; else a ManifestError naming the field."""
    if not isinstance(spec, dict):
        raise ManifestError(f"preprocessing must be an object, got {type(spec).__name__}; fix the bundle's manifest")
    if spec.get("layout", "NCHW") not in LAYOUTS:
        raise _bad("layout", " or ".join(LAYOUTS), spec.get("layout"))
    color = spec.get("color", "rgb")
    if color not in COLORS:
        raise _bad("color", " or ".join(COLORS), color)
    if spec.get("crop", "center") not in CROPS:
        raise _bad("crop", " or ".join(CROPS), spec.get("crop"))
    if "size" in spec:
        size = spec["size"]
        if not (isinstance(size, (list, tuple)) and len(size) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_SIDE for v in size)):
            raise _bad("size", f"[height, width], whole numbers 1..{MAX_SIDE}", size)
    if not _finite(spec.get("scale", 1 / 255)):
        raise _bad("scale", "a finite number", spec.get("scale"))
    channels = 1 if color == "gray" else 3
    for key, default in (("mean", 0.0), ("std", 1.0)):
        value = spec.get(key, default)
        values = value if isinstance(value, (list, tuple)) else [value]
        if len(values) not in (1, channels) or not all(_finite(v) for v in values):
            raise _bad(key, f"a finite number or a list of 1 or {channels} finite numbers", value)
        if key == "std" and any(v == 0 for v in values):
            raise _bad(key, "non-zero", value)
    return spec


def to_unit_float(frame: np.ndarray) -> np.ndarray:
    """uint8 / uint16 / float frame -> float32 in [0, 1]."""
    if frame.dtype == np.uint8:
        return frame.astype(np.float32) * (1.0 / 255.0)
    if frame.dtype == np.uint16:
        return frame.astype(np.float32) * (1.0 / 65535.0)
    if np.issubdtype(frame.dtype, np.floating):
        return frame.astype(np.float32, copy=False)
    raise InputError(f"frame: expected uint8, uint16 or float pixels, got {frame.dtype}")


def preprocess_image(frame: np.ndarray, spec: dict[str, Any]) -> np.ndarray:
    """One frame -> one C x H x W float32 sample for the model; a ManifestError if ``spec`` is unusable."""
    import cv2

    check_spec(spec)
    if not isinstance(frame, np.ndarray) or frame.ndim not in (2, 3) or frame.size == 0:
        if hasattr(frame, "long") and hasattr(frame, "short"):
            raise InputError("frame: got a (long, short) dual-exposure pair, but this model takes single images; "
                             "use a single-frame source (a camera, video, image folder or synthetic://digits), or a "
                             "white-balance bundle (emlp) for dual-exposure sources")
        got = getattr(frame, "shape", type(frame).__name__)
        raise InputError(f"frame: expected an H x W or H x W x C image, got {got}")
    if frame.ndim == 3 and frame.shape[2] not in (1, 3, 4):
        raise InputError(f"frame: expected 1, 3 or 4 channels, got {frame.shape[2]}")
    img = to_unit_float(frame)
    if not np.isfinite(img).all():
        raise InputError("frame: contains NaN or Inf")
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, :3]
    color = spec.get("color", "rgb")
    if color == "gray":
        if img.ndim == 3 and img.shape[2] == 3:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        img = img.reshape(img.shape[0], img.shape[1])
    else:
        if img.ndim == 2 or img.shape[2] == 1:
            img = cv2.cvtColor(img.reshape(img.shape[0], img.shape[1]), cv2.COLOR_GRAY2RGB)
        else:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    h, w = spec.get("size", img.shape[:2])
    if spec.get("crop", "center") == "center":
        img = center_crop(img, w / h)
    if img.shape[:2] != (h, w):
        shrink = img.shape[0] > h or img.shape[1] > w
        img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    chw = img[None] if img.ndim == 2 else img.transpose(2, 0, 1)
    scale = float(spec.get("scale", 1 / 255)) * 255.0  # pixels are already in [0, 1]
    mean = np.asarray(spec.get("mean", [0.0]), np.float32).reshape(-1, 1, 1)
    std = np.asarray(spec.get("std", [1.0]), np.float32).reshape(-1, 1, 1)
    return np.ascontiguousarray((chw * scale - mean) / std, dtype=np.float32)


def center_crop(img: np.ndarray, aspect: float) -> np.ndarray:
    """The largest centred region of ``img`` whose width / height is ``aspect``."""
    ih, iw = img.shape[:2]
    if iw > ih * aspect:
        cw = max(1, round(ih * aspect))
        x0 = (iw - cw) // 2
        return img[:, x0 : x0 + cw]
    ch = max(1, round(iw / aspect))
    y0 = (ih - ch) // 2
    return img[y0 : y0 + ch]


def preprocess_batch(frames: list[np.ndarray], spec: dict[str, Any]) -> np.ndarray:
    return np.stack([preprocess_image(f, spec) for f in frames]) if frames else np.zeros((0,), np.float32)
