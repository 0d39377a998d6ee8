"""What a model's input is, as the manifest describes it, and image preprocessing (numpy + OpenCV; no torch).

The bundle's ``preprocessing`` is one typed schema per ``kind`` (:data:`KINDS`)::

    {}                            nothing declared: the application feeds the model's input tensor itself
    {"kind": "image",             camera frames -> model input
     "layout": "NCHW" | "NHWC", "color": "rgb" | "bgr" | "gray", "size": [H, W] (absent: any size),
     "scale": 1/255, "mean": [...], "std": [...], "resize": "center-crop" | "stretch" | "letterbox",
     "pad_value": 114 (letterbox only)}
    {"kind": "feature-vector",    a vector computed from frames by a named extractor (the EMLP white balance)
     "feature": ..., "extractor": ..., "inputs": [...], "extractor_kwargs": [...], "standardisation": ...,
     "sensor": {...}}

An image sample is ``(pixel * scale - mean) / std`` per channel, pixels counted 0..255 (uint16 frames are
brought to that range first), in ``color`` channel order and ``layout``. ``resize`` says how a frame of
another shape becomes ``size``: ``center-crop`` (default) cuts the largest centred region with the
model's aspect ratio and resizes it, the usual classification evaluation; ``stretch`` resizes the whole
frame; ``letterbox`` resizes keeping the aspect ratio and pads the rest with ``pad_value`` (0..255), as
detectors are trained. Without ``size`` (a model with symbolic height and width) frames keep their size.

Manifests written before ``kind`` existed still load: a spec with image fields is an image spec, one
with ``feature`` or ``sensor`` a feature-vector spec, and ``crop: center | none`` reads as ``resize:
center-crop | stretch``. Unknown fields of an image spec are refused (a misspelt ``colour`` must not
silently mean RGB); a feature-vector spec keeps fields it does not type for its pipeline to check.

Frames arrive as OpenCV gives them: H x W (gray) or H x W x 3 (BGR), uint8 or uint16 (scaled to
the uint8 range), or float in [0, 1]. Colour frames given to a gray model are converted, and the
reverse: gray frames given to a colour model are replicated to three channels.

:func:`parse_preprocessing` / :func:`image_spec` validate a spec before anything is allocated (pipelines
call them once, when they are built): ``size`` two whole numbers 1..:data:`MAX_SIDE`, ``scale`` a finite
number, ``mean``/``std`` a finite number or a list of 1 or C of them (std never 0). A bad value is a
:class:`~edge_sdk.errors.ManifestError` naming the field (``preprocessing.size`` ...); the same checks on
what a user declares at export (:func:`declare_image`) raise :class:`~edge_sdk.errors.EdgeSDKError`
naming the option.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge_sdk.errors import EdgeSDKError, InputError, ManifestError

MAX_SIDE = 8192  # a model input side larger than this is refused (an 8192 x 8192 RGB float input is 805 MB)
LAYOUTS = ("NCHW", "NHWC")
COLORS = ("rgb", "bgr", "gray")
RESIZES = ("center-crop", "stretch", "letterbox")
LEGACY_CROP = {"center": "center-crop", "none": "stretch"}  # manifests before "resize"
DEFAULT_SCALE = 1 / 255

# Known tasks, and the input kind each takes when the model's input is image-shaped (1 or 3 channels):
# image tasks get image preprocessing by default at export. Any other task name is recorded as given.
TASKS: dict[str, str | None] = {
    "classification": "image",  # edge_sdk.pipelines.Classifier, edge-sdk run
    "detection": "image",
    "segmentation": "image",
    "features": "image",  # an embedding network
    "regression": None,
    "illuminant-estimation": "feature-vector",  # edge_sdk.pipelines.WhiteBalance
    "generic": None,  # nothing declared
}


def _finite(x: Any) -> bool:
    try:
        return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
    except OverflowError:  # an int too large for a float (JSON allows any)
        return False


class _Checker:
    """Raises for a bad field: ManifestError for a manifest, EdgeSDKError naming the option for a declaration."""

    def __init__(self, declared: bool) -> None:
        self.declared = declared

    def bad(self, key: str, want: str, got: Any) -> EdgeSDKError:
        if self.declared:
            return EdgeSDKError(f"preprocessing {key} (--{key.replace('_', '-')}) must be {want}, got {got!r:.80}")
        return ManifestError(f"preprocessing.{key} must be {want}, got {got!r:.80}; fix the bundle's manifest.json "
                             "or re-export it")

    def choice(self, d: Mapping[str, Any], key: str, choices: tuple[str, ...], default: str) -> str:
        value = d.get(key, default)
        if not isinstance(value, str) or value not in choices:
            raise self.bad(key, " or ".join(choices), value)
        return value

    def numbers(self, d: Mapping[str, Any], key: str, default: float, channels: int) -> tuple[float, ...]:
        value = d.get(key, [default])
        values = value if isinstance(value, (list, tuple)) else [value]
        if len(values) not in (1, channels) or not all(_finite(v) for v in values):
            raise self.bad(key, f"a finite number or a list of 1 or {channels} finite numbers", value)
        if key == "std" and any(v == 0 for v in values):
            raise self.bad(key, "non-zero", value)
        return tuple(float(v) for v in values)

    def unknown(self, d: Mapping[str, Any], known: tuple[str, ...], kind: str) -> None:
        extra = sorted(str(k) for k in d if k not in known)
        if extra:
            raise self.bad(extra[0], f"absent: not a field of {kind} preprocessing (fields: {', '.join(known)})",
                           d[extra[0]])


@dataclass(frozen=True)
class ImagePreprocessing:
    """Camera frame -> one model sample; see the module docstring."""

    layout: str = "NCHW"
    color: str = "rgb"
    size: tuple[int, int] | None = None  # (height, width); None: any size (symbolic H/W)
    scale: float = DEFAULT_SCALE
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    resize: str = "center-crop"
    pad_value: float = 114.0
    kind = "image"
    FIELDS = ("kind", "layout", "color", "size", "scale", "mean", "std", "resize", "crop", "pad_value")

    @property
    def channels(self) -> int:
        return 1 if self.color == "gray" else 3

    def sample_shape(self) -> tuple[int | None, ...]:
        """One sample's shape (None for a side that follows the frame)."""
        h, w = self.size if self.size is not None else (None, None)
        return (self.channels, h, w) if self.layout == "NCHW" else (h, w, self.channels)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind, "layout": self.layout, "color": self.color}
        if self.size is not None:
            d["size"] = list(self.size)
        d.update(scale=self.scale, mean=list(self.mean), std=list(self.std), resize=self.resize)
        if self.resize == "letterbox":
            d["pad_value"] = self.pad_value
        return d

    def describe(self) -> str:
        size = "x".join(map(str, self.size)) if self.size else "any size"
        return (f"{self.color} {self.layout} {size}, scale {self.scale:.6g}, mean {list(self.mean)}, "
                f"std {list(self.std)}, resize {self.resize}")

    @classmethod
    def from_json(cls, d: Mapping[str, Any], *, declared: bool = False) -> ImagePreprocessing:
        c = _Checker(declared)
        c.unknown(d, cls.FIELDS, "image")
        layout = c.choice(d, "layout", LAYOUTS, "NCHW")
        color = c.choice(d, "color", COLORS, "rgb")
        legacy = LEGACY_CROP[c.choice(d, "crop", tuple(LEGACY_CROP), "center")]
        resize = c.choice(d, "resize", RESIZES, legacy)
        if "crop" in d and "resize" in d and resize != legacy:
            raise c.bad("crop", f"absent or {next(k for k, v in LEGACY_CROP.items() if v == resize)!r} (the old "
                        f"name of resize, which says {resize!r})" if resize in LEGACY_CROP.values() else
                        f"absent (the old name of resize, which says {resize!r})", d["crop"])
        size = d.get("size")
        if size is not None and not (
                isinstance(size, (list, tuple)) and len(size) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_SIDE for v in size)):
            raise c.bad("size", f"[height, width], whole numbers 1..{MAX_SIDE}", size)
        scale = d.get("scale", DEFAULT_SCALE)
        if not _finite(scale) or scale == 0:
            raise c.bad("scale", "a finite non-zero number", scale)
        pad = d.get("pad_value", 114.0)
        if not _finite(pad) or not 0 <= pad <= 255:
            raise c.bad("pad_value", "a number 0..255", pad)
        channels = 1 if color == "gray" else 3
        return cls(layout=layout, color=color, size=(int(size[0]), int(size[1])) if size is not None else None,
                   scale=float(scale), mean=c.numbers(d, "mean", 0.0, channels),
                   std=c.numbers(d, "std", 1.0, channels), resize=resize, pad_value=float(pad))


