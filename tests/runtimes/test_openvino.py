"""The OpenVINO backend: same outputs as ONNX Runtime on each precision, same input checks, optional install."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import runtimes
from runtimes.errors import InputError, ManifestError, SessionClosedError, install_hint
from tests.conftest import run_python

ov = pytest.importorskip("openvino", reason="the openvino extra is not installed")


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGE_SDK_CACHE", str(tmp_path / "cache"))


def _x(batch: int = 4, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, 1, 28, 28)).astype(np.float32)


# Largest difference from ONNX Runtime, as a fraction of the largest logit, on real digits. INT8 kernels
# round in their own way: OpenVINO's low-precision transformations follow `int8-cpu` (uint8 activations
# with zero points) closely, and move further from ONNX Runtime on the TensorRT placement `int8`, which
# is why auto checks a backend other than ONNX Runtime against the budget before it picks it.
TOLERANCE = {"fp32": 1e-5, "int8-cpu": 0.02, "int8": 0.6}
TOP1_AGREEMENT = {"fp32": 1.0, "int8-cpu": 0.99, "int8": 0.98}


@pytest.mark.parametrize("precision", ["fp32", "int8", "int8-cpu"])
def test_matches_onnxruntime_on_bundles(zoo_bundle, precision) -> None:
    from edge_sdk.data.digits import load_digits28

    bundle = zoo_bundle("compact-cnn", precision)
    x = load_digits28("test")[0][:256]
    with runtimes.load(bundle, backend="openvino") as s, runtimes.load(bundle, backend="onnxruntime") as ref:
        assert s.backend == "openvino" and s.manifest is not None and s.manifest.precision == precision
        assert [(t.name, t.dtype) for t in s.inputs] == [(t.name, t.dtype) for t in ref.inputs]
        got, want = s(x), ref(x)
    assert got.shape == want.shape and got.dtype == want.dtype
    assert np.abs(got - want).max() <= TOLERANCE[precision] * float(np.abs(want).max())
    assert np.mean(got.argmax(1) == want.argmax(1)) >= TOP1_AGREEMENT[precision]


def test_matches_onnxruntime_on_fp16(zoo_bundle, tmp_path) -> None:
    from converters.quantize import build

    fp16 = tmp_path / "fp16.onnx"
    build(zoo_bundle("compact-cnn") / "model.onnx", "fp16", fp16)
    x = _x(4)
    got = runtimes.load(fp16, backend="openvino")(x)
    want = runtimes.load(fp16, backend="onnxruntime")(x)
    np.testing.assert_allclose(got, want, atol=2e-2 * max(float(np.abs(want).max()), 1.0))
    assert (got.argmax(1) == want.argmax(1)).all()


@pytest.fixture(scope="module")
def sess(zoo_bundle):
    s = runtimes.load(zoo_bundle("compact-cnn"), backend="openvino", threads=1)
    yield s
    s.close()


def test_same_input_checks_as_every_backend(sess) -> None:
    assert sess.threads == 1
    with pytest.raises(InputError, match="dtype float32"):
        sess(_x().astype(np.float64))
    with pytest.raises(InputError, match="dim 2 must be 28"):
        sess(np.zeros((1, 1, 27, 28), np.float32))
    with pytest.raises(InputError, match="rank 4"):
        sess(np.zeros((28, 28), np.float32))
    with pytest.raises(InputError, match="unknown"):
        sess.run({"image": _x()})
    bad = _x(2)
    bad[1, 0, 3, 3] = np.nan
    with pytest.raises(InputError, match="NaN or Inf"):
        sess(bad)
    with pytest.raises(InputError, match="expected a numpy array"):
        sess([[0.0]])


def test_any_batch_and_non_contiguous_inputs(sess) -> None:
    x = _x(5)
    full = sess(x)
    assert full.shape == (5, 10)
    np.testing.assert_allclose(sess(x[2:3]), full[2:3], rtol=1e-5, atol=1e-5)
    strided = np.ascontiguousarray(np.repeat(x, 2, axis=0))[::2]
    np.testing.assert_allclose(sess(strided), full, rtol=1e-5, atol=1e-5)
    assert sess.run({"input": x})["output"].shape == (5, 10)


def test_batch_1_runs_a_static_compile_and_other_batches_compile_once(zoo_bundle) -> None:
    """Batch 1 (the latency case) runs a static-shape compile made at load; another batch compiles the model
    with its symbolic batch on first use, once; both give ONNX Runtime's outputs."""
    bundle = zoo_bundle("compact-cnn")
    s = runtimes.load(bundle, backend="openvino", threads=1)
    ref = runtimes.load(bundle, backend="onnxruntime")
    state = s._state
    assert state["static"] is not None and state["dynamic"] is None
    assert [list(p.get_partial_shape().to_shape()) for p in state["static"][0].inputs] == [[1, 1, 28, 28]]
    assert not isinstance(s.inputs[0].shape[0], int)  # symbolic: what calls may send
    x = _x(3)
    np.testing.assert_allclose(s(x[:1]), ref(x[:1]), rtol=1e-5, atol=1e-5)
    assert state["dynamic"] is None  # batch 1 never needed it
    np.testing.assert_allclose(s(x), ref(x), rtol=1e-5, atol=1e-5)
    dynamic = state["dynamic"]
    assert dynamic is not None
    np.testing.assert_allclose(s.run({"input": x})["output"], ref(x), rtol=1e-5, atol=1e-5)
    assert state["dynamic"] is dynamic  # compiled once


