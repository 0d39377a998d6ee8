"""White balance from a dual-exposure pair: pair -> features -> model -> illuminant -> gains -> corrected frame.

Which features a bundle's model takes comes from its manifest (``preprocessing["extractor"]``), looked up in
one table, :data:`AWB_EXTRACTORS` (name -> how the model input is computed from the pair, and its width):
``def`` (EMLP: dual-exposure feature + single-frame statistics, 15 values), ``log-chroma-hist`` (CCC:
log-chroma histograms of the long frame) and ``log-chroma-hist+def`` (ECCC: the histograms and the DEF).
Bundles exported before the names existed (their manifest names the emlp extractor function) read as
``def``, as does a bare ``.onnx`` without a manifest; ``WhiteBalance(..., extractor=NAME)`` overrides it.
A new head is one entry in the table (tests/edge_sdk/test_pipeline_table.py adds one). The runtime never
imports what a manifest names: the name only selects a row of the table.

For an ISP that applies gains itself, the result carries the illuminant (unit-norm camera RGB) and
the per-channel gains (green = 1, the usual ISP convention). The corrected frame is the long
exposure with the gains applied, in the same linear raw units.

Fallback policy (documented, tested): white balance never returns NaN. When the pair carries no
usable statistics (no long-frame cell that is neither dark nor saturated, and no dual-exposure
distortion: all black, all saturated) or the model's output is not finite, the estimate falls
back to gray world on the short exposure, and if that too is degenerate, to a neutral
illuminant; ``result.fallback`` names what happened.

Levels (black, white): explicit arguments, else the frame's metadata (a synthetic or raw camera source),
else, for integer frames, the sensor recorded in the bundle's manifest (``preprocessing["sensor"]``,
written at export from the weights' training sensor; :attr:`WhiteBalance.sensor`) when its white level
fits the dtype, else the integer dtype's range with a :class:`RawLevelsWarning` (a 12-bit sensor in
uint16 frames would get a 65535 white level and wrong gains). Float frames are taken as [0, 1].
Bayer mosaics: pass ``pattern="RGGB"`` (or BGGR, GRBG, GBRG) with 2-D frames, or put ``"pattern"`` in
the frame metadata; gains are then applied per CFA site.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge_sdk.awb.baselines import gray_world
from edge_sdk.awb.features import BAYER_PATTERNS, N_DEF, N_FEATURES, bayer_cells, features_and_usable_cells
from edge_sdk.awb.histogram import histogram_features, histogram_width
from edge_sdk.camera.frames import DualFrame, Source
from edge_sdk.errors import InputError, ManifestError
from edge_sdk.pipelines.timing import Timings
from runtimes import Session, load

NEUTRAL = np.full(3, 1 / np.sqrt(3), np.float32)


# (long, short, *, white_level, black_level, pattern) -> (model input float32 (width,), informative); informative
# False: the pair carries no usable statistics, and white balance falls back (see the module doc)
Extract = Callable[..., tuple[np.ndarray, bool]]


@dataclass(frozen=True)
class AwbExtractor:
    """How a white-balance model's input is computed from a (long, short) pair, and its width."""

    width: int
    extract: Extract
    description: str = ""


def _def_features(long: np.ndarray, short: np.ndarray, **kwargs: Any) -> tuple[np.ndarray, bool]:
    feats, usable = features_and_usable_cells(long, short, **kwargs)
    return feats, usable > 0 or float(np.abs(feats[:N_DEF]).max()) >= 1e-6


AWB_EXTRACTORS: dict[str, AwbExtractor] = {
    "def": AwbExtractor(N_FEATURES, _def_features, "EMLP: dual-exposure feature (9) + single-frame statistics (6)"),
    "log-chroma-hist": AwbExtractor(histogram_width(), functools.partial(histogram_features, with_def=False),
                                    "CCC: log-chroma pixel and edge histograms of the long frame + their centre"),
    "log-chroma-hist+def": AwbExtractor(histogram_width(with_def=True),
                                        functools.partial(histogram_features, with_def=True),
                                        "ECCC: the CCC histograms + the dual-exposure feature"),
}
# what manifests written before the names said (the emlp extractor function's path: a name, never imported)
EXTRACTOR_ALIASES = {"edge_sdk.awb.features:extract_features": "def"}
DEFAULT_EXTRACTOR = "def"  # a bare .onnx (no manifest), or a manifest that names none: the emlp layout


