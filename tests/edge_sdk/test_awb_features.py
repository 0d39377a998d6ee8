"""DEF and single-frame statistics, classical baselines, angular-error metrics."""

from __future__ import annotations

import numpy as np
import pytest

from edge_sdk.awb.baselines import BASELINES, gray_edge, gray_world, shades_of_gray, white_patch
from edge_sdk.awb.features import (
    N_DEF,
    N_FEATURES,
    N_SINGLE,
    dual_exposure_feature,
    extract_features,
    extract_single_frame_features,
)
from edge_sdk.awb.metrics import angular_error_deg, summarize
from edge_sdk.data.dual_exposure import generate_scene
from edge_sdk.errors import InputError


def _pair(seed: int = 0, h: int = 144, w: int = 256) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    base = np.kron(rng.uniform(200, 2400, size=(h // 8, w // 8, 3)), np.ones((8, 8, 1)))
    long = base + rng.normal(0, 10, base.shape)
    short = base / 4 + rng.normal(0, 5, base.shape)
    return long.clip(0, 4095).astype(np.uint16), short.clip(0, 4095).astype(np.uint16)


def test_shapes_and_finite_on_real_scene() -> None:
    sc = generate_scene(2, "train", 108, 192)
    kw = {"white_level": sc.white_level, "black_level": sc.black_level}
    f = extract_features(sc.long, sc.short, **kw)
    assert f.shape == (N_FEATURES,) and f.dtype == np.float32 and np.isfinite(f).all()
    np.testing.assert_allclose(f[:N_DEF], dual_exposure_feature(sc.long, sc.short, **kw), atol=1e-6)
    np.testing.assert_allclose(f[N_DEF:], extract_single_frame_features(sc.long, **kw), atol=1e-6)
    assert extract_single_frame_features(sc.long, **kw).shape == (N_SINGLE,)


def test_scale_invariance() -> None:
    long, short = _pair()
    f1 = extract_features(long, short, white_level=4095)
    f2 = extract_features((long.astype(np.float64) * 1.5).astype(np.uint16),
                          (short.astype(np.float64) * 1.5).astype(np.uint16), white_level=4095)
    np.testing.assert_allclose(f1, f2, atol=2e-3)
    # black level: shifting both frames and the black level changes nothing
    f3 = extract_features(long + 64, short + 64, white_level=4095 + 64, black_level=64)
    np.testing.assert_allclose(f1, f3, atol=2e-3)


def test_identical_chroma_gives_zero_def() -> None:
    long, _ = _pair()
    short = (long // 4).astype(np.uint16) * 4  # same chromaticities, coarser
    d = dual_exposure_feature(long, short, white_level=4095)
    assert np.abs(d).max() < 0.02


@pytest.mark.parametrize("value", [0, 4095])
def test_degenerate_frames_are_finite(value: int) -> None:
    frame = np.full((72, 128, 3), value, np.uint16)
    f = extract_features(frame, frame, white_level=4095)
    assert np.isfinite(f).all()
    np.testing.assert_allclose(f[:N_DEF], 0.0, atol=1e-6)  # fallback / identical chroma: C = I
    np.testing.assert_allclose(f[N_DEF:], 1 / 3, atol=1e-6)
    for fn in BASELINES.values():
        est = fn(frame, white_level=4095)
        assert np.isfinite(est).all() and abs(float(np.linalg.norm(est)) - 1) < 1e-5


def test_input_errors_name_the_tensor() -> None:
    long, short = _pair()
    with pytest.raises(InputError, match="short.*shape"):
        extract_features(long, short[:-8], white_level=4095)
    with pytest.raises(InputError, match="long.*\\(H, W, 3\\)"):
        extract_features(long[..., 0], short, white_level=4095)
    with pytest.raises(InputError, match="long.*dtype"):
        extract_features(long.astype(np.int32), short, white_level=4095)
    with pytest.raises(InputError, match="short.*dtype"):
        extract_features(long, short.astype(np.float32), white_level=4095)
    with pytest.raises(InputError, match="white_level"):
        extract_features(long, short, white_level=10, black_level=64)
    with pytest.raises(InputError, match="frame"):
        gray_world(np.zeros((4, 4)), white_level=255)


def test_gray_world_exact_on_gray_scene() -> None:
    rng = np.random.default_rng(0)
    illum = np.array([0.5, 1.0, 0.7])
    gray = rng.uniform(0.05, 0.8, size=(60, 80, 1))
    frame = (gray * illum * 4000).astype(np.float32)
    for fn in (gray_world, white_patch, shades_of_gray, gray_edge):
        est = fn(frame, white_level=4095)
        assert angular_error_deg(est, illum) < 0.05, fn.__name__
    # saturated pixels are excluded: a clipped white block does not move gray world
    frame2 = frame.copy()
    frame2[:20, :20] = 4095
    assert angular_error_deg(gray_world(frame2, white_level=4095), illum) < 0.05


def test_angular_error_and_summary() -> None:
    assert angular_error_deg(np.array([1, 0, 0]), np.array([0, 1, 0])) == pytest.approx(90)
    assert angular_error_deg(np.array([1, 1, 0]), np.array([2, 2, 0])) == pytest.approx(0, abs=1e-6)
    assert angular_error_deg(np.array([1, 1, 0]), np.array([1, 0, 0])) == pytest.approx(45)
    e = angular_error_deg(np.array([[1, 0, 0], [1, 1, 0]]), np.array([[0, 0, 1], [1, 0, 0]]))
    np.testing.assert_allclose(e, [90, 45])
    s = summarize(np.arange(1, 9, dtype=float))  # 1..8
    assert s["mean"] == pytest.approx(4.5) and s["median"] == pytest.approx(4.5)
    assert s["best25"] == pytest.approx(1.5) and s["worst25"] == pytest.approx(7.5)
    q1, q3 = np.percentile(np.arange(1, 9), [25, 75])
    assert s["trimean"] == pytest.approx((q1 + 2 * 4.5 + q3) / 4)
    with pytest.raises(InputError):
        summarize(np.array([]))
