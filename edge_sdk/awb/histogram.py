"""Log-chroma histograms of the long frame for ECCC / CCC (Barron, ICCV 2015), from the AWB statistics grid.

numpy + OpenCV only (no torch): this runs on the device, from the same 64 x 36 statistics grid as the
dual-exposure feature (:mod:`edge_sdk.awb.features`: row-subsampled fine grid, block means, black level
subtracted, per-block saturated fraction), so it costs about what DEF costs on 1080p / 4K frames.

The paper (Afifi et al., ECCV 2024) confirms only "CCC over histograms, with a bias interpolated from
learnable bias maps whose weights the DEF drives, ~6,156 parameters". What follows is our design.

**Coordinates.** Barron's log-chroma ``u = log(G / R)``, ``v = log(G / B)``: a change of illuminant
shifts every cell by the same (u, v) offset, so a convolution over the histogram is equivariant to it.

**Cells.** Long-frame grid cells that are neither dark nor saturated (the thresholds of
:mod:`edge_sdk.awb.features`); every such cell counts once (the grid has 2,304 cells).

**Window, bins** (:data:`BINS` = 32, :data:`BIN_WIDTH` = 1/16, so +-1.0 in log-chroma, a factor
e = 2.7 either way). The window is centred on the frame's own gray-world chroma (the (u, v) of the
mean of those cells, :func:`log_chroma_histograms` returns it as ``centre``), not on a fixed point: one
window then serves any sensor (a Foveon Sigma's illuminants sit ~0.5 away from a Nikon's in v) without
a per-sensor range in the manifest, and the convolution does not care where the window sits. The
network gets ``centre`` as two more inputs and adds it back to its estimate, so its output is
absolute. Cells outside the window go to the edge bins (their mass still says "far that way").
Measured on 300 synthetic train scenes: Nikon D5100, 98 % of the illuminants and 89 % of the usable
cells lie inside the window; Sigma SDMerill, all illuminants and 99.9 % of the cells. (A 1/10 bin width,
+-1.6, would hold every Nikon illuminant, at coarser bins.)

**Two histograms** (Barron's pixel + edge channels), each normalised to sum 1 (all zeros with no
usable cell): (1) the cells themselves; (2) their *local absolute deviation*: per channel, the mean
``|x - n|`` over the 8 grid neighbours (reflected at the border), a cell counting when all three
deviations exceed :data:`EDGE_MIN` of the sensor range (flat, noise-level cells carry no edge colour).
The gray-edge idea: the chroma of local contrast points to the illuminant too.

**Model input** (float32): ``[pixel histogram (BINS x BINS, row = u bin, column = v bin, row-major),
edge histogram (same), centre (u, v)]``, ``2 * BINS**2 + 2`` = 2,050 values (``ccc``), followed by the 9
DEF values for ``eccc`` (2,059), one flat vector so the export gate, calibration and the runtimes treat
it like any single-input model. Bin ``i`` covers ``centre + (i - BINS / 2) * BIN_WIDTH`` up to the next
edge; its centre is at ``(i - BINS / 2 + 0.5) * BIN_WIDTH`` from ``centre``.

The window is part of the extractor's name (``log-chroma-hist`` / ``log-chroma-hist+def`` in the bundle's
manifest mean these constants): a model trained with another window needs a new name in
:data:`edge_sdk.pipelines.white_balance.AWB_EXTRACTORS`, never a silently different histogram.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from edge_sdk.awb.features import (
    N_DEF,
    _check_levels,
    _check_order,
    _check_pair,
    _def_from_stats,
    _fine,
    _grid_means,
    _long_stats,
    _not_dark,
)
from edge_sdk.errors import InputError

BINS = 32
BIN_WIDTH = 1.0 / 16.0
EDGE_MIN = 1e-4  # an edge cell needs every channel's local deviation above this fraction of the range
BINS_RANGE = (4, 128)  # a 128 x 128 pair of histograms is 32,768 values
N_CENTRE = 2

__all__ = [
    "BINS",
    "BIN_WIDTH",
    "histogram_features",
    "histogram_width",
    "log_chroma",
    "log_chroma_histograms",
]


def log_chroma(rgb: np.ndarray) -> np.ndarray:
    """``(..., 2)`` float64 ``(log(G / R), log(G / B))`` of positive ``(..., 3)`` RGB values."""
    x = np.maximum(np.asarray(rgb, np.float64), 1e-12)
    return np.stack([np.log(x[..., 1] / x[..., 0]), np.log(x[..., 1] / x[..., 2])], axis=-1)


def _check_window(bins: object, width: object) -> tuple[int, float]:
    if not isinstance(bins, int) or isinstance(bins, bool) or not BINS_RANGE[0] <= bins <= BINS_RANGE[1]:
        raise InputError(f"bins must be a whole number {BINS_RANGE[0]}-{BINS_RANGE[1]}, got {bins!r:.40}")
    if not isinstance(width, (int, float)) or isinstance(width, bool) or not (math.isfinite(width) and 0 < width <= 1):
        raise InputError(f"bin_width must be a number in (0, 1], got {width!r:.40}")
    return bins, float(width)


def histogram_width(bins: int = BINS, with_def: bool = False) -> int:
    """The model input width: two ``bins x bins`` histograms, the centre, and the 9 DEF values for ECCC."""
    return 2 * bins * bins + N_CENTRE + (N_DEF if with_def else 0)


def _local_deviation(m: np.ndarray) -> np.ndarray:
    """(H, W, 3): per channel, the mean absolute difference to the 8 neighbours (reflected border)."""
    p = cv2.copyMakeBorder(m, 1, 1, 1, 1, cv2.BORDER_REFLECT_101)
    h, w = m.shape[:2]
    out = np.zeros_like(m)
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            if dy != 1 or dx != 1:
                out += np.abs(m - p[dy : dy + h, dx : dx + w])
    return out / np.float32(8.0)


def _hist(uv: np.ndarray, centre: np.ndarray, bins: int, width: float) -> np.ndarray:
    if len(uv) == 0:
        return np.zeros((bins, bins), np.float32)
    idx = np.floor((uv - centre) / width + bins / 2).astype(np.int64)
    np.clip(idx, 0, bins - 1, out=idx)
    counts = np.bincount(idx[:, 0] * bins + idx[:, 1], minlength=bins * bins).astype(np.float32)
    return (counts / np.float32(len(uv))).reshape(bins, bins)


def _from_stats(m: np.ndarray, sat: np.ndarray, rng: float, bins: int, width: float
                ) -> tuple[np.ndarray, np.ndarray, int]:
    valid = _not_dark(m, rng) & (sat <= 0.0)
    usable = int(valid.sum())
    cells = m[valid] if usable else m.reshape(-1, 3)
    gw = cells.astype(np.float64).mean(axis=0)
    centre = log_chroma(gw) if (gw > 0).all() else np.zeros(2)
    dev = _local_deviation(m)
    edge = valid & (dev.min(axis=-1) > EDGE_MIN * rng)
    hist = np.stack([_hist(log_chroma(m[valid]), centre, bins, width),
                     _hist(log_chroma(dev[edge]), centre, bins, width)])
    return hist, centre.astype(np.float32), usable


def log_chroma_histograms(
    frame: np.ndarray, *, white_level: float, black_level: float = 0, pattern: str | None = None,
    bins: int = BINS, bin_width: float = BIN_WIDTH,
) -> tuple[np.ndarray, np.ndarray, int]:
    """``(hist, centre, usable)`` of one frame: float32 ``(2, bins, bins)`` pixel and edge histograms (each
    sums to 1, or all zeros), their window's centre (the gray-world (u, v)) and the number of usable cells."""
    long, _ = _check_pair(frame, frame, pattern)
    w, b = _check_levels(white_level, black_level, long)
    bins, bin_width = _check_window(bins, bin_width)
    m, sat = _long_stats(long, w, b)
    return _from_stats(m, sat, w - b, bins, bin_width)


