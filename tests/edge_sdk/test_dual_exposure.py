"""The synthetic dual-exposure generator: determinism, disjoint splits, physics (clipping, noise)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from edge_sdk.data import spectra
from edge_sdk.data.dual_exposure import (
    SEEDS_PER_SPLIT,
    DualExposureScene,
    generate_scene,
    iter_scenes,
    make_feature_dataset,
)
from edge_sdk.errors import DatasetError


def test_deterministic_from_seed() -> None:
    a, b = generate_scene(7, "train", 72, 128), generate_scene(7, "train", 72, 128)
    assert isinstance(a, DualExposureScene)
    np.testing.assert_array_equal(a.long, b.long)
    np.testing.assert_array_equal(a.short, b.short)
    np.testing.assert_array_equal(a.illuminant, b.illuminant)
    assert a.ratio == b.ratio and a.meta == b.meta
    c = generate_scene(8, "train", 72, 128)
    assert not np.array_equal(a.long, c.long)


def test_frames_format_and_ground_truth() -> None:
    sc = generate_scene(3, "val", 90, 160)
    for f in (sc.long, sc.short):
        assert f.dtype == np.uint16 and f.shape == (90, 160, 3)
        assert f.max() <= sc.white_level
    assert sc.illuminant.dtype == np.float32 and sc.illuminant.shape == (3,)
    assert abs(float(np.linalg.norm(sc.illuminant)) - 1.0) < 1e-5
    assert (sc.illuminant > 0).all()
    assert 4.0 <= sc.ratio <= 16.0
    assert sc.black_level == 64 and sc.white_level == 4095
    # a perfect white reflector (linear sRGB 1, 1, 1) renders to the ground truth colour
    np.testing.assert_allclose(spectra.mallett_basis().sum(axis=1), 1.0, atol=1e-3)


def test_splits_disjoint_in_seeds_and_photos() -> None:
    seeds = {s: generate_scene(0, s, 32, 48).meta["seed"] for s in ("train", "val", "test")}
    assert len(set(seeds.values())) == 3
    ranges = {s: range(i * SEEDS_PER_SPLIT, (i + 1) * SEEDS_PER_SPLIT) for i, s in enumerate(("train", "val", "test"))}
    for s, seed in seeds.items():
        assert seed in ranges[s]
    for a, b in itertools.combinations(("train", "val", "test"), 2):
        assert not set(spectra.PHOTOS[a] + spectra.TEXTURES[a]) & set(spectra.PHOTOS[b] + spectra.TEXTURES[b])
    used = {generate_scene(i, "test", 32, 48).meta["photo"] for i in range(20)}
    assert used <= set(spectra.PHOTOS["test"])


def test_long_clips_short_does_not_and_noise_present() -> None:
    clipped_long, clipped_short = 0, 0
    for i in range(12):
        sc = generate_scene(i, "train", 72, 128)
        thr = sc.black_level + 0.95 * (sc.white_level - sc.black_level)
        clipped_long += bool((sc.long >= thr).any())
        clipped_short += bool((sc.short >= thr).any())
    assert clipped_long >= 8  # most scenes clip in the long frame
    assert clipped_short == 0
    # noise: the long frame is not ratio x the short frame exactly (shot + read noise, quantisation)
    sc = generate_scene(1, "train", 72, 128)
    lo = sc.long.astype(np.float64) - sc.black_level
    sh = sc.short.astype(np.float64) - sc.black_level
    ok = (sc.long < 3000).all(axis=2) & (sh > 50).all(axis=2)
    resid = lo[ok] - sc.ratio * sh[ok]
    assert resid.std() > 5.0


def test_bad_arguments_raise_dataset_error() -> None:
    with pytest.raises(DatasetError, match="split"):
        generate_scene(0, "training")
    with pytest.raises(DatasetError, match="height"):
        generate_scene(0, "train", 4, 64)
    with pytest.raises(DatasetError, match="seed"):
        generate_scene(-1, "train", 32, 32)
    with pytest.raises(DatasetError):
        make_feature_dataset("nope", 10)
    with pytest.raises(DatasetError):
        make_feature_dataset("train", 0)


def test_iter_scenes_and_feature_dataset() -> None:
    it = iter_scenes("test", start_seed=5, height=32, width=48)
    first, second = next(it), next(it)
    np.testing.assert_array_equal(first.long, generate_scene(5, "test", 32, 48).long)
    assert second.meta["seed"] == first.meta["seed"] + 1
    x, y = make_feature_dataset("val", 6)
    assert x.shape == (6, 15) and x.dtype == np.float32 and np.isfinite(x).all()
    np.testing.assert_allclose(np.linalg.norm(y, axis=1), 1.0, atol=1e-5)


def test_large_frames_work() -> None:
    sc = generate_scene(0, "test", 1080, 1920)
    assert sc.long.shape == (1080, 1920, 3)