@dataclass(frozen=True)
class FeatureVectorPreprocessing:
    """A feature vector computed from frames by a known extractor (``extractor`` names a row of the task's
    pipeline table, never code to import). The fields below are typed; any others are kept as they are, for the
    pipeline that reads them (WhiteBalance) to check."""

    feature: str = ""
    extractor: str = ""
    inputs: tuple[str, ...] = ()
    extractor_kwargs: tuple[str, ...] = ()
    standardisation: str = ""
    sensor: dict[str, Any] | None = field(default=None, compare=False)  # checked by WhiteBalance
    other: dict[str, Any] = field(default_factory=dict, compare=False)  # fields this schema does not type
    kind = "feature-vector"
    FIELDS = ("kind", "feature", "extractor", "inputs", "extractor_kwargs", "standardisation", "sensor")

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind, "feature": self.feature, "extractor": self.extractor,
                             "inputs": list(self.inputs), "extractor_kwargs": list(self.extractor_kwargs),
                             "standardisation": self.standardisation, **self.other}
        if self.sensor is not None:
            d["sensor"] = self.sensor
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any], *, declared: bool = False) -> FeatureVectorPreprocessing:
        c = _Checker(declared)
        for key in ("feature", "extractor", "standardisation"):
            if not isinstance(d.get(key, ""), str):
                raise c.bad(key, "a string", d.get(key))
        for key in ("inputs", "extractor_kwargs"):
            value = d.get(key, [])
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                raise c.bad(key, "a list of strings", value)
        sensor = d.get("sensor")
        if sensor is not None and not isinstance(sensor, dict):
            raise c.bad("sensor", "an object", sensor)
        return cls(feature=d.get("feature", ""), extractor=d.get("extractor", ""), inputs=tuple(d.get("inputs", ())),
                   extractor_kwargs=tuple(d.get("extractor_kwargs", ())),
                   standardisation=d.get("standardisation", ""), sensor=sensor,
                   other={k: v for k, v in d.items() if k not in cls.FIELDS})


