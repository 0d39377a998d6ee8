"""Backends through the one Session API: parity with PyTorch, input validation, threads, loading."""

from __future__ import annotations

import shutil
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import edge_sdk
from edge_sdk.data.digits import load_digits28
from edge_sdk.errors import BackendUnavailableError, EdgeSDKError, InputError, ManifestError


@pytest.mark.parametrize("name", ["compact-cnn", "care-tiny"])
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_onnxruntime_matches_pytorch_within_budget(zoo_bundle, name, precision) -> None:
    import torch

    x, y = load_digits28("test")
    sess = edge_sdk.load(zoo_bundle(name, precision), backend="onnxruntime")
    got = sess(x).argmax(1)
    with torch.inference_mode():
        ref = edge_sdk.create_model(name)(torch.from_numpy(x)).argmax(1).numpy()
    drop_pp = 100 * (np.mean(ref == y) - np.mean(got == y))
    assert drop_pp <= (0.1 if precision == "fp32" else 0.5)
    assert sess.manifest is not None and sess.manifest.precision == precision


def test_numpy_backend_matches_onnxruntime(mlp_bundle) -> None:
    x = np.random.default_rng(0).standard_normal((64, 9)).astype(np.float32)
    a = edge_sdk.load(mlp_bundle, backend="numpy")(x)
    b = edge_sdk.load(mlp_bundle, backend="onnxruntime")(x)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_numpy_backend_refuses_conv_graphs(zoo_bundle) -> None:
    with pytest.raises(BackendUnavailableError, match="MLP graphs only.*Conv"):
        edge_sdk.load(zoo_bundle("compact-cnn"), backend="numpy")


def test_auto_picks_onnxruntime_for_onnx(zoo_bundle, monkeypatch) -> None:
    monkeypatch.setenv("EDGE_SDK_AUTOTUNE", "0")  # no measurement: the table's order (tests/runtimes/test_autotune.py)
    assert edge_sdk.load(zoo_bundle("compact-cnn")).backend == "onnxruntime"


def test_tensorrt_backend_without_tensorrt_says_how_to_install(zoo_bundle) -> None:
    pytest.importorskip("polygraphy")
    try:
        import tensorrt  # noqa: F401

        pytest.skip("TensorRT is installed here; the real backend is tested on the device")
    except ImportError:
        pass
    with pytest.raises(BackendUnavailableError, match="JetPack"):
        edge_sdk.load(zoo_bundle("compact-cnn"), backend="tensorrt")


@pytest.fixture(scope="module")
def sess(mlp_bundle):
    return edge_sdk.load(mlp_bundle, backend="onnxruntime")


@pytest.mark.parametrize(
    ("feed", "message"),
    [
        ({"input": np.zeros((2, 9), np.float64)}, "expected dtype float32, got float64"),
        ({"input": np.zeros((9,), np.float32)}, "expected rank 2"),
        ({"input": np.zeros((2, 8), np.float32)}, "dim 1 must be 9"),
        ({"x": np.zeros((2, 9), np.float32)}, "missing \\['input'\\]"),
        ({"input": np.zeros((0, 9), np.float32)}, "empty array"),
        ({"input": np.full((1, 9), np.nan, np.float32)}, "NaN or Inf"),
        ({"input": [[0.0] * 9]}, "expected a numpy array"),
    ],
)
def test_bad_inputs_are_typed_and_name_the_tensor(sess, feed, message) -> None:
    with pytest.raises(InputError, match=message) as info:
        sess.run(feed)
    assert isinstance(info.value, EdgeSDKError)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(dtype=st.sampled_from(["float32", "float64", "float16", "int64", "uint8"]),
       shape=st.tuples(st.sampled_from([(), (0,), (1,), (2,), (3,)]), st.sampled_from([(9,), (8,), (), (9, 1), (1, 9)])
                       ).map(lambda t: t[0] + t[1]),
       fill=st.sampled_from([0.0, 1.5, np.nan, np.inf]), transposed=st.booleans(),
       max_batch=st.sampled_from([1, 2, 4096]), max_bytes=st.sampled_from([8, 36, 100, 1 << 30]))
