"""Catalogue: bad inputs. No CLI command takes arrays, so these test the Python API's typed errors.

Input policy (runtimes/session.py): exact names, no silent dtype casts, rank and static dims must match,
empty arrays refused, non-contiguous views accepted, NaN/Inf refused unless ``allow_nonfinite=True``.
Overlaps: tests/runtimes/test_sessions.py (same table on onnxruntime only), tests/edge_sdk/test_pipelines.py
(mismatched pair sizes, gray/colour frames through the Classifier).
"""

from __future__ import annotations

import numpy as np
import pytest

import edge_sdk
from edge_sdk.errors import EdgeSDKError, InputError
from edge_sdk.pipelines import WhiteBalance
from edge_sdk.preprocess import preprocess_image

BACKENDS = ["onnxruntime", "numpy"]


@pytest.fixture(scope="module", params=BACKENDS)
def sess(request, mlp_bundle):  # noqa: ANN001, ANN201
    return edge_sdk.load(mlp_bundle, backend=request.param)


@pytest.fixture(scope="module")
def wb(zoo_bundle) -> WhiteBalance:  # noqa: ANN001
    return WhiteBalance(zoo_bundle("emlp"), backend="numpy")


def _x(*shape: int, dtype: type = np.float32) -> np.ndarray:
    return np.random.default_rng(0).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize(
    ("feed", "message"),
    [
        ({"input": _x(2, 9, dtype=np.float64)}, "'input': expected dtype float32, got float64"),
        ({"input": _x(2, 9, dtype=np.float16)}, "'input': expected dtype float32, got float16"),
        ({"input": np.zeros((2, 9), np.uint8)}, "'input': expected dtype float32, got uint8"),
        ({"input": _x(9)}, "'input': expected rank 2"),
        ({"input": _x(1, 2, 9)}, "'input': expected rank 2"),
        ({"input": _x(2, 10)}, "'input': expected shape.*dim 1 must be 9"),
        ({"image": _x(2, 9)}, r"missing \['input'\].*unknown \['image'\]"),
        ({"input": _x(2, 9), "extra": _x(2, 9)}, r"unknown \['extra'\]"),
    ],
    ids=["float64", "float16", "uint8", "rank1", "rank3", "shape", "name", "extra-name"],
)
def test_wrong_dtype_rank_shape_or_name(sess, feed, message) -> None:
    with pytest.raises(InputError, match=message) as info:
        sess.run(feed)
    assert isinstance(info.value, EdgeSDKError)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_is_refused_by_default(sess, bad) -> None:
    x = _x(4, 9)
    x[2, 5] = bad
    with pytest.raises(InputError, match="'input': contains NaN or Inf.*allow_nonfinite=True"):
        sess(x)


@pytest.mark.parametrize("shape", [(0, 9), (0, 0)])
def test_empty_array_is_refused(sess, shape) -> None:
    with pytest.raises(InputError, match="'input'"):
        sess(np.zeros(shape, np.float32))


@pytest.mark.parametrize("view", ["strided", "fortran", "reversed", "broadcast", "transposed"])
def test_noncontiguous_views_work(sess, view) -> None:
    base = _x(6, 18)
    x = {
        "strided": base[:, ::2],
        "fortran": np.asfortranarray(base[:, :9]),
        "reversed": base[::-1, 9:],
        "broadcast": np.broadcast_to(base[0, :9], (5, 9)),
        "transposed": _x(9, 4).T,
    }[view]
    assert not x.flags.c_contiguous
    np.testing.assert_array_equal(sess(x), sess(np.ascontiguousarray(x)))


# --- frames: gray / colour, bit depth ------------------------------------------------------------------

RGB = {"color": "rgb", "size": [16, 16], "scale": 1 / 255, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}
GRAY = {"color": "gray", "size": [16, 16], "scale": 1 / 255, "mean": [0.5], "std": [0.25]}


@pytest.mark.parametrize("shape", [(24, 32), (24, 32, 1)], ids=["HxW", "HxWx1"])
def test_gray_frames_where_colour_is_expected(shape) -> None:
    frame = np.full(shape, 128, np.uint8)
    out = preprocess_image(frame, RGB)
    assert out.shape == (3, 16, 16) and out.dtype == np.float32 and np.isfinite(out).all()
    assert np.allclose(out[0], out[1]) and np.allclose(out[1], out[2])  # replicated, same picture


