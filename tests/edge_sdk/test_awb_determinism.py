"""White-balance statistics defined by exact rules, so x86-64 and aarch64 compute the same features.

Each step of edge_sdk/awb/features.py is checked against an independent reference of its rule (exact
fractions, an explicit float32 formula, LAPACK), on the sizes that take each path. The cross-CPU check itself
is tools/arm64_check.sh (qemu-aarch64, features held to 0 difference).
"""

from __future__ import annotations

from fractions import Fraction

import cv2
import numpy as np
import pytest

from edge_sdk.awb import features as F
from edge_sdk.awb import grid as G


def _exact_area_means(fine: np.ndarray) -> np.ndarray:
    """Block means as exact fractions of the area-weighted sums, rounded half to even (Python's round)."""
    fh, fw = fine.shape[:2]
    gw, gh = G.GRID
    # overlap of block b ([b fw, (b + 1) fw)) with fine cell i ([i gw, (i + 1) gw)), in 1 / gw of a cell
    wy = np.array([[max(0, min((a + 1) * fh, (j + 1) * gh) - max(a * fh, j * gh)) for j in range(fh)]
                   for a in range(gh)], dtype=object)
    wx = np.array([[max(0, min((b + 1) * fw, (i + 1) * gw) - max(b * fw, i * gw)) for i in range(fw)]
                   for b in range(gw)], dtype=object)
    out = np.empty((gh, gw, fine.shape[2]), np.int64)
    for c in range(fine.shape[2]):
        sums = wy @ fine[..., c].astype(object) @ wx.T
        out[..., c] = [[round(Fraction(int(s), fh * fw)) for s in row] for row in sums]
    return out


# fractional blocks: the probe's 160 x 96, 720p's fine grid, odd sizes, and frames smaller than the grid
@pytest.mark.parametrize("shape", [(96, 160), (240, 640), (47, 99), (35, 63), (5, 7), (1, 1)])
def test_fractional_block_means_are_exact(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(shape))
    fine = rng.integers(0, 65536, (*shape, 3), dtype=np.uint16)
    assert not G.whole_blocks(fine)
    got = G.area_means(fine)
    assert got.dtype == np.uint16
    np.testing.assert_array_equal(got, _exact_area_means(fine))
    mask = rng.integers(0, 2, (*shape, 3), dtype=np.uint8) * np.uint8(255)  # the saturation mask's path
    np.testing.assert_array_equal(G.area_means(mask), _exact_area_means(mask))