Preprocessing = ImagePreprocessing | FeatureVectorPreprocessing
KINDS: dict[str, type[ImagePreprocessing] | type[FeatureVectorPreprocessing]] = {
    "image": ImagePreprocessing, "feature-vector": FeatureVectorPreprocessing,
}


def parse_preprocessing(obj: Any) -> Preprocessing | None:
    """A manifest's ``preprocessing``, typed and checked; None when nothing is declared (``{}``)."""
    if not isinstance(obj, Mapping):
        raise ManifestError(f"preprocessing must be an object, got {type(obj).__name__}; fix the bundle's manifest")
    if not obj:
        return None
    kind = obj.get("kind")
    if kind is None:  # written before "kind": tell the two apart by their fields
        kind = "feature-vector" if "feature" in obj or "sensor" in obj else "image"
    if not isinstance(kind, str) or kind not in KINDS:
        raise _Checker(False).bad("kind", " or ".join(KINDS), kind)
    return KINDS[kind].from_json(obj)


def image_spec(obj: Any) -> ImagePreprocessing:
    """``obj`` (a manifest's preprocessing or an :class:`ImagePreprocessing`) as an image spec, else ManifestError."""
    if isinstance(obj, ImagePreprocessing):
        return obj
    spec = parse_preprocessing(obj)
    if not isinstance(spec, ImagePreprocessing):
        what = "declares none" if spec is None else f"is {spec.kind}"
        raise ManifestError(f"this model's input is not an image (its manifest's preprocessing {what}); re-export "
                            "it declaring image preprocessing (edge-sdk export ... --task classification --color "
                            "rgb --mean ... --std ...)")
    return spec


def check_spec(spec: Any) -> dict[str, Any]:
    """An image preprocessing spec, checked and normalised to the current schema (a ManifestError if unusable)."""
    return image_spec(spec).to_json()


def declare_image(declared: Mapping[str, Any], sample_shape: tuple[int | None, ...]) -> ImagePreprocessing:
    """Image preprocessing for a model whose one sample has ``sample_shape`` (None: a symbolic dim), from what
    the user declared (the schema's fields, plus ``input_range: (lo, hi)`` for pixels 0..255 -> lo..hi, instead
    of scale/mean/std); unset fields default from the shape. EdgeSDKError if they do not fit."""
    d = {k: v for k, v in declared.items() if v is not None}
    if "input_range" in d:
        rng = d.pop("input_range")
        clash = sorted(k for k in ("scale", "mean", "std") if k in d)
        if clash:
            raise EdgeSDKError(f"preprocessing input_range replaces scale, mean and std; drop {', '.join(clash)}")
        if not (isinstance(rng, (list, tuple)) and len(rng) == 2 and all(_finite(v) for v in rng)
                and rng[0] < rng[1]):
            raise EdgeSDKError(f"preprocessing input_range must be two numbers LO < HI, got {rng!r:.80}")
        d.update(scale=(rng[1] - rng[0]) / 255.0, mean=[-float(rng[0])], std=[1.0])
    layout = d.get("layout", "NCHW")
    shown = "x".join("?" if s is None else str(s) for s in sample_shape)
    if len(sample_shape) != 3:
        raise EdgeSDKError(f"image preprocessing needs an image input (1xCxHxW, or 1xHxWxC with layout NHWC); "
                           f"this model takes 1x{shown}")
    c, h, w = sample_shape if layout != "NHWC" else (sample_shape[2], *sample_shape[:2])
    if "color" not in d and c in (1, 3):
        d["color"] = "gray" if c == 1 else "rgb"
    if (h is None) != (w is None):
        raise EdgeSDKError(f"image input 1x{shown}: height and width must both be fixed or both symbolic")
    if "size" in d and h is not None and (not isinstance(d["size"], (list, tuple)) or list(d["size"]) != [h, w]):
        raise EdgeSDKError(f"preprocessing size {list(d['size'])} differs from the model's input 1x{shown}")
    if h is not None:
        d.setdefault("size", [h, w])
    spec = ImagePreprocessing.from_json(d, declared=True)
    if c != spec.channels:
        raise EdgeSDKError(f"color {spec.color} gives {spec.channels}-channel images, but the model's input 1x{shown} "
                           f"({spec.layout}) has {c} channels" + ("; did you mean --layout NHWC?"
                                                                if layout == "NCHW" and sample_shape[2] in (1, 3)
                                                                else ""))
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