def histogram_features(
    long: np.ndarray, short: np.ndarray, *, white_level: float, black_level: float = 0, pattern: str | None = None,
    bins: int = BINS, bin_width: float = BIN_WIDTH, with_def: bool = False,
) -> tuple[np.ndarray, bool]:
    """The CCC (``with_def=False``) or ECCC input, float32 ``(histogram_width(bins, with_def),)``, and whether
    the pair carries any information (False: no usable cell and, for ECCC, no dual-exposure distortion).

    CCC reads only the long frame; ECCC also the short one (DEF, and the swapped-pair check)."""
    long, short = _check_pair(long, short, pattern)
    w, b = _check_levels(white_level, black_level, long)
    bins, bin_width = _check_window(bins, bin_width)
    m_long, sat = _long_stats(long, w, b)
    hist, centre, usable = _from_stats(m_long, sat, w - b, bins, bin_width)
    parts = [hist.reshape(-1), centre]
    informative = usable > 0
    if with_def:
        m_short = _grid_means(_fine(short), b)
        _check_order(m_long, m_short, w - b)
        d = _def_from_stats(m_long, m_short, w - b)
        parts.append(d)
        informative = informative or float(np.abs(d).max()) >= 1e-6
    return np.concatenate(parts).astype(np.float32), informative