@pytest.mark.parametrize("channels", [3, 4], ids=["BGR", "BGRA"])
def test_colour_frames_where_gray_is_expected(channels) -> None:
    frame = np.random.default_rng(0).integers(0, 256, (24, 32, channels), dtype=np.uint8)
    out = preprocess_image(frame, GRAY)
    assert out.shape == (1, 16, 16) and np.isfinite(out).all()


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (np.zeros((24, 32, 2), np.uint8), "1, 3 or 4 channels"),
        (np.zeros((0, 32, 3), np.uint8), "H x W"),
        (np.zeros((24, 32, 3), np.int32), "uint8, uint16 or float"),
        (np.full((24, 32, 3), np.nan, np.float32), "NaN or Inf"),
        (np.zeros((2, 24, 32, 3), np.uint8), "H x W"),
    ],
    ids=["2-channels", "empty", "int32", "nan", "rank4"],
)
def test_unusable_frames_are_input_errors(frame, message) -> None:
    with pytest.raises(InputError, match=message):
        preprocess_image(frame, RGB)


def test_gray_frames_where_a_colour_raw_pair_is_expected(wb) -> None:
    gray = np.full((36, 64), 1000, np.uint16)
    with pytest.raises(InputError, match=r"long: expected shape \(H, W, 3\)"):
        wb((gray, gray // 4), white_level=4095)


def test_colour_frame_to_a_single_channel_model_tensor(sess) -> None:
    """A (1, 9) model fed an image-shaped array: a shape error naming the tensor, never a reshape."""
    with pytest.raises(InputError, match="'input'"):
        sess(np.zeros((1, 3, 3), np.float32))


def test_uint8_where_uint16_raw_is_expected(wb) -> None:
    pair = np.full((36, 64, 3), 128, np.uint8)
    with pytest.raises(InputError, match="beyond the range of uint8.*uint16"):
        wb((pair, pair // 4), white_level=4095, black_level=64)
    r = wb((pair, pair // 4))  # uint8 frames with their own range are fine
    assert np.isfinite(r.illuminant).all() and r.corrected is not None and r.corrected.dtype == np.uint8


def _scene(h: int = 72, w: int = 128) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    long = (rng.uniform(400, 3000, (h, w, 3)) * np.array([0.6, 1.0, 0.8])).astype(np.uint16)
    return long, (long // 4).astype(np.uint16)


def test_pair_of_different_sizes(wb) -> None:
    long, short = _scene()
    with pytest.raises(InputError, match="short: expected the same shape as long"):
        wb((long, short[:, :-1]), white_level=4095)
    with pytest.raises(InputError, match="short: expected the same dtype"):
        wb((long, short.astype(np.float32)), white_level=4095)


def test_swapped_pair(wb) -> None:
    long, short = _scene()
    assert wb((long, short), white_level=4095).fallback is None
    with pytest.raises(InputError, match="short: brighter than long.*swapped"):
        wb((short, long), white_level=4095)


@pytest.mark.parametrize(
    ("long_value", "short_value"),
    [(0, 0), (4095, 4095), (64, 64), (4095, 0), (65535, 65535)],
    ids=["all-black", "all-saturated", "at-black-level", "saturated-long-black-short", "uint16-max"],
)
def test_saturated_or_black_pairs_fall_back_and_say_so(wb, long_value, short_value) -> None:
    long = np.full((72, 128, 3), long_value, np.uint16)
    short = np.full((72, 128, 3), short_value, np.uint16)
    white = 65535 if long_value == 65535 else 4095
    r = wb((long, short), white_level=white, black_level=64)
    assert np.isfinite(r.illuminant).all() and np.isfinite(r.gains).all()
    assert abs(float(np.linalg.norm(r.illuminant)) - 1.0) < 1e-5 and r.gains[1] == 1.0
    assert r.fallback and ("gray world" in r.fallback or "neutral" in r.fallback)
    assert r.corrected is not None and r.corrected.dtype == np.uint16