def extractor_name(manifest: Any) -> str:
    """The AWB extractor a bundle's manifest names (aliases resolved; :data:`DEFAULT_EXTRACTOR` when none)."""
    pre = getattr(manifest, "preprocessing", None)
    name = (pre.get("extractor") if isinstance(pre, dict) else None) or DEFAULT_EXTRACTOR
    if not isinstance(name, str):
        raise ManifestError(f"preprocessing.extractor must be a string, got {name!r:.80}; fix the bundle's manifest")
    return EXTRACTOR_ALIASES.get(name, name)


def get_extractor(name: str) -> AwbExtractor:
    try:
        return AWB_EXTRACTORS[name]
    except KeyError:
        raise ManifestError(f"unknown white-balance feature extractor {name[:80]!r}; this SDK knows "
                            f"{', '.join(AWB_EXTRACTORS)} (re-export the bundle, or update edge-sdk)") from None


class RawLevelsWarning(UserWarning):
    """White balance fell back to the frame dtype's range for the raw levels."""


@dataclass
class WhiteBalanceResult:
    illuminant: np.ndarray  # (3,) unit-norm camera RGB of the light
    gains: np.ndarray  # (3,) per-channel gains, green = 1
    corrected: np.ndarray | None  # long exposure with gains applied (same dtype), if requested
    timings: Timings
    fallback: str | None = None  # why the model's estimate was not used, or None
    frame: DualFrame | None = None
    sensor: str | None = None  # the sensor the model was trained for (from the manifest), if recorded
    levels: tuple[float, float] = (0.0, 0.0)  # (black, white) used, and where they came from:
    levels_from: str = ""  # "argument" | "frame" | "manifest" | "dtype"


def gains_from_illuminant(illuminant: np.ndarray) -> np.ndarray:
    ill = np.maximum(np.asarray(illuminant, np.float64), 1e-6)
    return (ill[1] / ill).astype(np.float32)


def cfa_gains(pattern: str, gains: np.ndarray) -> np.ndarray:
    """(2, 2) float32: the gain of each site of a 2 x 2 CFA cell of ``pattern``."""
    r, g1, g2, b = BAYER_PATTERNS[pattern.upper()]
    tile = np.empty(4, np.float32)
    tile[[r, g1, g2, b]] = np.asarray(gains, np.float32)[[0, 1, 1, 2]]
    return tile.reshape(2, 2)


