"""`--precision int8-cpu`: ONNX Runtime's CPU recipe (uint8 activations with zero points, every quantizable op
in QDQ). What makes it the fast CPU format is checked structurally, not by timing: ONNX Runtime fuses its QDQ
groups into QLinear* kernels, which the TensorRT-style int8 graph (Q/DQ on compute-layer inputs only) does not
give it. It must be refused for TensorRT, clearly."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import onnxruntime as ort
from onnx import numpy_helper


def optimized_op_types(model: Path, tmp_path: Path) -> list[str]:
    """The op types of the graph ONNX Runtime actually runs on CPU (after its QDQ fusions)."""
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    so.optimized_model_filepath = str(tmp_path / f"{model.parent.name}-optimized.onnx")
    ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
    return [n.op_type for n in onnx.load(so.optimized_model_filepath).graph.node]


def test_int8_cpu_uses_uint8_activations_and_records_it(zoo_bundle) -> None:
    bundle = zoo_bundle("compact-cnn", "int8-cpu")
    m = json.loads((bundle / "manifest.json").read_text())
    assert m["precision"] == "int8-cpu" and m["parity"]["passed"]
    assert m["calibration"]["target"] == "cpu" and m["calibration"]["activation_type"] == "uint8"
    model = onnx.load(str(bundle / "model.onnx"))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    zero_points = [inits[n.input[2]] for n in model.graph.node if n.op_type == "QuantizeLinear"]
    assert zero_points and all(z.dtype.name == "uint8" for z in zero_points)
    assert any(int(z.max()) != 0 for z in zero_points)  # asymmetric: real zero points


def test_onnxruntime_fuses_int8_cpu_into_qlinear_kernels(zoo_bundle, tmp_path) -> None:
    for name in ("compact-cnn", "care-tiny"):
        cpu = optimized_op_types(zoo_bundle(name, "int8-cpu") / "model.onnx", tmp_path)
        trt = optimized_op_types(zoo_bundle(name, "int8") / "model.onnx", tmp_path)
        assert cpu.count("QLinearConv") >= 3, (name, sorted(set(cpu)))
        # the TensorRT-style graph leaves ORT's CPU provider float convs behind dequantized weights
        assert trt.count("QLinearConv") < cpu.count("QLinearConv"), (name, sorted(set(trt)))


def test_int8_cpu_is_refused_for_tensorrt(cli, zoo_bundle) -> None:
    bundle = zoo_bundle("compact-cnn", "int8-cpu")
    r = cli("validate", bundle, "--target", "tensorrt")
    assert r.code == 1 and "uint8" in r.out
    r = cli("build", bundle)
    assert r.code == 1 and "int8-cpu" in r.err and "--precision int8" in r.err


def test_cli_precision_choices_match_the_converter() -> None:
    from converters.pipeline import PRECISIONS
    from edge_sdk.cli.export_cmd import PRECISION_CHOICES

    assert PRECISION_CHOICES == list(PRECISIONS)


def test_tensorrt_backend_refuses_int8_cpu_with_the_same_reason(zoo_bundle) -> None:
    import pytest

    from runtimes.backends.tensorrt import ensure_engine
    from runtimes.errors import ManifestError
    from runtimes.manifest import read_manifest

    bundle = zoo_bundle("compact-cnn", "int8-cpu")
    with pytest.raises(ManifestError, match="int8-cpu bundle cannot become a TensorRT engine .*zero points"):
        ensure_engine(bundle, read_manifest(bundle), rebuild=False)
