"""Catalogue: broken artifacts. Every case is a typed error (one root) and, on the CLI, one line, exit 1.

CLI cases go through ``edge-sdk run BUNDLE synthetic://digits`` (the command that loads a bundle on the
device) or ``edge-sdk export`` (checkpoints). Overlaps: tests/runtimes/test_sessions.py (tampered
artifact, junk .onnx via the Python API), tests/edge_sdk/test_cli_basics.py (pickle via ``eval``),
tests/converters/test_tensorrt.py (engine_key_matches on source hash / version / capability).
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import edge_sdk
from edge_sdk.errors import BackendUnavailableError, EdgeSDKError, ManifestError, WeightsError
from tests.reliability.conftest import assert_one_line_error

URI = "synthetic://digits?count=1"


def _rehash(m: dict[str, Any], b: Path) -> dict[str, Any]:
    m["artifact_sha256"] = hashlib.sha256((b / m["artifact"]).read_bytes()).hexdigest()
    return m


def _run(cli, bundle: Path, *needles: str) -> None:  # noqa: ANN001
    assert_one_line_error(cli("run", bundle, URI, "--quiet"), *needles)


# --- the ONNX file --------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["onnxruntime", "numpy"])
def test_truncated_onnx_is_refused(cli, broken_bundle, backend) -> None:
    def truncate(m: dict[str, Any], b: Path) -> dict[str, Any]:
        data = (b / "model.onnx").read_bytes()
        (b / "model.onnx").write_bytes(data[: len(data) // 2])
        return _rehash(m, b)  # the hash matches: the parser itself must refuse it

    b = broken_bundle(truncate)
    with pytest.raises(ManifestError, match="cannot load|not a valid ONNX|cannot read"):
        edge_sdk.load(b, backend=backend)
    _run(cli, b, "model.onnx")


def test_random_bytes_named_onnx_is_refused(cli, tmp_path) -> None:
    junk = tmp_path / "random.onnx"
    junk.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ManifestError):
        edge_sdk.load(junk)
    _run(cli, junk, "random.onnx")


def test_valid_onnx_with_other_sha256_is_refused(cli, broken_bundle) -> None:
    import onnx
    from onnx import numpy_helper

    def swap(m: dict[str, Any], b: Path) -> None:
        model = onnx.load(str(b / "model.onnx"))
        init = model.graph.initializer[0]
        init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) + 1, init.name))
        onnx.save(model, str(b / "model.onnx"))  # a valid, different model; manifest untouched

    b = broken_bundle(swap)
    with pytest.raises(ManifestError, match="does not match its manifest.*re-export"):
        edge_sdk.load(b)
    _run(cli, b, "does not match its manifest")


# --- the manifest ----------------------------------------------------------------------------------------


def test_missing_manifest(cli, broken_bundle) -> None:
    b = broken_bundle(lambda m, b: (b / "manifest.json").unlink())
    with pytest.raises(ManifestError, match="no manifest.json"):
        edge_sdk.load(b)
    _run(cli, b, "no manifest.json")


@pytest.mark.parametrize("text", ['{"schema_version": 1, "model": ', "", "\xff\xfe garbage", "[" * 50_000, "1" * 5000],
                         ids=["truncated", "empty", "not-utf8", "deep-nesting", "huge-int"])
def test_malformed_manifest_json(cli, broken_bundle, text) -> None:
    def write(m: dict[str, Any], b: Path) -> None:
        (b / "manifest.json").write_bytes(text.encode("latin-1"))

    b = broken_bundle(write)
    with pytest.raises(ManifestError, match="not valid JSON"):
        edge_sdk.load(b)
    _run(cli, b, "not valid JSON")


@pytest.mark.parametrize("version", [2, 0, "1", None])
def test_wrong_schema_version(cli, broken_bundle, version) -> None:
    b = broken_bundle(lambda m, b: {**m, "schema_version": version})
    with pytest.raises(ManifestError, match="schema_version"):
        edge_sdk.load(b)
    _run(cli, b, "schema_version", "re-export")


WRONG_TYPES = {
    "opset-string": (lambda m: {**m, "opset": "18"}, "opset must be int"),
    "opset-bool": (lambda m: {**m, "opset": True}, "opset must be int"),
    "model-missing": (lambda m: {k: v for k, v in m.items() if k != "model"}, "model must be str, got missing"),
    "inputs-dict": (lambda m: {**m, "inputs": {"name": "input"}}, "inputs must be list"),
    "inputs-empty": (lambda m: {**m, "inputs": []}, "inputs is empty"),
    "shape-negative": (lambda m: {**m, "inputs": [{**m["inputs"][0], "shape": ["batch", -9]}]}, "shape[1]"),
    "shape-float": (lambda m: {**m, "inputs": [{**m["inputs"][0], "shape": ["batch", 9.0]}]}, "shape[1]"),
    "dtype-unknown": (lambda m: {**m, "outputs": [{**m["outputs"][0], "dtype": "complex64"}]}, "unsupported dtype"),
    "labels-ints": (lambda m: {**m, "labels": [1, 2, 3]}, "labels must be a list of strings"),
    "preprocessing-list": (lambda m: {**m, "preprocessing": [1]}, "preprocessing must be dict"),
    "engines-not-dicts": (lambda m: {**m, "engines": [1]}, "engines"),
    "top-level-list": (lambda m: [m], "manifest must be dict"),
}


@pytest.mark.parametrize("case", sorted(WRONG_TYPES))
def test_manifest_fields_of_wrong_type(cli, broken_bundle, case) -> None:
    edit, message = WRONG_TYPES[case]
    b = broken_bundle(lambda m, b: edit(m))
    with pytest.raises(ManifestError, match=message.replace("[", r"\[").replace("]", r"\]")):
        edge_sdk.load(b)
    _run(cli, b, "manifest")


# --- the bundle's files ------------------------------------------------------------------------------


def test_bundle_with_artifact_missing(cli, broken_bundle) -> None:
    b = broken_bundle(lambda m, b: (b / "model.onnx").unlink())
    with pytest.raises(ManifestError, match="missing its artifact model.onnx"):
        edge_sdk.load(b)
    _run(cli, b, "missing its artifact")


@pytest.mark.parametrize("where", ["parent", "absolute", "symlink"])
def test_manifest_path_outside_the_bundle(cli, broken_bundle, tmp_path, where) -> None:
    outside = tmp_path / "outside.onnx"

    def point_out(m: dict[str, Any], b: Path) -> dict[str, Any]:
        outside.write_bytes((b / "model.onnx").read_bytes())  # a real, matching file outside
        if where == "symlink":
            (b / "link.onnx").symlink_to(outside)
            m["artifact"] = "link.onnx"
        else:
            m["artifact"] = "../outside.onnx" if where == "parent" else str(outside)
        return m

    b = broken_bundle(point_out)
    with pytest.raises(ManifestError, match="points outside the bundle"):
        edge_sdk.load(b)
    _run(cli, b, "points outside the bundle")


# --- TensorRT engines: rebuild, or refuse with a reason (no TensorRT needed) ----------------------------


def _engine_bundle(broken_bundle, entry: dict[str, Any], engine: bytes = b"plan") -> Path:  # noqa: ANN001
    def add(m: dict[str, Any], b: Path) -> dict[str, Any]:
        (b / "model.engine").write_bytes(engine)
        m["engines"] = [{"file": "model.engine", "sha256": hashlib.sha256(engine).hexdigest(),
                         "source_sha256": m["artifact_sha256"], "tensorrt_version": "10.3.0",
                         "compute_capability": "8.7", "gpu_name": "Orin", **entry}]
        return m

    return broken_bundle(add)


@pytest.mark.parametrize(
    ("entry", "engine", "reason"),
    [
        ({"source_sha256": "0" * 64}, b"plan", "built from a different ONNX file"),
        ({}, b"tampered plan", "does not match its manifest hash"),
        ({"file": "other.engine"}, b"plan", "no engine built yet"),
    ],
    ids=["stale-onnx", "engine-tampered", "no-entry"],
)
def test_stale_engine_is_refused_with_the_reason(broken_bundle, entry, engine, reason) -> None:
    from runtimes.backends.tensorrt import ensure_engine
    from runtimes.manifest import read_manifest

    b = _engine_bundle(broken_bundle, entry)
    if engine != b"plan":
        (b / "model.engine").write_bytes(engine)
    before = (b / "manifest.json").read_bytes()
    with pytest.raises(ManifestError, match=f"{reason}.*edge-sdk build"):
        ensure_engine(b, read_manifest(b), rebuild=False, log=lambda m: None)
    assert (b / "manifest.json").read_bytes() == before  # refusing writes nothing


def test_matching_engine_is_used_without_tensorrt(broken_bundle, tmp_path, monkeypatch) -> None:
    from runtimes.backends.tensorrt import ensure_engine
    from runtimes.engine_trust import remember
    from runtimes.manifest import read_manifest

    pytest.importorskip("converters")
    try:
        import tensorrt  # noqa: F401

        pytest.skip("TensorRT is installed: the version/GPU comparison is real here")
    except ImportError:
        pass
    b = _engine_bundle(broken_bundle, {})
    monkeypatch.setenv("EDGE_SDK_CACHE", str(tmp_path / "cache"))
    remember(hashlib.sha256(b"plan").hexdigest())  # as if this device had built it
    path, entry = ensure_engine(b, read_manifest(b), rebuild=False, log=lambda m: None)
    assert path == b / "model.engine" and entry["tensorrt_version"] == "10.3.0"


def test_engine_that_arrived_in_a_bundle_is_never_loaded(broken_bundle, tmp_path, monkeypatch) -> None:
    """A plan is a program: one this device did not build is refused (rebuilt when allowed), even with a
    perfect manifest entry (right TensorRT, GPU, ONNX hash and its own sha256) and version_compatible set,
    which would otherwise let TensorRT run host code embedded in the plan."""
    from runtimes.backends.tensorrt import ensure_engine
    from runtimes.manifest import read_manifest

    monkeypatch.setenv("EDGE_SDK_CACHE", str(tmp_path / "cache"))
    b = _engine_bundle(broken_bundle, {"version_compatible": True})
    before = (b / "manifest.json").read_bytes()
    with pytest.raises(ManifestError, match="not built on this device.*edge-sdk build"):
        ensure_engine(b, read_manifest(b), rebuild=False, log=lambda m: None)
    assert (b / "manifest.json").read_bytes() == before


@pytest.mark.parametrize(
    ("entry", "trt", "cap", "ok", "reason"),
    [
        ({}, "10.3.0", "8.7", True, ""),
        ({}, "10.4.0", "8.7", False, "built with TensorRT 10.3.0, this machine has 10.4.0"),
        ({}, "10.3.0", "9.0", False, "compute capability 8.7"),
        ({"version_compatible": True}, "10.7.0", "8.7", True, ""),
        ({"version_compatible": True}, "11.0.0", "8.7", False, "version-compatible"),
        ({"version_compatible": True}, "10.1.0", "8.7", False, "version-compatible"),
        ({"source_sha256": "f" * 64}, "10.3.0", "8.7", False, "different ONNX file"),
    ],
)
def test_engine_key_decision(entry, trt, cap, ok, reason) -> None:
    from runtimes.engine_build import engine_key_matches

    full = {"file": "model.engine", "source_sha256": "a" * 64, "tensorrt_version": "10.3.0",
            "compute_capability": "8.7", **entry}
    got_ok, why = engine_key_matches(full, onnx_sha256="a" * 64, tensorrt_version=trt, compute_capability=cap)
    assert got_ok is ok and reason in why
    assert ok or "rebuild" in why


def test_tensorrt_backend_refused_on_cli_without_tensorrt(cli, mlp_bundle) -> None:
    try:
        import tensorrt  # noqa: F401

        pytest.skip("TensorRT is installed here")
    except ImportError:
        pass
    with pytest.raises(BackendUnavailableError):
        edge_sdk.load(mlp_bundle, backend="tensorrt")
    assert_one_line_error(cli("run", mlp_bundle, URI, "--backend", "tensorrt", "--quiet"), "pip install")


# --- checkpoints -----------------------------------------------------------------------------------------


class _Evil:
    marker = ""

    def __reduce__(self):  # noqa: ANN204
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("fmt", ["raw-pickle", "torch-zip"])
def test_pickle_checkpoint_is_refused_never_executed(cli, tmp_path, fmt) -> None:
    import torch

    from edge_sdk.zoo.weights import read_state_dict

    marker = tmp_path / "executed"
    evil = _Evil()
    evil.marker = str(marker)
    ckpt = tmp_path / "evil.pt"
    if fmt == "raw-pickle":
        ckpt.write_bytes(pickle.dumps({"w": evil}, protocol=4))
    else:
        torch.save({"w": evil}, ckpt)
    assert not marker.exists()
    with pytest.raises(WeightsError, match="refused"):
        read_state_dict(ckpt)
    out = tmp_path / "out"
    assert_one_line_error(cli("export", ckpt, "--arch", "emlp", "-o", out, "--quiet"), "refused")
    assert not marker.exists() and not out.exists()


def test_state_dict_with_wrong_shapes_names_the_tensor(cli, tmp_path) -> None:
    import torch
    from safetensors.torch import save_file

    state = {k: v.clone() for k, v in edge_sdk.create_model("emlp").state_dict().items()}
    name = sorted(state)[-1]
    state[name] = torch.zeros(*[d + 1 for d in state[name].shape])
    ckpt = tmp_path / "bad.safetensors"
    save_file(state, str(ckpt))
    out = tmp_path / "out"
    from edge_sdk.zoo.weights import load_into, read_state_dict

    with pytest.raises(WeightsError, match=f"tensor '{name}': expected shape") as info:
        load_into(edge_sdk.create_model("emlp"), read_state_dict(ckpt))
    assert isinstance(info.value, EdgeSDKError)
    assert_one_line_error(cli("export", ckpt, "--arch", "emlp", "-o", out, "--quiet"), name, "expected shape")
    assert not out.exists()