@example(dtype="float32", shape=(1, 9), fill=0.0, transposed=False, max_batch=1, max_bytes=36)  # bounds met exactly
@example(dtype="float32", shape=(2, 9), fill=0.0, transposed=False, max_batch=1, max_bytes=1 << 30)
@example(dtype="float32", shape=(0, 9), fill=0.0, transposed=False, max_batch=2, max_bytes=1 << 30)
@example(dtype="float32", shape=(2, 9), fill=0.0, transposed=True, max_batch=2, max_bytes=1 << 30)
def test_fast_input_check_agrees_with_the_full_one(mlp_bundle, dtype, shape, fill, transposed, max_batch,
                                                    max_bytes) -> None:
    """Session._check's fast path accepts exactly what the full check accepts, and returns the same array."""
    s = edge_sdk.load(mlp_bundle, backend="onnxruntime", max_batch=max_batch, max_input_bytes=max_bytes)
    x = np.full(shape, fill if np.dtype(dtype).kind == "f" else 0, dtype)
    if transposed:
        x = x.T
    spec = s.inputs[0]
    outcomes = []
    for check in (s._check, s._check_slow):
        try:
            outcomes.append(check(spec, x))
        except InputError as e:
            outcomes.append(str(e))
    fast, slow = outcomes
    if isinstance(slow, str):
        assert fast == slow
    else:
        assert isinstance(fast, np.ndarray) and fast.shape == slow.shape and fast.flags.c_contiguous
        np.testing.assert_array_equal(fast, slow)


def test_noncontiguous_view_works(sess) -> None:
    x = np.random.default_rng(1).standard_normal((4, 18)).astype(np.float32)
    view = x[:, ::2]
    assert not view.flags.c_contiguous
    np.testing.assert_array_equal(sess(view), sess(np.ascontiguousarray(view)))


def test_nonfinite_allowed_when_asked(mlp_bundle) -> None:
    s = edge_sdk.load(mlp_bundle, allow_nonfinite=True)
    assert np.isnan(s(np.full((1, 9), np.nan, np.float32))).all()


@pytest.mark.parametrize("backend", ["onnxruntime", "numpy"])
def test_threads_give_serial_results(mlp_bundle, backend) -> None:
    s = edge_sdk.load(mlp_bundle, backend=backend)
    xs = [np.random.default_rng(i).standard_normal((3, 9)).astype(np.float32) for i in range(8)]
    serial = [s(x) for x in xs]
    bad: list[int] = []

    def work(k: int) -> None:
        for _ in range(300):
            if not np.array_equal(s(xs[k]), serial[k]):
                bad.append(k)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not bad


def test_bare_onnx_file_and_io_metadata(mlp_bundle) -> None:
    s = edge_sdk.load(mlp_bundle / "model.onnx")
    assert [t.name for t in s.inputs] == ["input"] and s.inputs[0].shape == ("batch", 9)
    assert s.outputs[0].dtype == "float32"


def test_tampered_artifact_is_refused(mlp_bundle, tmp_path) -> None:
    b = tmp_path / "b"
    shutil.copytree(mlp_bundle, b)
    data = bytearray((b / "model.onnx").read_bytes())
    data[-1] ^= 0xFF
    (b / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(ManifestError, match="does not match its manifest"):
        edge_sdk.load(b)


def test_missing_things(tmp_path, mlp_bundle) -> None:
    with pytest.raises(ManifestError, match="not found"):
        edge_sdk.load(tmp_path / "nope")
    with pytest.raises(ManifestError, match="no manifest.json"):
        edge_sdk.load(tmp_path)
    with pytest.raises(EdgeSDKError, match="unknown backend"):
        edge_sdk.load(mlp_bundle, backend="tflite")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00not an onnx file")
    with pytest.raises(ManifestError, match="cannot load"):
        edge_sdk.load(junk)
