"""The dual-exposure feature (DEF) and single-frame chroma statistics, from ISP-style AWB statistics.

numpy + OpenCV only (no torch, no colour-science): this runs on the device.

**AWB statistics grid.** Large frames are row-subsampled as ISP AWB statistics often are: every
k-th row, ``k = H // 216`` (1080p: 5, 4K: 10; a strided view, the other rows are never read). The
(``uint16``, never converted to float) rows are then reduced by exact 2-to-1 box means per axis
(``cv2.resize`` bilinear at scale 0.5: ``(a + b) / 2`` is exact in float and rounds half to even)
while that axis stays >= 640 (width) / 180 (height): the *fine grid* (1080p and 4K -> 960 x 216,
integer multiples of the 64 x 36 grid; frames below 1280 x 360 keep full width). The fine grid is
averaged into a 64 x 36 grid (:data:`GRID`) of block means rounded to integers, black level
subtracted, negatives clipped to 0: when every block is a whole number of fine cells (1080p, 4K, the
192 x 108 training scenes) by OpenCV's integer-scale ``INTER_AREA`` (exact sums, one rounding of
``sum * float32(1 / area)``), otherwise (720p: 640 x 240, odd sizes) as the exact area-weighted mean
from integer block sums (an integral image), rounded half to even. For the long frame a per-block
*saturated fraction* is the largest per-channel fraction of saturated fine cells, the same block mean
of a 0 / 255 mask. On large frames a fine cell is a mean of several pixels (of the kept rows), so a
block with only a few isolated clipped pixels can pass as unsaturated; clipped highlights are
spatially coherent, so this is rare, and it keeps the cost at about one read of 1/k of each frame
(below the cost of copying the frames).

**Same features on every CPU.** Every step above is integer arithmetic or a single IEEE rounding, and
the float steps below have one fixed order, so x86-64 and aarch64 (Jetson) compute bit-identical
features (``tools/arm64_check.sh`` checks it under emulation), as does the integer C export
(``converters/c_awb``). Three things used to differ, found op by op under qemu-aarch64: OpenCV's
fractional-scale ``INTER_AREA`` (float weights accumulated with SIMD / fused multiply-adds: 1 DN
apart in 0.3 % of the block means of 160 x 96 frames), ``np.argpartition``'s choice among equally
bright cells (x86 numpy uses a SIMD sort), and, in principle, BLAS / LAPACK for the 3 x 3 fit.

**Thresholds** (relative to the sensor range ``R = white_level - black_level``, so they hold for any
bit depth):

* saturated: a pixel value ``>= black_level + 0.95 R`` (:data:`SAT_FRACTION`) in *any* channel of
  the long frame. Sensors clip per channel below the ADC maximum, so 0.95 rather than 1.0.
* dark (noise-dominated): a cell whose *short*-frame mean is below ``0.002 R`` in some channel or
  below ``0.02 R`` summed over channels (:data:`DARK_MIN_CHANNEL`, :data:`DARK_MIN_SUM`).

**DEF** (:func:`dual_exposure_feature`, 9 values). Valid cells: every cell that is not dark in the
short frame. Cells saturated in the long frame are deliberately *kept*: the way clipping distorts a
bright cell's long-exposure chromaticity (the channel that clips first is the illuminant's dominant
one) is the signal the DEF measures. Measured on the synthetic val split: with saturated cells
masked out, EMLP was no better than the no-DEF MLP (5.6-5.7 vs 5.3-5.5 degrees mean); keeping them
gives 5.0-5.1 degrees. Both frames' valid cell means become
rgb-chromaticities (``r = R / (R + G + B)``, ...), stacked as 3 x N matrices ``X_s``, ``X_l``. The
matrix ``C`` minimising ``||C X_s - X_l||_F^2 + lam ||C - I||_F^2`` (ridge towards the identity, the
"no distortion" matrix; ``lam = 1e-3 * N``) is ``C = (X_l X_s^T + lam I)(X_s X_s^T + lam I)^-1``.
The output is ``C - I`` flattened row-major, so a distortion-free pair gives zeros. The normal
matrices are elementwise products summed by numpy's pairwise add, the 3 x 3 system is solved by
Gaussian elimination with partial pivoting in Python floats (no BLAS / LAPACK: their kernels and fused
multiply-adds differ between CPUs).
Fallback: with fewer than :data:`MIN_VALID_CELLS` valid cells, the output is all zeros (C = I).

**Single-frame statistics** (:func:`extract_single_frame_features`, 6 values) of the long frame,
over cells that are neither saturated nor dark (dark judged on the long frame itself, same
thresholds): the (r, g) chromaticity of the gray-world mean, of the per-channel max (max-RGB) and of
the mean of the brightest 5 % of those cells (by R + G + B; among equally bright cells at the cut, the
first in raster order, as the C export). Fallbacks: no valid cell -> all cells
are used; a zero sum -> (1/3, 1/3).

**EMLP input** (:func:`extract_features`): ``[DEF (9), single-frame statistics (6)]``, F = 15.

**Bayer mosaics** (``pattern="RGGB" | "BGGR" | "GRBG" | "GBRG"``, :data:`BAYER_PATTERNS`): a 2-D raw
frame is first reduced to one RGB value per 2 x 2 CFA cell (:func:`bayer_cells`: R, the rounded mean of
the two G sites, B; an odd last row/column is dropped), as ISP AWB statistics blocks do, and the
H/2 x W/2 x 3 cell image goes through the statistics above. On synthetic test scenes of 640 x 360 and
larger, mosaics sampled from the demosaiced frames give EMLP illuminants within
:data:`BAYER_TOLERANCE_DEG` (mean 0.5, max 2.5 degrees) of the demosaiced frames' (tests/edge_sdk/test_bayer.py);
smaller frames have fewer CFA cells per statistics block and differ more (mean ~0.65 degrees at 384 x 216).

**Input checks** (:class:`~edge_sdk.errors.InputError`, naming the frame): H x W x 3 (or H x W with a
Bayer ``pattern``) uint16 / uint8 / float32 frames of one shape and dtype; finite
levels ``0 <= black_level < white_level``, and for integer frames ``white_level`` within the dtype
(a uint8 frame cannot hold 12-bit raw); and a short frame with more than :data:`SWAP_MARGIN` times the
long frame's total signal is refused as a swapped pair.

Every output is finite for every finite input, and invariant to a global intensity scale of both
frames as long as no pixel crosses the saturated or dark thresholds.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge_sdk.awb.grid import GRID, area_means
from edge_sdk.errors import InputError

SAT_FRACTION = 0.95
DARK_MIN_CHANNEL = 0.002
DARK_MIN_SUM = 0.02
MIN_VALID_CELLS = 8
BRIGHTEST_FRACTION = 0.05
RIDGE = 1e-3
N_DEF = 9
N_SINGLE = 6
N_FEATURES = N_DEF + N_SINGLE
# position of R, G, G, B within the 2 x 2 CFA cell, as indices into the row-major cell (0, 1, 2, 3)
BAYER_PATTERNS: dict[str, tuple[int, int, int, int]] = {
    "RGGB": (0, 1, 2, 3),
    "BGGR": (3, 1, 2, 0),
    "GRBG": (1, 0, 3, 2),
    "GBRG": (2, 0, 3, 1),
}
# Bayer vs demosaiced frames (640 x 360 and larger): mean / max angle between the EMLP illuminants over
# synthetic test scenes (measured: mean 0.19-0.31, max 0.6-1.7 degrees per pattern on 30 scenes)
BAYER_TOLERANCE_DEG = (0.5, 2.5)

__all__ = [
    "BAYER_PATTERNS",
    "GRID",
    "N_DEF",
    "N_FEATURES",
    "N_SINGLE",
    "awb_statistics",
    "bayer_cells",
    "dual_exposure_feature",
    "extract_features",
    "extract_single_frame_features",
    "features_and_usable_cells",
]


def _check_frame(name: str, frame: object) -> np.ndarray:
    if not isinstance(frame, np.ndarray):
        raise InputError(f"{name}: expected a numpy array H x W x 3, got {type(frame).__name__}")
    if frame.ndim == 2:
        raise InputError(
            f"{name}: expected shape (H, W, 3), got {tuple(frame.shape)}: for a 2-D Bayer mosaic pass its "
            f"CFA pattern (pattern={'/'.join(BAYER_PATTERNS)})"
        )
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.shape[0] < 1 or frame.shape[1] < 1:
        raise InputError(f"{name}: expected shape (H, W, 3), got {tuple(frame.shape)}")
    if frame.dtype not in (np.uint16, np.uint8, np.float32):
        raise InputError(f"{name}: expected dtype uint16 (or uint8/float32), got {frame.dtype}")
    if frame.dtype == np.float32 and not np.isfinite(frame).all():
        raise InputError(f"{name}: expected finite values, got NaN or inf")
    return frame


def _check_levels(white_level: float, black_level: float, frame: np.ndarray | None = None) -> tuple[float, float]:
    w, b = float(white_level), float(black_level)
    if not (np.isfinite(w) and np.isfinite(b)) or w <= b or b < 0:
        raise InputError(
            f"white_level/black_level: expected finite 0 <= black_level < white_level, got {white_level}, {black_level}"
        )
    if frame is not None and np.issubdtype(frame.dtype, np.integer) and w > np.iinfo(frame.dtype).max:
        top = np.iinfo(frame.dtype).max
        raise InputError(
            f"white_level {white_level:g} is beyond the range of {frame.dtype} frames (max {top}): "
            f"pass the raw frames as uint16, or white_level <= {top} for {frame.dtype} frames"
        )
    return w, b


def _pattern(pattern: object) -> tuple[int, int, int, int]:
    key = pattern.upper() if isinstance(pattern, str) else pattern
    if key not in BAYER_PATTERNS:
        raise InputError(
            f"pattern: expected one of {', '.join(BAYER_PATTERNS)} (or None for H x W x 3), got {pattern!r}"
        )
    return BAYER_PATTERNS[key]  # type: ignore[index]


def bayer_cells(mosaic: np.ndarray, pattern: str, name: str = "frame") -> np.ndarray:
    """H/2 x W/2 x 3 (same dtype): per 2 x 2 CFA cell of a 2-D Bayer mosaic, (R, mean of the two G, B).

    Integer frames keep their dtype (the G mean is rounded half up); an odd last row/column is dropped."""
    order = _pattern(pattern)
    if not isinstance(mosaic, np.ndarray) or mosaic.ndim != 2:
        shape = tuple(mosaic.shape) if isinstance(mosaic, np.ndarray) else type(mosaic).__name__
        raise InputError(f"{name}: a Bayer mosaic ({pattern}) must be a 2-D array H x W, got {shape}")
    if mosaic.shape[0] < 2 or mosaic.shape[1] < 2:
        raise InputError(f"{name}: a Bayer mosaic needs at least 2 x 2 pixels, got {tuple(mosaic.shape)}")
    if mosaic.dtype not in (np.uint16, np.uint8, np.float32):
        raise InputError(f"{name}: expected dtype uint16 (or uint8/float32), got {mosaic.dtype}")
    if mosaic.dtype == np.float32 and not np.isfinite(mosaic).all():
        raise InputError(f"{name}: expected finite values, got NaN or inf")
    h, w = mosaic.shape[0] // 2 * 2, mosaic.shape[1] // 2 * 2
    sites = [mosaic[i // 2 : h : 2, i % 2 : w : 2] for i in range(4)]
    r, g1, g2, b = (sites[i] for i in order)
    if mosaic.dtype == np.float32:
        g = (g1 + g2) * np.float32(0.5)
    else:
        g = ((g1.astype(np.uint32) + g2 + 1) >> 1).astype(mosaic.dtype)
    return cv2.merge([np.ascontiguousarray(c) for c in (r, g, b)])


def _rgb(name: str, frame: object, pattern: str | None) -> np.ndarray:
    """The H x W x 3 frame the statistics run on: ``frame`` itself, or its CFA cells for a Bayer pattern."""
    if pattern is None:
        return _check_frame(name, frame)
    return bayer_cells(frame, pattern, name)  # type: ignore[arg-type]


FINE_MIN = (640, 180)  # the halving chain stops before the fine grid would drop below this (w, h)
ROWS_KEPT = 216  # large frames: every k-th row, k = H // ROWS_KEPT, feeds the statistics


def _fine(frame: np.ndarray) -> np.ndarray:
    """The fine grid: every k-th row (k = H // 216, at least 1), then exact 2-to-1 box means per axis
    (bilinear at scale 0.5) while that axis stays >= :data:`FINE_MIN`.

    The row subsampling is a strided view (no copy): OpenCV skips the other rows entirely, so the
    cost is about one read of 1/k of the frame. An odd last row/column is dropped.
    """
    f = frame if frame.flags.c_contiguous else np.ascontiguousarray(frame)
    step = max(1, f.shape[0] // ROWS_KEPT)
    if step > 1:
        f = f[::step]
    while True:
        h, w = f.shape[:2]
        h2 = h // 2 if h // 2 >= FINE_MIN[1] else h
        w2 = w // 2 if w // 2 >= FINE_MIN[0] else w
        if (h2, w2) == (h, w):
            return f
        f = cv2.resize(f[: h2 * (h // h2), : w2 * (w // w2)], (w2, h2), interpolation=cv2.INTER_LINEAR)


def _grid_means(fine: np.ndarray, black: float) -> np.ndarray:
    """(36, 64, 3) float32 block means minus black level (>= 0)."""
    means = area_means(fine).astype(np.float32)
    means -= np.float32(black)
    np.maximum(means, 0.0, out=means)
    return means


def _grid_saturated(fine: np.ndarray, white: float, black: float) -> np.ndarray:
    """(36, 64) float32: per block, the largest per-channel fraction of saturated fine cells (in 1/255 steps,
    the block mean of a 0 / 255 mask, rounded as :func:`edge_sdk.awb.grid.area_means`)."""
    t = black + SAT_FRACTION * (white - black)
    h, w = fine.shape[:2]
    # compare on the (H, 3W) single-channel view: uint8 0/255 per channel value
    mask = cv2.compare(fine.reshape(h, w * 3), float(t), cv2.CMP_GE)  # type: ignore[call-overload]
    frac = area_means(mask.reshape(h, w, 3))
    return frac.max(axis=2).astype(np.float32) / 255.0


def _long_stats(long: np.ndarray, white: float, black: float) -> tuple[np.ndarray, np.ndarray]:
    fine = _fine(long)
    return _grid_means(fine, black), _grid_saturated(fine, white, black)


def awb_statistics(
    frame: np.ndarray, *, white_level: float, black_level: float = 0, pattern: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(means, sat)``: 36 x 64 x 3 black-subtracted block means and 36 x 64 saturated fractions."""
    frame = _rgb("frame", frame, pattern)
    w, b = _check_levels(white_level, black_level, frame)
    return _long_stats(frame, w, b)


def _not_dark(means: np.ndarray, rng_: float) -> np.ndarray:
    return (means.min(axis=-1) >= DARK_MIN_CHANNEL * rng_) & (means.sum(axis=-1) >= DARK_MIN_SUM * rng_)


def _chroma(v: np.ndarray) -> np.ndarray:
    s = v.sum(axis=-1, keepdims=True)
    out = np.full(v.shape, 1.0 / 3.0, dtype=np.float64)
    ok = s[..., 0] > 1e-12
    out[ok] = v[ok] / s[ok]
    return out


def _gram(a: np.ndarray, b: np.ndarray) -> list[list[float]]:
    """``a @ b.T`` (3 x N by N x 3, float64) as elementwise products summed by numpy's pairwise add along
    the contiguous last axis: one fixed order on every CPU. (A BLAS dot product's order and its fused
    multiply-adds depend on the CPU's kernel.)"""
    return np.add.reduce(a[:, None, :] * b[None, :, :], axis=-1).tolist()  # type: ignore[no-any-return]


def _solve3(a: list[list[float]], b: list[list[float]]) -> list[list[float]]:
    """``x`` with ``a @ x = b`` (3 x 3 each) by Gaussian elimination with partial pivoting, in Python floats:
    every step one IEEE double operation, the same on every CPU (LAPACK builds differ in their kernels and
    in fusing multiply-adds). ``a`` here is a Gram matrix plus a ridge: positive definite, no zero pivot."""
    m = [list(a[i]) + list(b[i]) for i in range(3)]
    for k in range(3):
        p = max(range(k, 3), key=lambda r: abs(m[r][k]))  # the first largest, as LAPACK's idamax
        m[k], m[p] = m[p], m[k]
        for r in range(k + 1, 3):
            f = m[r][k] / m[k][k]
            m[r] = [m[r][j] - f * m[k][j] for j in range(6)]
    x = [[0.0] * 3 for _ in range(3)]
    for i in (2, 1, 0):
        for j in range(3):
            x[i][j] = (m[i][3 + j] - sum(m[i][t] * x[t][j] for t in range(i + 1, 3))) / m[i][i]
    return x


def _def_from_stats(m_long: np.ndarray, m_short: np.ndarray, rng_: float) -> np.ndarray:
    valid = _not_dark(m_short, rng_) & (m_long.sum(axis=-1) > 0)
    if int(valid.sum()) < MIN_VALID_CELLS:
        return np.zeros(N_DEF, np.float32)
    vs, vl = m_short[valid], m_long[valid]  # N x 3, every row sum > 0 (not dark)
    xs = np.ascontiguousarray((vs / vs.sum(axis=1, keepdims=True)).T, np.float64)  # 3 x N
    xl = np.ascontiguousarray((vl / np.maximum(vl.sum(axis=1, keepdims=True), 1e-12)).T, np.float64)
    lam = RIDGE * xs.shape[1]
    a, b = _gram(xs, xs), _gram(xl, xs)
    for i in range(3):
        a[i][i] += lam
        b[i][i] += lam
    # C = B A^-1, A symmetric: A C^T = B^T
    ct = _solve3(a, [list(r) for r in zip(*b)])
    out = np.array(ct, np.float64).T - np.eye(3)
    return np.nan_to_num(out.reshape(-1), nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)


def _brightest(bright: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest values of ``bright``, ties at the threshold broken by raster order (the
    first ones). numpy's argpartition breaks ties its own way, which differs between CPUs (x86 builds use a
    SIMD sort) and numpy versions; the C export (converters/c_awb) takes the same cells."""
    t = np.partition(bright, len(bright) - k)[len(bright) - k]  # the k-th largest value (unique as a value)
    above = np.flatnonzero(bright > t)
    return np.concatenate([above, np.flatnonzero(bright == t)[: k - len(above)]])


def _single_from_stats(m: np.ndarray, sat: np.ndarray | None, rng_: float) -> np.ndarray:
    valid = _not_dark(m, rng_)
    if sat is not None:
        valid &= sat <= 0.0
    cells = m[valid] if valid.any() else m.reshape(-1, 3)
    cells = cells.astype(np.float64)
    gw = cells.mean(axis=0)
    mx = cells.max(axis=0)
    bright = cells.sum(axis=1)
    k = max(1, int(np.ceil(BRIGHTEST_FRACTION * len(cells))))
    top = cells[np.sort(_brightest(bright, k))].mean(axis=0)
    out = np.concatenate([_chroma(v)[:2] for v in (gw, mx, top)])
    return np.nan_to_num(out, nan=1.0 / 3.0).astype(np.float32)


SWAP_MARGIN = 1.05  # a short frame with more total signal than this times the long one is refused


def _check_order(m_long: np.ndarray, m_short: np.ndarray, rng_: float) -> None:
    """Refuse a pair whose short exposure holds clearly more light than its long one (swapped frames)."""
    s_long, s_short = float(m_long.sum(dtype=np.float64)), float(m_short.sum(dtype=np.float64))
    if s_short > SWAP_MARGIN * s_long and s_short > DARK_MIN_SUM * rng_ * m_short.shape[0] * m_short.shape[1]:
        raise InputError(
            f"short: brighter than long (mean signal {s_short / s_long if s_long else float('inf'):.2f}x): "
            "the (long, short) pair looks swapped; pass the longer exposure first"
        )


def _check_pair(long: np.ndarray, short: np.ndarray, pattern: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    if pattern is not None:
        for name, f in (("long", long), ("short", short)):
            if not isinstance(f, np.ndarray) or f.ndim != 2:
                shape = tuple(f.shape) if isinstance(f, np.ndarray) else type(f).__name__
                raise InputError(f"{name}: a Bayer mosaic ({pattern}) must be a 2-D array H x W, got {shape}")
    else:
        _check_frame("long", long)
        _check_frame("short", short)
    if long.shape != short.shape:
        raise InputError(f"short: expected the same shape as long {tuple(long.shape)}, got {tuple(short.shape)}")
    if long.dtype != short.dtype:
        raise InputError(f"short: expected the same dtype as long ({long.dtype}), got {short.dtype}")
    if pattern is None:
        return long, short
    return bayer_cells(long, pattern, "long"), bayer_cells(short, pattern, "short")


def dual_exposure_feature(
    long: np.ndarray, short: np.ndarray, *, white_level: float, black_level: float = 0, pattern: str | None = None
) -> np.ndarray:
    """The 9 DEF values (``C - I`` row-major, float32) of a long/short frame pair; see the module doc."""
    long, short = _check_pair(long, short, pattern)
    w, b = _check_levels(white_level, black_level, long)
    m_long, m_short = _grid_means(_fine(long), b), _grid_means(_fine(short), b)
    _check_order(m_long, m_short, w - b)
    return _def_from_stats(m_long, m_short, w - b)


def extract_single_frame_features(
    frame: np.ndarray, *, white_level: float, black_level: float = 0, pattern: str | None = None
) -> np.ndarray:
    """6 float32 values: (r, g) of gray-world, max-RGB and brightest-5 % over valid cells of one frame."""
    frame = _rgb("frame", frame, pattern)
    w, b = _check_levels(white_level, black_level, frame)
    return _single_from_stats(*_long_stats(frame, w, b), w - b)


def extract_features(
    long: np.ndarray, short: np.ndarray, *, white_level: float, black_level: float = 0, pattern: str | None = None
) -> np.ndarray:
    """The EMLP input, float32 (15,): ``[DEF (9), single-frame statistics of the long frame (6)]``.

    ``pattern``: the frames are 2-D Bayer mosaics with this CFA layout (see the module doc)."""
    return features_and_usable_cells(long, short, white_level=white_level, black_level=black_level, pattern=pattern)[0]


def features_and_usable_cells(
    long: np.ndarray, short: np.ndarray, *, white_level: float, black_level: float = 0, pattern: str | None = None
) -> tuple[np.ndarray, int]:
    """:func:`extract_features` and the number of long-frame grid cells that are neither dark nor
    saturated (0: the single-frame statistics fell back to all cells and carry no information)."""
    long, short = _check_pair(long, short, pattern)
    w, b = _check_levels(white_level, black_level, long)
    m_long, sat = _long_stats(long, w, b)
    m_short = _grid_means(_fine(short), b)
    _check_order(m_long, m_short, w - b)
    usable = int((_not_dark(m_long, w - b) & (sat <= 0.0)).sum())
    feats = np.concatenate([_def_from_stats(m_long, m_short, w - b), _single_from_stats(m_long, sat, w - b)])
    return feats, usable
