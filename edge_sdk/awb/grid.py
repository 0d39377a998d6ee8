"""The AWB statistics grid (:data:`GRID`) and the block means that fill it, the same on every CPU.

:func:`area_means` averages a fine grid of cells (``edge_sdk.awb.features._fine``) into the 64 x 36 grid:
with OpenCV's integer-scale ``INTER_AREA`` where every block is a whole number of cells (exact sums, one
rounding), otherwise from exact integer block sums of an integral image (:func:`block_sums`), because
OpenCV's fractional-scale path rounds differently on x86-64 and aarch64. The rules are in
``edge_sdk.awb.features`` ("Same features on every CPU") and are checked against exact fractions by
``tests/edge_sdk/test_awb_determinism.py``.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

GRID = (64, 36)  # (width, height) of the AWB statistics grid


def whole_blocks(fine: np.ndarray) -> bool:
    """Whether every grid block is a whole number of fine cells (OpenCV's integer-scale area path)."""
    return fine.shape[0] % GRID[1] == 0 and fine.shape[1] % GRID[0] == 0


@functools.lru_cache(maxsize=16)
def _corner_taps(fh: int, fw: int) -> tuple[np.ndarray, np.ndarray]:
    """Where :func:`block_sums` reads the integral image of an fh x fw fine grid and with which weights:
    (4, 37 * 65) flat indices and integer weights, four taps per grid corner."""
    jy, ry = np.divmod(np.arange(GRID[1] + 1) * fh, GRID[1])
    jx, rx = np.divmod(np.arange(GRID[0] + 1) * fw, GRID[0])
    # r = 0 wherever j + 1 would be out of range: clip it
    ys, wys = (jy, np.minimum(jy + 1, fh)), (GRID[1] - ry, ry)
    xs, wxs = (jx, np.minimum(jx + 1, fw)), (GRID[0] - rx, rx)
    idx = np.stack([(y[:, None] * (fw + 1) + x).ravel() for y in ys for x in xs])
    w = np.stack([(wy[:, None] * wx).ravel() for wy in wys for wx in wxs]).astype(np.float64)
    idx.setflags(write=False)
    w.setflags(write=False)
    return idx, w


def block_sums(integral: np.ndarray, fh: int, fw: int) -> np.ndarray:
    """(36, 64, C) float64: ``36 * 64`` times the area-weighted sum of each grid block.

    ``integral`` is the (fh + 1, fw + 1, C) integral image of the fine grid. In units where a fine cell
    is 36 x 64, block (a, b) spans rows [a fh, (a + 1) fh) and columns [b fw, (b + 1) fw): its
    boundaries fall at fine cell j = a fh // 36 plus r = a fh % 36 units, where the integral is linear in
    r (bilinear at a corner). For integer frames every value is an integer below 2^53 (fine grid
    < 432 x 1280, uint16: at most 2^46 here), so these float64 sums are exact in any order, on any CPU."""
    idx, w = _corner_taps(fh, fw)
    c = integral.shape[2]
    taps = integral.reshape(-1, c).take(idx.reshape(-1), axis=0).reshape(4, -1, c)
    corners = (taps * w[:, :, None]).sum(axis=0).reshape(GRID[1] + 1, GRID[0] + 1, c)
    return corners[1:, 1:] - corners[:-1, 1:] - corners[1:, :-1] + corners[:-1, :-1]  # type: ignore[no-any-return]


def area_means(fine: np.ndarray) -> np.ndarray:
    """(36, 64, C) block means of the fine grid, in its dtype (integer frames: rounded to integers).

    Whole blocks (every 1080p and 4K frame, the 192 x 108 training scenes): ``cv2.resize`` INTER_AREA,
    whose integer-scale path sums each block's cells in a fixed order (integer frames: exactly, integers
    below 2^24) and rounds ``sum * float32(1 / area)`` (half to even): the same on every CPU.
    Otherwise (e.g. 720p: a 640 x 240 fine grid) integer frames get the exact area-weighted mean from
    integer block sums, rounded half to even, and float32 frames the float64 mean from numpy's
    sequential cumulative sums (:func:`block_sums`): OpenCV's fractional-scale path accumulates float
    weights with SIMD / fused multiply-adds that differ between x86-64 and aarch64 (1 DN apart in 0.3 %
    of the block means of 160 x 96 frames)."""
    fh, fw, c = fine.shape
    if whole_blocks(fine):
        return cv2.resize(fine, GRID, interpolation=cv2.INTER_AREA).reshape(GRID[1], GRID[0], c)
    if fine.dtype == np.float32:
        integral = np.zeros((fh + 1, fw + 1, c), np.float64)
        np.cumsum(np.cumsum(fine, axis=0, dtype=np.float64), axis=1, out=integral[1:, 1:])
        return (block_sums(integral, fh, fw) / (fh * fw)).astype(np.float32)
    depth = cv2.CV_32S if fine.dtype == np.uint8 else cv2.CV_64F  # exact: counts / integers below 2^53
    integral = cv2.integral(fine, sdepth=depth).reshape(fh + 1, fw + 1, c)
    # the exact mean S / (fh fw) rounded half to even: S and fh fw are integers below 2^53, so the float64
    # quotient is within 2^-37 of the exact one while a non-tie is at least 1 / (2 fh fw) > 2^-21 from the
    # nearest .5, and a tie (k + 0.5) is exact: np.rint rounds it exactly as integer arithmetic would
    return np.rint(block_sums(integral, fh, fw) / (fh * fw)).astype(fine.dtype)