def test_threads_give_serial_results(sess) -> None:
    xs = [_x(2, seed) for seed in range(8)]
    want = [sess(x) for x in xs]
    got: dict[int, list[np.ndarray]] = {}

    def work(k: int) -> None:
        got[k] = [sess(x) for x in xs for _ in range(5)][::5]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(4):
        for a, b in zip(got[k], want):
            np.testing.assert_array_equal(a, b)


def test_close_then_call_is_a_typed_error(zoo_bundle) -> None:
    s = runtimes.load(zoo_bundle("compact-cnn"), backend="openvino")
    s.close()
    s.close()
    with pytest.raises(SessionClosedError):
        s(_x(1))


def test_junk_file_is_a_manifest_error(tmp_path) -> None:
    junk = tmp_path / "model.onnx"
    junk.write_bytes(b"\x08\x07 not a model" * 10)
    with pytest.raises(ManifestError, match="openvino cannot load"):
        runtimes.load(junk, backend="openvino")


def test_compiled_models_are_cached_in_the_sdk_cache(zoo_bundle, tmp_path, monkeypatch) -> None:
    runtimes.load(zoo_bundle("compact-cnn"), backend="openvino").close()
    assert any((tmp_path / "cache" / "openvino").iterdir())
    monkeypatch.setenv("EDGE_SDK_CACHE", str(tmp_path / "other"))
    runtimes.load(zoo_bundle("compact-cnn"), backend="openvino", cache=False).close()
    assert not (tmp_path / "other").exists()


def test_missing_openvino_is_a_typed_error_with_the_install_hint(zoo_bundle) -> None:
    bundle = zoo_bundle("compact-cnn")
    r = run_python(
        "import sys; sys.modules['openvino'] = None\n"
        "import runtimes\n"
        "from runtimes.errors import BackendUnavailableError\n"
        "try:\n"
        f"    runtimes.load({str(bundle)!r}, backend='openvino')\n"
        "except BackendUnavailableError as e:\n"
        "    print('TYPED', e)\n"
        f"s = runtimes.load({str(bundle)!r})\n"  # auto still works, without OpenVINO among the candidates
        "print('AUTO', s.backend, s.choice['by'])\n")
    assert r.returncode == 0, r.stderr
    assert f"TYPED the openvino backend needs OpenVINO: {install_hint('openvino')}" in r.stdout
    assert "AUTO onnxruntime" in r.stdout
