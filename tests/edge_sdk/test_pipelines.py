"""Pipelines on real bundles and synthetic camera sources: WhiteBalance, Classifier, draw."""

from __future__ import annotations

import numpy as np
import pytest

import edge_sdk
from edge_sdk.awb.metrics import angular_error_deg
from edge_sdk.errors import InputError
from edge_sdk.pipelines import Classifier, WhiteBalance
from edge_sdk.pipelines.draw import draw_prediction, draw_white_balance
from edge_sdk.pipelines.timing import STAGES

GRAY = np.ones(3) / np.sqrt(3)
WB_URI = "synthetic://dual-exposure?count=12&size=320x180"


@pytest.fixture(scope="module")
def wb_runs(zoo_bundle):
    """The same 12 synthetic pairs through onnxruntime and numpy: (results_ort, illuminants_numpy)."""
    ort = WhiteBalance(zoo_bundle("emlp"), backend="onnxruntime")
    ref = WhiteBalance(zoo_bundle("emlp"), backend="numpy")
    with edge_sdk.open_dual_source(WB_URI) as src:
        results = list(ort.stream(src))
    pairs = [r.frame for r in results if r.frame is not None]
    assert len(pairs) == len(results)
    return results, np.stack([ref(pair, correct=False).illuminant for pair in pairs])


def test_white_balance_accuracy_and_backends_agree(wb_runs) -> None:
    results, numpy_ill = wb_runs
    assert len(results) == 12
    est = np.stack([r.illuminant for r in results])
    truth = np.stack([r.frame.meta["illuminant"] for r in results])
    errors = angular_error_deg(est, truth)
    assert float(errors.mean()) < 8.0, errors
    np.testing.assert_allclose(est, numpy_ill, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(est, axis=1), 1.0, atol=1e-5)
    assert all(r.fallback is None for r in results)


def test_white_balance_gains_and_correction(wb_runs) -> None:
    results, _ = wb_runs
    before, after = [], []
    for r in results:
        assert r.gains[1] == 1.0 and (r.gains > 0).all()
        assert r.corrected is not None and r.corrected.dtype == r.frame.long.dtype
        assert r.corrected.shape == r.frame.long.shape
        ill = r.frame.meta["illuminant"]
        # a white surface is seen as the illuminant's colour; corrected, it is the gains times that
        before.append(angular_error_deg(ill, GRAY))
        after.append(angular_error_deg(r.gains * ill, GRAY))
        # the corrected frame is the long frame times the gains where nothing clips
        lo = r.frame.long.astype(np.float64)
        ok = (lo > 200).all(axis=2) & (r.corrected < r.frame.meta["white_level"] * 0.9).all(axis=2)
        ratio = np.median(r.corrected[ok] / lo[ok], axis=0)
        np.testing.assert_allclose(ratio, r.gains, rtol=0.02)
    assert np.mean(after) < 0.6 * np.mean(before), (np.mean(before), np.mean(after))


def test_white_balance_timings(wb_runs) -> None:
    for r in wb_runs[0]:
        assert set(STAGES) <= set(r.timings.ms)
        assert all(v >= 0 for v in r.timings.ms.values())
        assert r.timings.ms["capture"] > 0 and r.timings.ms["infer"] > 0


@pytest.mark.parametrize("value", [0, 4095], ids=["all-black", "all-saturated"])
def test_degenerate_pairs_fall_back_to_a_finite_illuminant(zoo_bundle, value) -> None:
    wb = WhiteBalance(zoo_bundle("emlp"))
    pair = np.full((180, 320, 3), value, np.uint16)
    r = wb((pair, pair.copy()), white_level=4095, black_level=64)
    assert np.isfinite(r.illuminant).all() and np.isfinite(r.gains).all()
    assert abs(float(np.linalg.norm(r.illuminant)) - 1.0) < 1e-5
    assert r.fallback


def test_mismatched_pair_is_input_error(zoo_bundle) -> None:
    wb = WhiteBalance(zoo_bundle("emlp"))
    with pytest.raises(InputError, match="short"):
        wb((np.zeros((180, 320, 3), np.uint16), np.zeros((90, 160, 3), np.uint16)))
    with pytest.raises(InputError, match="dtype"):
        wb((np.zeros((180, 320, 3), np.uint16), np.zeros((180, 320, 3), np.uint8)))


def test_uint8_pair_with_raw_white_level_is_input_error(zoo_bundle) -> None:
    wb = WhiteBalance(zoo_bundle("emlp"))
    pair = np.full((180, 320, 3), 128, np.uint8)
    with pytest.raises(InputError, match="uint8"):
        wb((pair, pair.copy()), white_level=4095, black_level=64)


def test_draw_white_balance_side_by_side(wb_runs) -> None:
    r = wb_runs[0][0]
    h, w = r.frame.long.shape[:2]
    image = draw_white_balance(r)
    assert image.dtype == np.uint8 and image.shape[1] == 2 * w and image.shape[0] > h
    assert not np.array_equal(image[40:h, :w], image[40:h, w:])  # the gains changed the right half
    bare = draw_white_balance(r.frame)  # a pair without a result: unit gains, both halves alike
    np.testing.assert_array_equal(bare[40:h, :w], bare[40:h, w:])


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_classifier_on_digits(zoo_bundle, precision) -> None:
    clf = Classifier(zoo_bundle("compact-cnn", precision), top_k=3)
    manifest = clf.session.manifest
    assert manifest is not None and clf.labels == manifest.labels == [str(i) for i in range(10)]
    hits = n = 0
    with edge_sdk.open_source("synthetic://digits?count=200") as src:
        for p in clf.stream(src):
            assert len(p.labels) == 3 and p.scores == sorted(p.scores, reverse=True)
            assert p.labels == [clf.labels[i] for i in p.indices]
            assert set(STAGES) <= set(p.timings.ms) and min(p.timings.ms.values()) >= 0
            assert p.frame is not None
            hits += p.indices[0] == p.frame.meta["label"]
            n += 1
    assert n == 200 and hits / n >= 0.95, hits / n


def test_colour_frames_to_gray_model_and_gray_frames_to_rgb_model(zoo_bundle) -> None:
    gray_model = Classifier(zoo_bundle("compact-cnn"))
    rgb_model = Classifier(zoo_bundle("compact-cnn-cifar"))
    assert rgb_model.preprocessing["color"] == "rgb" and gray_model.preprocessing["color"] == "gray"
    with edge_sdk.open_source("synthetic://digits?count=20") as src:
        frames = list(src)
    for f in frames:
        bgr, gray = f.image, f.image[:, :, 0]
        assert bgr.ndim == 3
        a, b = gray_model(bgr), gray_model(gray)
        assert a.indices == b.indices  # same picture, either layout
        assert a.indices[0] == f.meta["label"] or a.score < 0.9
        c, d = rgb_model(gray), rgb_model(bgr)
        assert c.indices[0] == d.indices[0] and np.isfinite(c.scores).all()
        assert draw_prediction(gray, a).shape[2] == 3


def test_draw_prediction_upscales_tiny_frames(zoo_bundle) -> None:
    clf = Classifier(zoo_bundle("compact-cnn"))
    tiny = np.zeros((28, 28), np.uint8)
    image = draw_prediction(tiny, clf(tiny))
    assert image.dtype == np.uint8 and image.ndim == 3 and min(image.shape[:2]) >= 240
    assert image.max() > 0  # the text is there
