"""`--precision int8-openvino`: int8's symmetric placement (which OpenVINO's CPU plugin runs as INT8 kernels) with
7-bit weights, so that x86 CPUs without VNNI do not saturate the 16-bit pair sums of their U8S8/S8S8 kernels.
Checked structurally (the placement and the weight range), on OpenVINO against ONNX Runtime, and in the
precision table's consumers (auto, TensorRT's refusal)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper


def _int8_weights(model: onnx.ModelProto) -> list[np.ndarray]:
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    return [inits[n.input[0]] for n in model.graph.node
            if n.op_type == "DequantizeLinear" and n.input[0] in inits and inits[n.input[0]].dtype == np.int8]


def _placement(path: Path) -> tuple[Counter[str], int, int]:
    """(the op types that read a DequantizeLinear output, #QuantizeLinear, #DequantizeLinear)."""
    model = onnx.load(str(path))
    readers: dict[str, list[str]] = {}
    for n in model.graph.node:
        for i in n.input:
            readers.setdefault(i, []).append(n.op_type)
    dq = [n for n in model.graph.node if n.op_type == "DequantizeLinear"]
    return (Counter(t for n in dq for t in readers.get(n.output[0], [])),
            sum(n.op_type == "QuantizeLinear" for n in model.graph.node), len(dq))


def test_int8_openvino_is_int8s_placement_with_7_bit_weights(zoo_bundle) -> None:
    bundle, trt = zoo_bundle("compact-cnn", "int8-openvino"), zoo_bundle("compact-cnn", "int8")
    m = json.loads((bundle / "manifest.json").read_text())
    assert m["precision"] == "int8-openvino" and m["parity"]["passed"]
    cal = m["calibration"]
    assert (cal["target"], cal["symmetric"], cal["activation_type"], cal["reduce_range"]) == ("openvino", True,
                                                                                              "int8", True)
    assert _placement(bundle / "model.onnx") == _placement(trt / "model.onnx")
    model = onnx.load(str(bundle / "model.onnx"))
    weights = _int8_weights(model)
    assert weights and max(int(np.abs(w.astype(np.int16)).max()) for w in weights) <= 64  # 7 bits
    assert max(int(np.abs(w.astype(np.int16)).max()) for w in _int8_weights(onnx.load(str(trt / "model.onnx")))) > 64
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    zero_points = [inits[n.input[2]] for n in model.graph.node if n.op_type == "QuantizeLinear" and len(n.input) > 2]
    assert zero_points and all(z.dtype == np.int8 and not z.any() for z in zero_points)  # symmetric


def test_openvino_runs_it_as_onnx_runtime_does(zoo_bundle) -> None:
    pytest.importorskip("openvino")
    import runtimes
    from edge_sdk.data.digits import load_digits28

    bundle = zoo_bundle("compact-cnn", "int8-openvino")
    x = load_digits28("test")[0][:256]
    with runtimes.load(bundle, backend="openvino") as s, runtimes.load(bundle, backend="onnxruntime") as ref:
        got, want = s(x), ref(x)
    assert np.abs(got - want).max() <= 0.05 * float(np.abs(want).max())
    assert np.mean(got.argmax(1) == want.argmax(1)) >= 0.99


def test_auto_builds_it_where_openvino_is_installed(zoo_bundle) -> None:
    from importlib import util

    from converters.auto import candidates_for

    cnn = candidates_for(zoo_bundle("compact-cnn") / "model.onnx")
    assert ("int8-openvino" in cnn) == (util.find_spec("openvino") is not None)
    assert "int8-openvino" not in candidates_for(zoo_bundle("emlp") / "model.onnx")  # an MLP: never on OpenVINO


def test_tensorrt_refuses_it_and_says_which_to_export(cli, zoo_bundle) -> None:
    from runtimes.backends.tensorrt import ensure_engine
    from runtimes.errors import ManifestError
    from runtimes.manifest import read_manifest

    bundle = zoo_bundle("compact-cnn", "int8-openvino")
    with pytest.raises(ManifestError, match="int8-openvino bundle cannot become a TensorRT engine .*export int8"):
        ensure_engine(bundle, read_manifest(bundle), rebuild=False)
    r = cli("build", bundle)
    assert r.code == 1 and "int8-openvino" in r.err and "int8" in r.err