def apply_gains(
    image: np.ndarray, gains: np.ndarray, white_level: float | None = None, pattern: str | None = None
) -> np.ndarray:
    """Multiply each channel by its gain, clipping to ``white_level`` (integer images keep their dtype).

    With a Bayer ``pattern``, ``image`` is a 2-D mosaic and each CFA site gets its channel's gain."""
    if pattern is not None:
        h, w = image.shape
        tile = np.tile(cfa_gains(pattern, gains), ((h + 1) // 2, (w + 1) // 2))[:h, :w]
        out = image.astype(np.float32) * tile
    else:
        out = image.astype(np.float32) * gains.reshape(1, 1, 3)
    if np.issubdtype(image.dtype, np.integer):
        top = white_level if white_level is not None else np.iinfo(image.dtype).max
        return np.clip(out, 0, top).astype(image.dtype)
    return out


def to_display(image: np.ndarray, white_level: float, black_level: float = 0.0, exposure: float = 1.0) -> np.ndarray:
    """Linear raw RGB -> 8-bit BGR with a 2.2 gamma, for previews and video files."""
    x = (image.astype(np.float32) - black_level) * (exposure / max(white_level - black_level, 1e-6))
    x = np.clip(x, 0, 1) ** (1 / 2.2)
    return np.ascontiguousarray((x[:, :, ::-1] * 255 + 0.5).astype(np.uint8))


class WhiteBalance:
    """``WhiteBalance(bundle)(pair)`` -> :class:`WhiteBalanceResult`. Thread-safe like its Session.

    The feature extractor comes from the bundle's manifest (:data:`AWB_EXTRACTORS`), or ``extractor``."""

    def __init__(self, bundle: str | os.PathLike[str] | Session, backend: str = "auto", *,
                 extractor: str | None = None, **options: Any) -> None:
        self.session = bundle if isinstance(bundle, Session) else load(bundle, backend=backend, **options)
        manifest = getattr(self.session, "manifest", None)
        task = getattr(manifest, "task", None)
        if task not in (None, "illuminant-estimation"):
            raise InputError(f"WhiteBalance needs an illuminant-estimation bundle, got a {task} bundle "
                             f"({getattr(manifest, 'model', '?')})")
        self.extractor_name = extractor if extractor is not None else extractor_name(manifest)
        self.extractor = get_extractor(self.extractor_name)
        inputs = self.session.inputs
        if len(inputs) != 1 or inputs[0].shape[-1] != self.extractor.width:
            raise InputError(f"WhiteBalance: the {self.extractor_name!r} extractor gives {self.extractor.width} "
                             f"values, but the model takes inputs {inputs}")
        self.sensor: dict[str, Any] | None = _manifest_sensor(getattr(self.session, "manifest", None))

    def __call__(
        self,
        pair: DualFrame | tuple[np.ndarray, np.ndarray],
        *,
        white_level: float | None = None,
        black_level: float | None = None,
        correct: bool = True,
        timings: Timings | None = None,
        pattern: str | None = None,
    ) -> WhiteBalanceResult:
        t = timings or Timings()
        frame = pair if isinstance(pair, DualFrame) else None
        long, short = (pair.long, pair.short) if isinstance(pair, DualFrame) else pair
        meta = frame.meta if frame is not None else {}
        pattern = pattern if pattern is not None else meta.get("pattern")
        (black, white), levels_from = self._levels(long, white_level, black_level, meta)
        fallback = None
        with t.stage("preprocess"):
            feats, informative = self.extractor.extract(long, short, white_level=white, black_level=black,
                                                        pattern=pattern)
        with t.stage("infer"):
            ill = self.session(feats[None].astype(np.float32))[0]
        with t.stage("postprocess"):
            if not informative or not np.isfinite(ill).all() or float(np.linalg.norm(ill)) < 1e-6:
                fallback = "no usable statistics in the pair: gray world on the short exposure"
                cells = short if pattern is None else bayer_cells(short, pattern, "short")  # 2 x 2 CFA cells
                ill = gray_world(cells, white_level=white, black_level=black)
                if not np.isfinite(ill).all() or float(np.linalg.norm(ill)) < 1e-6:
                    fallback, ill = "degenerate frames: neutral illuminant", NEUTRAL
            ill = (ill / np.linalg.norm(ill)).astype(np.float32)
            gains = gains_from_illuminant(ill)
            corrected = apply_gains(long, gains, white, pattern) if correct else None
        name = self.sensor["name"] if self.sensor else None
        return WhiteBalanceResult(ill, gains, corrected, t, fallback, frame, name, (black, white), levels_from)

    def _levels(
        self, long: np.ndarray, white: float | None, black: float | None, meta: dict[str, Any]
    ) -> tuple[tuple[float, float], str]:
        """((black, white), source): arguments, else frame metadata, else the manifest's sensor, else the dtype."""
        if white is not None:
            return (float(black if black is not None else meta.get("black_level", 0.0)), float(white)), "argument"
        if "white_level" in meta:
            b = black if black is not None else meta.get("black_level", 0.0)
            return (float(b), float(meta["white_level"])), "frame"
        integer = isinstance(long, np.ndarray) and np.issubdtype(long.dtype, np.integer)
        if not integer:  # float frames (or not an array: the feature checks say so) are taken as [0, 1]
            return (float(black if black is not None else 0.0), 1.0), "dtype"
        top = dtype_max(long)
        if self.sensor is not None and self.sensor["white_level"] <= top:
            b = black if black is not None else self.sensor["black_level"]
            return (float(b), float(self.sensor["white_level"])), "manifest"
        warnings.warn(
            f"white balance: no raw levels given and the bundle records no sensor; using the {long.dtype} range "
            f"(white level {top:g}). Pass white_level=/black_level= (a 12-bit sensor in uint16 frames: 4095), "
            "or re-export the bundle so its manifest records the sensor",
            RawLevelsWarning,
            stacklevel=3,
        )
        return (float(black if black is not None else 0.0), top), "dtype"

    def stream(self, source: Source[DualFrame], **kwargs: Any) -> Iterator[WhiteBalanceResult]:
        """Read pairs from ``source`` until it ends; each result's timings include capture."""
        while True:
            t = Timings()
            with t.stage("capture"):
                pair = source.read()
            if pair is None:
                return
            yield self(pair, timings=t, **kwargs)


def _manifest_sensor(manifest: Any) -> dict[str, Any] | None:
    """The manifest's ``preprocessing["sensor"]`` (name, curve hash, levels), checked; None if absent."""
    entry = getattr(manifest, "preprocessing", {}).get("sensor") if manifest is not None else None
    if entry is None:
        return None
    from edge_sdk.data.sensors import describe_entry
    from edge_sdk.errors import EdgeSDKError

    try:
        return describe_entry(entry, "manifest preprocessing.sensor")
    except EdgeSDKError as e:
        raise InputError(f"{e}; re-export the bundle") from None


def dtype_max(a: np.ndarray) -> float:
    """The largest value of an integer frame's dtype, 1.0 for float frames: the default white level."""
    if np.issubdtype(a.dtype, np.integer):
        return float(np.iinfo(a.dtype).max)
    return 1.0
