"""Classical single-frame illuminant estimators (numpy + OpenCV): gray world, white patch (max-RGB),
shades of gray and gray edge.

Each takes one linear raw frame (``H x W x 3``, uint16/uint8/float32) with its ``white_level`` and
``black_level`` and returns a unit-norm float32 RGB illuminant estimate. Pixels with any channel at or
above ``black_level + 0.95 (white_level - black_level)`` (the threshold of
:mod:`edge_sdk.awb.features`) are excluded; if every pixel is saturated, all pixels are used; a
zero estimate falls back to gray (1, 1, 1) / sqrt(3).
"""

from __future__ import annotations

import cv2
import numpy as np

from edge_sdk.awb.features import SAT_FRACTION, _check_frame, _check_levels

__all__ = ["BASELINES", "gray_edge", "gray_world", "shades_of_gray", "white_patch"]


def _prep(frame: np.ndarray, white_level: float, black_level: float) -> tuple[np.ndarray, np.ndarray]:
    _check_frame("frame", frame)
    w, b = _check_levels(white_level, black_level)
    x = frame.astype(np.float32)
    unsat: np.ndarray = np.logical_not((x >= b + SAT_FRACTION * (w - b)).any(axis=2))
    x -= np.float32(b)
    np.maximum(x, 0.0, out=x)
    valid = unsat if unsat.any() else np.ones_like(unsat)
    return x, valid


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.nan_to_num(np.asarray(v, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    n = float(np.linalg.norm(v))
    if n <= 0:
        return np.full(3, 1 / np.sqrt(3), np.float32)
    return (v / n).astype(np.float32)


def gray_world(frame: np.ndarray, *, white_level: float, black_level: float = 0) -> np.ndarray:
    """Mean RGB of the unsaturated pixels (Buchsbaum 1980)."""
    x, valid = _prep(frame, white_level, black_level)
    return _unit(x[valid].mean(axis=0))


def white_patch(frame: np.ndarray, *, white_level: float, black_level: float = 0) -> np.ndarray:
    """Per-channel maximum of the unsaturated pixels (max-RGB, Land 1977)."""
    x, valid = _prep(frame, white_level, black_level)
    return _unit(x[valid].max(axis=0))


def shades_of_gray(frame: np.ndarray, *, white_level: float, black_level: float = 0, p: float = 6.0) -> np.ndarray:
    """Minkowski p-norm mean of the unsaturated pixels (Finlayson & Trezzi 2004), p = 6."""
    x, valid = _prep(frame, white_level, black_level)
    v = x[valid].astype(np.float64)
    scale = max(float(v.max()), 1e-12)
    return _unit(scale * np.mean((v / scale) ** p, axis=0) ** (1.0 / p))


def gray_edge(
    frame: np.ndarray, *, white_level: float, black_level: float = 0, p: float = 6.0, sigma: float = 2.0
) -> np.ndarray:
    """First-order gray edge (van de Weijer et al. 2007): Minkowski p-norm of the per-channel gradient
    magnitude of the Gaussian-smoothed (sigma) frame, over pixels at least 2 sigma away from saturation."""
    x, valid = _prep(frame, white_level, black_level)
    if sigma > 0:
        x = cv2.GaussianBlur(x, (0, 0), sigma)
    gx = cv2.Sobel(x, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(x, cv2.CV_32F, 0, 1, ksize=3)
    mag = np.sqrt(gx * gx + gy * gy)
    r = int(np.ceil(2 * sigma)) + 1
    near_sat = cv2.dilate((~valid).astype(np.uint8), np.ones((2 * r + 1, 2 * r + 1), np.uint8)) > 0
    keep = ~near_sat if (~near_sat).any() else valid
    v = mag[keep].astype(np.float64)
    scale = max(float(v.max()), 1e-12)
    return _unit(scale * np.mean((v / scale) ** p, axis=0) ** (1.0 / p))


BASELINES = {
    "gray-world": gray_world,
    "white-patch": white_patch,
    "shades-of-gray": shades_of_gray,
    "gray-edge": gray_edge,
}