@pytest.mark.parametrize("shape", [(72, 96), (40, 64)])
def test_fractional_ties_round_half_to_even(shape: tuple[int, int]) -> None:
    """Small values on grids whose block means often land exactly on .5: half to even, as the C export."""
    fine = np.random.default_rng(5).integers(0, 5, (*shape, 1), dtype=np.uint16)
    got = G.area_means(fine)
    np.testing.assert_array_equal(got, _exact_area_means(fine))
    ii = cv2.integral(fine, sdepth=cv2.CV_64F)[..., None]  # one channel: OpenCV returns it 2-D
    twice = 2 * G.block_sums(ii, *shape).astype(np.int64)
    ties = (twice % (shape[0] * shape[1]) == 0) & ((twice // (shape[0] * shape[1])) % 2 == 1)
    assert ties.sum() > 50  # many exact .5 means ...
    halves = (twice[ties] // (shape[0] * shape[1]) - 1) // 2  # ... k + 0.5 -> k or k + 1: the even one
    np.testing.assert_array_equal(got[ties], halves + halves % 2)


# whole blocks: the training scenes (192 x 108 -> 3 x 3), 1080p / 4K (960 x 216 -> 15 x 6), the largest area
@pytest.mark.parametrize("shape", [(108, 192), (216, 960), (324, 1216), (36, 64)])
def test_whole_block_means_follow_the_float32_rule(shape: tuple[int, int]) -> None:
    """OpenCV's integer-scale area mean, written out: round_half_even(float32(sum) * float32(1 / area)).
    Every operation is one IEEE rounding, so it is the same on every CPU; this holds OpenCV to it."""
    rng = np.random.default_rng(shape[1])
    fine = rng.integers(0, 65536, (*shape, 3), dtype=np.uint16)
    ay, ax = shape[0] // G.GRID[1], shape[1] // G.GRID[0]
    assert G.whole_blocks(fine)
    sums = fine.reshape(G.GRID[1], ay, G.GRID[0], ax, 3).sum(axis=(1, 3), dtype=np.int64)
    want = np.rint(sums.astype(np.float32) * (np.float32(1) / np.float32(ay * ax)))
    np.testing.assert_array_equal(G.area_means(fine), want.astype(np.uint16))


def test_float32_frames_take_the_float64_rule() -> None:
    rng = np.random.default_rng(3)
    fine = rng.random((96, 160, 3), dtype=np.float32)
    got = G.area_means(fine)
    assert got.dtype == np.float32
    exact = _exact_area_means((fine.astype(np.float64) * 2**24).astype(np.int64))  # float32 in [0, 1): 24 bits
    np.testing.assert_allclose(got, exact / 2**24, atol=1e-7)
    ref = cv2.resize(fine, G.GRID, interpolation=cv2.INTER_AREA)  # OpenCV's float path: the same means
    np.testing.assert_allclose(got, ref, atol=2e-7)


def test_brightest_cells_break_ties_in_raster_order() -> None:
    n = G.GRID[0] * G.GRID[1]
    k = int(np.ceil(F.BRIGHTEST_FRACTION * n))  # 116
    m = np.full((n, 3), 300.0, np.float32)  # dim gray: never among the brightest
    bright = np.arange(0, n, 23)[: k - 16]  # 100 bright neutral cells spread over the grid
    m[bright] = 1000.0
    rest = np.setdiff1d(np.arange(n), bright)
    tied = rest[np.linspace(0, len(rest) - 1, 40).astype(int)]  # 40 equally bright cells (sum 1500) ...
    m[tied[::2]] = (800.0, 400.0, 300.0)  # ... alternating red and blue in raster order
    m[tied[1::2]] = (300.0, 400.0, 800.0)
    m = m.reshape(G.GRID[1], G.GRID[0], 3)
    got = F._single_from_stats(m, None, 4095.0)[4:]
    take = np.r_[bright, tied[:16]]  # the first 16 tied cells in raster order: 8 red, 8 blue
    top = m.reshape(-1, 3)[take].astype(np.float64).mean(axis=0)
    np.testing.assert_allclose(got, (top / top.sum())[:2], rtol=0, atol=1e-7)
    picked = F._brightest(m.reshape(-1, 3).sum(axis=1).astype(np.float64), k)
    np.testing.assert_array_equal(np.sort(picked), np.sort(take))


def test_def_solver_matches_lapack() -> None:
    rng = np.random.default_rng(4)
    for _ in range(50):
        x = rng.uniform(0.05, 0.8, (3, 200))
        a = x @ x.T + 0.2 * np.eye(3)
        b = rng.normal(0, 1, (3, 3))
        got = np.array(F._solve3(a.tolist(), b.tolist()))
        np.testing.assert_allclose(got, np.linalg.solve(a, b), rtol=1e-10, atol=1e-12)
    m_long = rng.uniform(100, 3000, (G.GRID[1], G.GRID[0], 3)).astype(np.float32)
    m_short = (m_long / 4 * rng.uniform(0.9, 1.1, m_long.shape)).astype(np.float32)
    got = F._def_from_stats(m_long, m_short, 4031.0)
    xs = (m_short / m_short.sum(-1, keepdims=True)).reshape(-1, 3).T.astype(np.float64)
    xl = (m_long / m_long.sum(-1, keepdims=True)).reshape(-1, 3).T.astype(np.float64)
    lam, eye = F.RIDGE * xs.shape[1], np.eye(3)
    want = ((xl @ xs.T + lam * eye) @ np.linalg.inv(xs @ xs.T + lam * eye) - eye).reshape(-1)
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert np.abs(want).max() > 1e-3  # a real distortion, not the identity