def _check_frame(frame: Any) -> None:
    if not isinstance(frame, np.ndarray) or frame.ndim not in (2, 3) or frame.size == 0:
        if hasattr(frame, "long") and hasattr(frame, "short"):
            raise InputError("frame: got a (long, short) dual-exposure pair, but this model takes single images; "
                             "use a single-frame source (a camera, video, image folder or synthetic://digits), or a "
                             "white-balance bundle (emlp) for dual-exposure sources")
        got = getattr(frame, "shape", type(frame).__name__)
        raise InputError(f"frame: expected an H x W or H x W x C image, got {got}")
    if frame.ndim == 3 and frame.shape[2] not in (1, 3, 4):
        raise InputError(f"frame: expected 1, 3 or 4 channels, got {frame.shape[2]}")


_TO_COLOR = {  # (frame channels, model colour) -> OpenCV conversion; frames are BGR as OpenCV reads them
    (3, "gray"): "COLOR_BGR2GRAY", (3, "rgb"): "COLOR_BGR2RGB", (1, "rgb"): "COLOR_GRAY2RGB",
    (1, "bgr"): "COLOR_GRAY2BGR",
}


def preprocess_image(frame: np.ndarray, spec: ImagePreprocessing | Mapping[str, Any]) -> np.ndarray:
    """One frame -> one model sample (C x H x W, or H x W x C for NHWC) float32; ManifestError if ``spec`` is
    unusable, InputError if ``frame`` is."""
    import cv2

    spec = image_spec(spec)
    _check_frame(frame)
    img = to_unit_float(frame)
    if not np.isfinite(img).all():
        raise InputError("frame: contains NaN or Inf")
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, :3]
    if img.ndim == 3 and img.shape[2] == 1:
        img = img.reshape(img.shape[:2])
    code = _TO_COLOR.get((1 if img.ndim == 2 else 3, spec.color))
    if code is not None:
        img = cv2.cvtColor(img, getattr(cv2, code))
    if spec.size is not None:
        img = _fit(img, spec)
    hwc = img[:, :, None] if img.ndim == 2 else img
    sample = hwc.transpose(2, 0, 1) if spec.layout == "NCHW" else hwc
    axis = (-1, 1, 1) if spec.layout == "NCHW" else (1, 1, -1)
    scale = spec.scale * 255.0  # pixels are in [0, 1] here
    mean = np.asarray(spec.mean, np.float32).reshape(axis)
    std = np.asarray(spec.std, np.float32).reshape(axis)
    return np.ascontiguousarray((sample * scale - mean) / std, dtype=np.float32)


def _resized(img: np.ndarray, w: int, h: int) -> np.ndarray:
    import cv2

    if img.shape[:2] == (h, w):
        return img
    shrink = img.shape[0] > h or img.shape[1] > w
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def _fit(img: np.ndarray, spec: ImagePreprocessing) -> np.ndarray:
    """The frame brought to ``spec.size`` by its resize policy."""
    assert spec.size is not None
    h, w = spec.size
    if spec.resize == "center-crop":
        img = center_crop(img, w / h)
    if spec.resize != "letterbox":
        return _resized(img, w, h)
    ih, iw = img.shape[:2]
    s = min(h / ih, w / iw)
    nh, nw = max(1, min(h, round(ih * s))), max(1, min(w, round(iw * s)))
    out = np.full((h, w, *img.shape[2:]), spec.pad_value / 255.0, np.float32)
    y0, x0 = (h - nh) // 2, (w - nw) // 2
    out[y0 : y0 + nh, x0 : x0 + nw] = _resized(img, nw, nh)
    return out


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


def preprocess_batch(frames: list[np.ndarray], spec: ImagePreprocessing | Mapping[str, Any]) -> np.ndarray:
    spec = image_spec(spec)
    return np.stack([preprocess_image(f, spec) for f in frames]) if frames else np.zeros((0,), np.float32)
