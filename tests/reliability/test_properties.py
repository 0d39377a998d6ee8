"""Property tests (hypothesis): DEF extraction, preprocessing, manifest round-trip, manifest-parsing fuzz.

Frames are built from drawn seeds and parameters with numpy (fast), not element by element.
Settings are derandomized with a bounded number of examples so the default suite stays fast and
reproducible.
"""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edge_sdk.awb.features import (
    DARK_MIN_SUM,
    N_DEF,
    N_FEATURES,
    N_SINGLE,
    SAT_FRACTION,
    dual_exposure_feature,
    extract_features,
    extract_single_frame_features,
)
from edge_sdk.errors import InputError, ManifestError
from edge_sdk.preprocess import preprocess_image
from runtimes.manifest import DTYPES, Manifest, TensorSpec, read_manifest

FAST = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
SIZES = st.tuples(st.integers(1, 90), st.integers(1, 160))


def _pair(seed: int, h: int, w: int, lo: float, hi: float, ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """A float32 scene in [lo, hi] with per-region colour, and its short exposure (ratio <= 1)."""
    rng = np.random.default_rng(seed)
    tint = rng.uniform(0.5, 1.0, (-(-h // 8), -(-w // 8), 3))
    base = np.kron(tint, np.ones((8, 8, 1)))[:h, :w] * rng.uniform(0.7, 1.0, (h, w, 1))
    long = (lo + (hi - lo) * base).astype(np.float32)
    return long, (long * np.float32(ratio)).astype(np.float32)


# --- DEF extraction ------------------------------------------------------------------------------------


@FAST
@given(seed=st.integers(0, 2**32 - 1), size=st.tuples(st.integers(36, 200), st.integers(64, 300)),
       scale=st.floats(0.5, 1.9), ratio=st.floats(0.3, 1.0))
def test_def_is_invariant_to_a_global_intensity_scale(seed, size, scale, ratio) -> None:
    """Within the thresholds: every pixel stays above the dark and below the saturated level."""
    lo = DARK_MIN_SUM / 3 / 0.3 / 0.5 * 1.2  # the dimmest short cell stays bright enough at the smallest scale
    hi = SAT_FRACTION / 1.9 * 0.95  # the brightest long pixel stays unsaturated at the largest scale
    long, short = _pair(seed, size[0], size[1], lo, hi, ratio)
    a = extract_features(long, short, white_level=1.0)
    b = extract_features(long * np.float32(scale), short * np.float32(scale), white_level=1.0)
    np.testing.assert_allclose(a, b, atol=2e-4)
    np.testing.assert_allclose(dual_exposure_feature(long, short, white_level=1.0),
                               dual_exposure_feature(long * np.float32(scale), short * np.float32(scale),
                                                     white_level=1.0), atol=2e-4)


@FAST
@given(seed=st.integers(0, 2**32 - 1), size=SIZES, factor=st.integers(2, 3))
def test_def_is_invariant_to_integer_scaling_of_raw_frames(seed, size, factor) -> None:
    rng = np.random.default_rng(seed)
    long = rng.integers(2000, 19000, (*size, 3)).astype(np.uint16)
    short = (long // 4).astype(np.uint16)
    a = extract_features(long, short, white_level=65535)
    b = extract_features(long * np.uint16(factor), short * np.uint16(factor), white_level=65535)
    np.testing.assert_allclose(a, b, atol=2e-3)


F32_MAX = float(np.finfo(np.float32).max)
FINITE32 = st.floats(-F32_MAX, F32_MAX, allow_nan=False, allow_infinity=False, width=32)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # 1e38 pixels: sums overflow, output finite
@FAST
@given(frames=hnp.arrays(np.float32, st.tuples(st.integers(1, 24), st.integers(1, 24), st.just(3)), elements=FINITE32),
       white=st.floats(1e-3, 1e6), black_frac=st.floats(0, 0.9))
def test_features_are_finite_on_any_finite_input(frames, white, black_frac) -> None:
    long = np.abs(frames)
    short = long * np.float32(0.25)
    black = white * black_frac
    out = extract_features(long, short, white_level=white, black_level=black)
    assert out.shape == (N_FEATURES,) and out.dtype == np.float32 and np.isfinite(out).all()
    single = extract_single_frame_features(frames, white_level=white, black_level=black)  # negatives too
    assert single.shape == (N_SINGLE,) and single.dtype == np.float32 and np.isfinite(single).all()


@FAST
@given(seed=st.integers(0, 2**32 - 1), size=SIZES, dtype=st.sampled_from([np.uint8, np.uint16]),
       black=st.integers(0, 50))
def test_raw_features_are_finite_with_shape_and_dtype_contract(seed, size, dtype, black) -> None:
    rng = np.random.default_rng(seed)
    top = int(np.iinfo(dtype).max)
    long = rng.integers(0, top + 1, (*size, 3)).astype(dtype)
    short = (long // 3).astype(dtype)
    out = extract_features(long, short, white_level=top, black_level=black)
    d = dual_exposure_feature(long, short, white_level=top, black_level=black)
    assert out.shape == (N_FEATURES,) and out.dtype == np.float32 and np.isfinite(out).all()
    assert d.shape == (N_DEF,) and d.dtype == np.float32
    np.testing.assert_array_equal(out[:N_DEF], d)


@FAST
@given(shape=st.sampled_from([(8, 8), (8, 8, 1), (8, 8, 4), (0, 8, 3), (8, 8, 3, 1)]),
       dtype=st.sampled_from([np.uint16, np.int16, np.float64]))
def test_bad_frame_shapes_and_dtypes_are_input_errors(shape, dtype) -> None:
    frame = np.ones(shape, dtype)
    with pytest.raises(InputError):
        extract_features(frame, frame, white_level=100.0)


# --- preprocessing -----------------------------------------------------------------------------------------


@FAST
@given(seed=st.integers(0, 2**32 - 1), size=st.tuples(st.integers(1, 64), st.integers(1, 64)),
       channels=st.sampled_from([0, 1, 3, 4]), dtype=st.sampled_from([np.uint8, np.uint16, np.float32]),
       color=st.sampled_from(["gray", "rgb"]), out=st.tuples(st.integers(1, 40), st.integers(1, 40)),
       crop=st.sampled_from(["center", "none"]))
def test_preprocess_image_contract(seed, size, channels, dtype, color, out, crop) -> None:
    rng = np.random.default_rng(seed)
    shape = size if channels == 0 else (*size, channels)
    frame = rng.random(shape).astype(np.float32) if dtype == np.float32 else \
        rng.integers(0, np.iinfo(dtype).max + 1, shape).astype(dtype)
    c = 1 if color == "gray" else 3
    spec = {"color": color, "size": list(out), "scale": 1 / 255, "mean": [0.5] * c, "std": [0.25] * c, "crop": crop}
    x = preprocess_image(frame, spec)
    assert x.shape == (c, *out) and x.dtype == np.float32 and x.flags.c_contiguous and np.isfinite(x).all()
    assert np.abs(x).max() <= (1 - 0) / 0.25 * 1.5 + 1e-3  # bounded by the normalisation of [0, 1] pixels


# --- manifest round-trip and parsing fuzz -----------------------------------------------------------------

NAMES = st.text(string.ascii_letters + string.digits + "_-./: ", min_size=1, max_size=12)
JSON_SCALARS = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | \
    st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8)
JSON = st.recursive(
    JSON_SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
SPECS = st.builds(TensorSpec, name=NAMES,
                  shape=st.lists(st.integers(0, 4096) | st.sampled_from(["batch", "N"]), max_size=4).map(tuple),
                  dtype=st.sampled_from(DTYPES))
MANIFESTS = st.builds(
    Manifest, model=NAMES, task=NAMES, precision=st.sampled_from(["fp32", "fp16", "int8"]), artifact=NAMES,
    artifact_sha256=st.text("0123456789abcdef", min_size=64, max_size=64),
    inputs=st.lists(SPECS, min_size=1, max_size=3),
    outputs=st.lists(SPECS, min_size=1, max_size=3), opset=st.integers(1, 30), sdk_version=NAMES,
    source_sha256=st.text("0123456789abcdef", max_size=64), preprocessing=st.dictionaries(st.text(max_size=6), JSON,
                                                                                         max_size=4),
    labels=st.lists(st.text(max_size=6), max_size=5), versions=st.dictionaries(NAMES, NAMES, max_size=3),
    calibration=st.none() | st.dictionaries(st.text(max_size=6), JSON, max_size=3),
    parity=st.none() | st.dictionaries(st.text(max_size=6), JSON, max_size=3), accuracy_override=st.booleans(),
    engines=st.lists(st.dictionaries(st.text(max_size=6), JSON, max_size=3), max_size=2),
    extra=st.dictionaries(st.text(max_size=6), JSON, max_size=3), created=st.text(max_size=25),
)


@FAST
@given(m=MANIFESTS)
def test_manifest_write_read_round_trip(m) -> None:
    text = m.dumps()
    back = Manifest.from_json(json.loads(text))
    assert back == m and back.dumps() == text


@settings(max_examples=300, deadline=None, derandomize=True)
@given(obj=JSON)
def test_manifest_parsing_fuzz_random_json(obj) -> None:
    try:
        Manifest.from_json(obj)
    except ManifestError:
        pass


def _good() -> dict[str, Any]:
    return {"schema_version": 1, "model": "m", "task": "t", "precision": "fp32", "artifact": "model.onnx",
            "artifact_sha256": "0" * 64, "inputs": [{"name": "input", "shape": ["batch", 9], "dtype": "float32"}],
            "outputs": [{"name": "output", "shape": ["batch", 3], "dtype": "float32"}], "opset": 18,
            "sdk_version": "0", "labels": ["a"], "engines": [], "preprocessing": {}}


@settings(max_examples=300, deadline=None, derandomize=True)
@given(key=st.sampled_from([*_good(), "calibration", "parity", "versions", "extra", "accuracy_override", "created"]),
       value=JSON, where=st.sampled_from(["top", "input"]))
def test_manifest_parsing_fuzz_one_bad_field(key, value, where) -> None:
    d = _good()
    if where == "input":
        d["inputs"][0][key if key in ("name", "shape", "dtype") else "shape"] = value
    else:
        d[key] = value
    try:
        m = Manifest.from_json(d)
    except ManifestError:
        return
    assert Manifest.from_json(json.loads(m.dumps())) == m  # whatever is accepted writes back identically


@settings(max_examples=100, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=200) | JSON.map(lambda o: json.dumps(o).encode()))
def test_read_manifest_fuzz_bytes(tmp_path: Path, data: bytes) -> None:
    (tmp_path / "manifest.json").write_bytes(data)
    with pytest.raises(ManifestError):
        read_manifest(tmp_path)
