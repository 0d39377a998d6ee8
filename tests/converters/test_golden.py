"""Golden samples written at export: present, hashed, small, exactly the validated inputs, with their
labels and both references; the lossless compact forms; the size bound."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from converters.data import validation_set
from converters.golden import choose, golden_bytes
from converters.sources import from_zoo
from runtimes.golden import MAX_GOLDEN_BYTES, decode_inputs, encode_inputs, identical, read_golden
from runtimes.manifest import read_manifest


def test_export_stores_hashed_small_golden_samples(zoo_bundle) -> None:
    bundle = zoo_bundle("compact-cnn")
    info = read_manifest(bundle).golden
    assert info is not None and info["file"] == "golden.npz"
    data = (bundle / "golden.npz").read_bytes()
    assert hashlib.sha256(data).hexdigest() == info["sha256"]
    assert len(data) == info["bytes"] <= MAX_GOLDEN_BYTES and len(data) < 200_000
    assert info["samples"] == 48 and info["dataset"] == "digits-28/test" and info["labels"] == "classes"


def test_golden_inputs_are_exactly_the_validated_samples_with_both_references(zoo_bundle) -> None:
    import torch

    from runtimes import load
    from runtimes.selfcheck import run_samples

    bundle = zoo_bundle("compact-cnn")
    manifest = read_manifest(bundle)
    golden = read_golden(bundle, manifest)
    src = from_zoo("compact-cnn")
    evalset = validation_set(src)
    idx = choose(len(evalset.x))
    assert len(set(idx.tolist())) == 48 and idx.max() < len(evalset.x)
    assert identical(golden.inputs, np.ascontiguousarray(evalset.x[idx], np.float32))  # bit for bit
    assert evalset.y is not None and golden.labels is not None
    np.testing.assert_array_equal(golden.labels, evalset.y[idx])
    with torch.inference_mode():
        ref = src.module(torch.from_numpy(golden.inputs)).numpy()
    np.testing.assert_allclose(golden.reference["output"], ref, rtol=1e-5, atol=1e-5)
    with load(bundle, backend="onnxruntime") as s:
        host = run_samples(s, golden.inputs)["output"]
    np.testing.assert_array_equal(golden.host["output"], host)  # the same runtime, one sample at a time


def test_illuminant_bundle_stores_true_illuminants(zoo_bundle) -> None:
    bundle = zoo_bundle("emlp")
    golden = read_golden(bundle, read_manifest(bundle))
    assert golden.labels is not None and golden.labels.shape == (golden.samples, 3)
    assert golden.labels.dtype == np.float32 and golden.inputs.shape[1:] == (15,)


def _image_like(n: int, seed: int = 0) -> np.ndarray:
    """8-bit pixels normalised per channel (ImageNet mean/std), the way image models' inputs look."""
    px = np.random.default_rng(seed).integers(0, 256, (n, 3, 16, 16)).astype(np.float32)
    mean = np.array([0.485, 0.456, 0.406], np.float32).reshape(1, 3, 1, 1)
    std = np.array([0.229, 0.224, 0.225], np.float32).reshape(1, 3, 1, 1)
    return ((px / 255 - mean) / std).astype(np.float32)


@pytest.mark.parametrize("x, form", [
    (_image_like(6), "inputs_index"),  # 256 values per channel: palettes along axis 1
    (np.random.default_rng(1).integers(0, 256, (4, 1, 28, 28)).astype(np.float32) / 255, "inputs_index"),
    (np.random.default_rng(2).standard_normal((8, 3, 12, 12)).astype(np.float32), "inputs_planes"),
    (np.random.default_rng(3).standard_normal((48, 15)).astype(np.float32), "inputs_planes"),
])
def test_compact_forms_round_trip_bit_for_bit(x: np.ndarray, form: str) -> None:
    enc = encode_inputs(x)
    assert form in enc
    assert identical(decode_inputs(enc), x)
    if form == "inputs_index":
        assert enc["inputs_index"].nbytes == x.size  # a quarter of the float32 bytes


def test_identical_sees_what_equality_does_not() -> None:
    x = np.zeros((1, 600), np.float32)
    x[0, ::2] = -0.0
    assert not identical(x, np.zeros_like(x)) and np.array_equal(x, np.zeros_like(x))
    enc = encode_inputs(x)  # a palette collapses -0.0 and 0.0: the export must notice and not use it
    assert "inputs_index" in enc and not identical(decode_inputs(enc), x)


def test_size_bound_keeps_fewer_samples_or_none(zoo_bundle) -> None:
    bundle = zoo_bundle("compact-cnn")
    src = from_zoo("compact-cnn")
    evalset = validation_set(src)
    full = len((bundle / "golden.npz").read_bytes())
    made = golden_bytes(src, bundle / "model.onnx", evalset, ["output"], max_bytes=full // 3)
    assert made is not None
    data, entry = made
    assert len(data) <= full // 3 and 1 <= entry["samples"] < 48
    assert golden_bytes(src, bundle / "model.onnx", evalset, ["output"], max_bytes=500) is None


def test_a_failed_round_trip_falls_back_to_plain_floats(zoo_bundle) -> None:
    import io

    import converters.golden as g
    from converters.eval_set import EvalSet

    bundle = zoo_bundle("compact-cnn")
    src = from_zoo("compact-cnn")
    x = np.random.default_rng(0).integers(0, 256, (4, 1, 28, 28)).astype(np.float32) / 255
    x[:, :, 0, 0] = -0.0  # signed zeros a palette cannot keep
    data, entry = g.golden_bytes(src, bundle / "model.onnx", EvalSet(x, np.zeros(4, np.int64), "t"), ["output"])
    assert entry["inputs"] == "float32"
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        assert identical(npz["inputs"], x)
