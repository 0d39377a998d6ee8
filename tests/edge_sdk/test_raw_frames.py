"""Raw input as sensors give it: Bayer mosaics (2 x 2 CFA statistics) and 12-bit data in uint16 frames."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from edge_sdk.awb.features import BAYER_PATTERNS, BAYER_TOLERANCE_DEG, bayer_cells, extract_features
from edge_sdk.awb.metrics import angular_error_deg
from edge_sdk.data.dual_exposure import generate_scene
from edge_sdk.errors import InputError

pytest.importorskip("colour")

LEVELS = {"white_level": 4095, "black_level": 64}


def mosaic(image: np.ndarray, pattern: str) -> np.ndarray:
    """Sample a demosaiced H x W x 3 frame at the CFA sites of ``pattern`` (what the sensor recorded)."""
    out = np.empty(image.shape[:2], image.dtype)
    for site, channel in zip(BAYER_PATTERNS[pattern], (0, 1, 1, 2)):
        out[site // 2 :: 2, site % 2 :: 2] = image[site // 2 :: 2, site % 2 :: 2, channel]
    return out


def test_cfa_cells_pick_each_channel_and_average_green() -> None:
    rgb = np.zeros((4, 6, 3), np.uint16)
    rgb[..., 0], rgb[..., 2] = 1000, 3000
    rgb[::2, ..., 1], rgb[1::2, ..., 1] = 2000, 2001  # the two G sites of each cell differ by one DN
    for pattern in BAYER_PATTERNS:
        cells = bayer_cells(mosaic(rgb, pattern), pattern)
        assert cells.shape == (2, 3, 3) and cells.dtype == np.uint16
        assert (cells[..., 0] == 1000).all() and (cells[..., 2] == 3000).all(), pattern
        assert (cells[..., 1] == 2001).all(), pattern  # (2000 + 2001) / 2 rounded half up
    odd = bayer_cells(np.ones((5, 7), np.float32), "rggb")  # an odd last row/column is dropped
    assert odd.shape == (2, 3, 3) and odd.dtype == np.float32


@pytest.fixture(scope="module")
def scenes():
    return [generate_scene(i, "test", 360, 640) for i in range(10)]


@pytest.mark.parametrize("pattern", list(BAYER_PATTERNS))
def test_bayer_gains_match_demosaiced_within_tolerance(zoo_bundle, scenes, pattern) -> None:
    from edge_sdk.pipelines import WhiteBalance

    wb = WhiteBalance(zoo_bundle("emlp"), backend="numpy")
    diffs = []
    for sc in scenes:
        full = wb((sc.long, sc.short), **LEVELS)
        raw = wb((mosaic(sc.long, pattern), mosaic(sc.short, pattern)), pattern=pattern, **LEVELS)
        assert raw.fallback is None and raw.corrected is not None and raw.corrected.shape == sc.long.shape[:2]
        diffs.append(float(angular_error_deg(raw.illuminant, full.illuminant)))
        # the corrected mosaic: every CFA site scaled by its own channel's gain
        expected = np.clip(mosaic(sc.long, pattern).astype(np.float32)
                           * mosaic(np.broadcast_to(raw.gains, sc.long.shape).astype(np.float32), pattern),
                           0, 4095).astype(np.uint16)
        np.testing.assert_array_equal(raw.corrected, expected)
    mean_tol, max_tol = BAYER_TOLERANCE_DEG
    assert np.mean(diffs) <= mean_tol and max(diffs) <= max_tol, diffs


def test_bayer_input_errors() -> None:
    sc = generate_scene(0, "test", 108, 192)
    long, short = mosaic(sc.long, "RGGB"), mosaic(sc.short, "RGGB")
    with pytest.raises(InputError, match=r"long: expected shape \(H, W, 3\).*pattern="):
        extract_features(long, short, **LEVELS)
    with pytest.raises(InputError, match="pattern: expected one of RGGB"):
        extract_features(long, short, pattern="RGBW", **LEVELS)
    with pytest.raises(InputError, match="long: a Bayer mosaic"):
        extract_features(sc.long, sc.short, pattern="RGGB", **LEVELS)
    with pytest.raises(InputError, match="short: expected the same shape"):
        extract_features(long, short[:-2], pattern="RGGB", **LEVELS)
    with pytest.raises(InputError, match="2 x 2"):
        bayer_cells(np.zeros((1, 8), np.uint16), "RGGB")


def test_twelve_bit_uint16_pairs_use_the_manifest_levels(zoo_bundle) -> None:
    from edge_sdk.data.dual_exposure import generate_scene
    from edge_sdk.pipelines import WhiteBalance
    from edge_sdk.pipelines.white_balance import RawLevelsWarning
    from runtimes.backends.numpy_mlp import NumpySession

    bundle = zoo_bundle("emlp")
    wb = WhiteBalance(bundle, backend="numpy")
    sc = generate_scene(3, "test", 180, 320)  # 12-bit raw in uint16
    with warnings.catch_warnings():
        warnings.simplefilter("error", RawLevelsWarning)
        r = wb((sc.long, sc.short))
    ref = wb((sc.long, sc.short), white_level=4095, black_level=64)
    assert r.levels_from == "manifest" and r.levels == (64.0, 4095.0) and r.sensor == "Nikon 5100 (NPL)"
    np.testing.assert_array_equal(r.gains, ref.gains)
    # without a recorded sensor: the uint16 range, with a warning, and different (wrong) gains
    bare = WhiteBalance(NumpySession(next(bundle.glob("*.onnx"))))
    assert bare.sensor is None
    with pytest.warns(RawLevelsWarning, match="4095"):
        wrong = bare((sc.long, sc.short))
    assert wrong.levels == (0.0, 65535.0) and wrong.levels_from == "dtype"
    assert not np.allclose(wrong.gains, ref.gains, atol=1e-3)




def test_a_malformed_sensor_entry_in_the_manifest_is_refused(zoo_bundle) -> None:
    from edge_sdk.pipelines import WhiteBalance
    from runtimes.backends.numpy_mlp import NumpySession
    from runtimes.manifest import read_manifest

    bundle = zoo_bundle("emlp")
    manifest = read_manifest(bundle)
    manifest.preprocessing = {**manifest.preprocessing, "sensor": {"name": "x", "black_level": 5000,
                                                                   "white_level": 4095, "bit_depth": 12}}
    with pytest.raises(InputError, match="black_level < white_level.*re-export"):
        WhiteBalance(NumpySession(next(bundle.glob("*.onnx")), manifest))


def test_frames_the_manifest_levels_do_not_fit_fall_back_to_their_range(zoo_bundle) -> None:
    from edge_sdk.pipelines import WhiteBalance
    from edge_sdk.pipelines.white_balance import RawLevelsWarning

    wb = WhiteBalance(zoo_bundle("emlp"), backend="numpy")
    sc = generate_scene(3, "test", 180, 320)
    long8, short8 = (np.minimum(f >> 4, 255).astype(np.uint8) for f in (sc.long, sc.short))
    with pytest.warns(RawLevelsWarning, match="uint8 range"):
        r = wb((long8, short8))  # a 4095 white level cannot describe uint8 frames
    assert r.levels == (0.0, 255.0) and r.levels_from == "dtype" and np.isfinite(r.gains).all()
    lin = [f.astype(np.float32) / 4095 for f in (sc.long, sc.short)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RawLevelsWarning)
        f = wb((lin[0], lin[1]))
    assert f.levels == (0.0, 1.0) and f.levels_from == "dtype"
