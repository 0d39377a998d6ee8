"""White balance from a dual-exposure pair: pair -> DEF -> EMLP -> illuminant -> gains -> corrected frame.

For an ISP that applies gains itself, the result carries the illuminant (unit-norm camera RGB) and
the per-channel gains (green = 1, the usual ISP convention). The corrected frame is the long
exposure with the gains applied, in the same linear raw units.

Fallback policy (documented, tested): white balance never returns NaN. When the pair carries no
usable statistics (no long-frame cell that is neither dark nor saturated, and no dual-exposure
distortion: all black, all saturated) or the model's output is not finite, the estimate falls
back to gray world on the short exposure, and if that too is degenerate, to a neutral
illuminant; ``result.fallback`` names what happened.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge_sdk.awb.baselines import gray_world
from edge_sdk.awb.features import N_DEF, features_and_usable_cells
from edge_sdk.camera.frames import DualFrame, Source
from edge_sdk.errors import InputError
from edge_sdk.pipelines.timing import Timings
from runtimes import Session, load

NEUTRAL = np.full(3, 1 / np.sqrt(3), np.float32)


@dataclass
class WhiteBalanceResult:
    illuminant: np.ndarray  # (3,) unit-norm camera RGB of the light
    gains: np.ndarray  # (3,) per-channel gains, green = 1
    corrected: np.ndarray | None  # long exposure with gains applied (same dtype), if requested
    timings: Timings
    fallback: str | None = None  # why the model's estimate was not used, or None
    frame: DualFrame | None = None


def gains_from_illuminant(illuminant: np.ndarray) -> np.ndarray:
    ill = np.maximum(np.asarray(illuminant, np.float64), 1e-6)
    return (ill[1] / ill).astype(np.float32)


def apply_gains(image: np.ndarray, gains: np.ndarray, white_level: float | None = None) -> np.ndarray:
    """Multiply each channel by its gain, clipping to ``white_level`` (integer images keep their dtype)."""
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
    """``WhiteBalance(bundle)(pair)`` -> :class:`WhiteBalanceResult`. Thread-safe like its Session."""

    def __init__(self, bundle: str | os.PathLike[str] | Session, backend: str = "auto", **options: Any) -> None:
        self.session = bundle if isinstance(bundle, Session) else load(bundle, backend=backend, **options)
        n_in = self.session.inputs[0].shape[-1]
        if len(self.session.inputs) != 1 or n_in != 15:
            raise InputError(f"WhiteBalance needs an emlp bundle (15 features in), got inputs {self.session.inputs}")

    def __call__(
        self,
        pair: DualFrame | tuple[np.ndarray, np.ndarray],
        *,
        white_level: float | None = None,
        black_level: float | None = None,
        correct: bool = True,
        timings: Timings | None = None,
    ) -> WhiteBalanceResult:
        t = timings or Timings()
        frame = pair if isinstance(pair, DualFrame) else None
        long, short = (pair.long, pair.short) if isinstance(pair, DualFrame) else pair
        meta = frame.meta if frame is not None else {}
        white = float(white_level if white_level is not None else meta.get("white_level", dtype_max(long)))
        black = float(black_level if black_level is not None else meta.get("black_level", 0.0))
        fallback = None
        with t.stage("preprocess"):
            feats, usable = features_and_usable_cells(long, short, white_level=white, black_level=black)
        with t.stage("infer"):
            ill = self.session(feats[None].astype(np.float32))[0]
        with t.stage("postprocess"):
            no_stats = usable == 0 and float(np.abs(feats[:N_DEF]).max()) < 1e-6
            if no_stats or not np.isfinite(ill).all() or float(np.linalg.norm(ill)) < 1e-6:
                fallback = "no usable statistics in the pair: gray world on the short exposure"
                ill = gray_world(short, white_level=white, black_level=black)
                if not np.isfinite(ill).all() or float(np.linalg.norm(ill)) < 1e-6:
                    fallback, ill = "degenerate frames: neutral illuminant", NEUTRAL
            ill = (ill / np.linalg.norm(ill)).astype(np.float32)
            gains = gains_from_illuminant(ill)
            corrected = apply_gains(long, gains, white) if correct else None
        return WhiteBalanceResult(ill, gains, corrected, t, fallback, frame)

    def stream(self, source: Source[DualFrame], **kwargs: Any) -> Iterator[WhiteBalanceResult]:
        """Read pairs from ``source`` until it ends; each result's timings include capture."""
        while True:
            t = Timings()
            with t.stage("capture"):
                pair = source.read()
            if pair is None:
                return
            yield self(pair, timings=t, **kwargs)


def dtype_max(a: np.ndarray) -> float:
    """The largest value of an integer frame's dtype, 1.0 for float frames: the default white level."""
    if np.issubdtype(a.dtype, np.integer):
        return float(np.iinfo(a.dtype).max)
    return 1.0
