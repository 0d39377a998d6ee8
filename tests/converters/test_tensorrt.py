"""TensorRT compatibility check (no TensorRT needed), trtexec equivalents, engine staleness, and real
engine builds (marked ``tensorrt``; skipped where TensorRT is not installed)."""

from __future__ import annotations

import shlex
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from converters.tensorrt_check import check_tensorrt_compat
from edge_sdk.errors import BackendUnavailableError, EdgeSDKError
from runtimes.engine_build import build_engine, engine_key_matches, trtexec_command
from tests.conftest import run_python

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

IMAGE = (3, 8, 8)


# ---------------------------------------------------------------------------------------------------
# models made here


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """conv + relu + linear, exported with the dynamo exporter, single file, dynamic batch."""
    torch = pytest.importorskip("torch")
    from torch import nn

    class Tiny(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.fc = nn.Linear(4 * 8 * 8, 5)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(torch.relu(self.conv(x)).flatten(1))

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("trt") / "tiny.onnx"
    batch = torch.export.Dim("batch", min=1, max=64)
    torch.onnx.export(
        Tiny().eval(), (torch.randn(2, *IMAGE),), str(path), dynamo=True, external_data=False,
        input_names=["image"], output_names=["logits"], dynamic_shapes={"x": {0: batch}}, verbose=False,
    )
    return path


def _quantize(src: Path, dst: Path, **extra: bool) -> Path:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            rng = np.random.default_rng(0)
            self._it = iter([{"image": rng.random((1, *IMAGE), dtype=np.float32)} for _ in range(4)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._it, None)

    quantize_static(
        str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QInt8,
        weight_type=QuantType.QInt8, extra_options={"ActivationSymmetric": True, "WeightSymmetric": True, **extra},
    )
    return dst


@pytest.fixture(scope="module")
def tiny_int8(tiny_onnx: Path) -> Path:
    # TensorRT dequantizes activation types only, so biases stay float (QuantizeBias=False)
    return _quantize(tiny_onnx, tiny_onnx.with_name("tiny_int8.onnx"), QuantizeBias=False)


def _model(nodes, inputs, outputs, initializers=(), opset: int = 17, **kw) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    imports = [helper.make_opsetid("", opset), *kw.pop("extra_imports", [])]
    return helper.make_model(graph, opset_imports=imports, **kw)


def _vi(name: str, shape, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


def _qdq_model(zero_point: int, zp_type=TensorProto.INT8, scale: float = 0.1) -> onnx.ModelProto:
    inits = [
        helper.make_tensor("s", TensorProto.FLOAT, [], [scale]),
        helper.make_tensor("zp", zp_type, [], [zero_point]),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["q"], name="quant_x"),
        helper.make_node("DequantizeLinear", ["q", "s", "zp"], ["y"], name="dequant_x"),
    ]
    return _model(nodes, [_vi("x", ["batch", 4])], [_vi("y", ["batch", 4])], inits)


# ---------------------------------------------------------------------------------------------------
# the compatibility check


def test_exported_fp32_model_passes(tiny_onnx: Path) -> None:
    report = check_tensorrt_compat(tiny_onnx, max_batch=16)
    assert report["ok"], report["errors"]
    assert report["errors"] == []
    assert {"Conv", "Relu", "Gemm"} <= set(report["ops"])
    assert report["profiles"]["image"] == {"min": [1, *IMAGE], "opt": [1, *IMAGE], "max": [16, *IMAGE]}


def test_model_proto_is_accepted(tiny_onnx: Path) -> None:
    assert check_tensorrt_compat(onnx.load(str(tiny_onnx)))["ok"]


def test_int8_qdq_model_passes(tiny_int8: Path) -> None:
    report = check_tensorrt_compat(tiny_int8)
    assert report["ok"], report["errors"]
    assert report["ops"]["QuantizeLinear"] > 0 and report["ops"]["DequantizeLinear"] > 0


def test_int32_bias_dequantize_is_refused(tiny_onnx: Path, tmp_path: Path) -> None:
    # onnxruntime's default quantizes biases to int32 behind a DequantizeLinear: TensorRT's parser rejects it
    report = check_tensorrt_compat(_quantize(tiny_onnx, tmp_path / "bias.onnx"))
    assert not report["ok"]
    bias_errors = [e for e in report["errors"] if "bias" in e and "QuantizeBias" in e]
    assert bias_errors and "DequantizeLinear" in bias_errors[0]


def test_custom_domain_op_fails_naming_the_node() -> None:
    node = helper.make_node("FancyPool", ["x"], ["y"], name="my_fancy", domain="com.example")
    model = _model([node], [_vi("x", ["N", 3, 8, 8])], [_vi("y", ["N", 3, 8, 8])],
                   extra_imports=[helper.make_opsetid("com.example", 1)])
    report = check_tensorrt_compat(model)
    assert not report["ok"]
    assert any("'my_fancy'" in e and "com.example" in e for e in report["errors"]), report["errors"]
    assert report["ops"] == {"com.example::FancyPool": 1}


@pytest.mark.parametrize("op", ["Unique", "DFT", "StringNormalizer"])
def test_unsupported_default_domain_op_fails_naming_the_node(op: str) -> None:
    node = helper.make_node(op, ["x"], ["y"], name="the_node")
    report = check_tensorrt_compat(_model([node], [_vi("x", ["N", 4])], [_vi("y", ["N", 4])]))
    assert not report["ok"]
    assert any("'the_node'" in e and op in e and "not supported" in e for e in report["errors"])


def test_unsupported_op_inside_a_subgraph_is_found() -> None:
    branch = helper.make_graph([helper.make_node("Unique", ["x"], ["u"], name="hidden")], "b", [],
                               [_vi("u", None)])
    node = helper.make_node("If", ["c"], ["y"], then_branch=branch, else_branch=branch, name="if")
    model = _model([node], [_vi("c", [], TensorProto.BOOL), _vi("x", ["N", 4])], [_vi("y", None)])
    assert any("'hidden'" in e for e in check_tensorrt_compat(model)["errors"])


def test_symmetric_int8_qdq_passes() -> None:
    assert check_tensorrt_compat(_qdq_model(0))["ok"]


def test_non_zero_zero_point_fails_naming_the_node() -> None:
    report = check_tensorrt_compat(_qdq_model(3))
    assert not report["ok"]
    assert any("'quant_x'" in e and "zero point" in e for e in report["errors"])
    assert any("'dequant_x'" in e and "zero point" in e for e in report["errors"])


def test_uint8_quantization_fails() -> None:
    report = check_tensorrt_compat(_qdq_model(0, TensorProto.UINT8))
    assert any("'quant_x'" in e and "uint8" in e and "int8" in e for e in report["errors"])


def test_quantize_without_zero_point_defaults_to_uint8_and_fails() -> None:
    inits = [helper.make_tensor("s", TensorProto.FLOAT, [], [0.1])]
    nodes = [helper.make_node("QuantizeLinear", ["x", "s"], ["y"], name="q")]
    report = check_tensorrt_compat(_model(nodes, [_vi("x", ["N", 4])], [_vi("y", ["N", 4], TensorProto.UINT8)], inits))
    assert any("'q'" in e and "uint8" in e for e in report["errors"])


def test_non_positive_scale_fails() -> None:
    report = check_tensorrt_compat(_qdq_model(0, scale=0.0))
    assert any("'quant_x'" in e and "scale" in e for e in report["errors"])


def test_non_batch_dynamic_dim_fails_naming_the_input() -> None:
    node = helper.make_node("Relu", ["image"], ["y"], name="r")
    report = check_tensorrt_compat(_model([node], [_vi("image", ["batch", 3, "height", 8])], [_vi("y", None)]))
    assert not report["ok"]
    assert any("'image'" in e and "[2]" in e and "height" in e for e in report["errors"]), report["errors"]


def test_fixed_batch_is_a_warning_not_an_error() -> None:
    node = helper.make_node("Relu", ["x"], ["y"])
    report = check_tensorrt_compat(_model([node], [_vi("x", [1, 3])], [_vi("y", [1, 3])]))
    assert report["ok"] and any("fixed batch" in w for w in report["warnings"])
    assert report["profiles"]["x"]["max"] == [1, 3]


@pytest.mark.parametrize(("opset", "ok", "warns"), [(7, False, False), (17, True, False), (22, True, True)])
def test_opset_range(opset: int, ok: bool, warns: bool) -> None:
    model = _model([helper.make_node("Relu", ["x"], ["y"])], [_vi("x", ["N", 3])], [_vi("y", ["N", 3])], opset=opset)
    report = check_tensorrt_compat(model)
    assert report["ok"] is ok
    assert any("opset" in w for w in report["warnings"]) is warns


def test_resize_restrictions() -> None:
    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], name="up", mode="cubic")
    inits = [helper.make_tensor("scales", TensorProto.FLOAT, [4], [1, 1, 2, 2])]
    report = check_tensorrt_compat(_model([node], [_vi("x", ["N", 3, 4, 4])], [_vi("y", None)], inits))
    assert any("'up'" in e and "cubic" in e for e in report["errors"])


def test_external_data_fails(tmp_path: Path) -> None:
    weight = onnx.numpy_helper.from_array(np.ones((64, 64), np.float32), "w")  # raw data: can go external
    node = helper.make_node("MatMul", ["x", "w"], ["y"])
    model = _model([node], [_vi("x", ["N", 64])], [_vi("y", ["N", 64])], [weight])
    path = tmp_path / "ext.onnx"
    onnx.save(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True, size_threshold=0)
    report = check_tensorrt_compat(path)
    assert any("external data" in e for e in report["errors"])


def test_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(EdgeSDKError, match="not found"):
        check_tensorrt_compat(tmp_path / "nope.onnx")


# ---------------------------------------------------------------------------------------------------
# trtexec equivalent

INPUTS = [("image", [None, 3, 8, 8])]


@pytest.mark.parametrize(("precision", "flag"), [("fp32", None), ("fp16", "--fp16"), ("int8", "--int8")])
def test_trtexec_command_per_precision(precision: str, flag: str | None) -> None:
    cmd = trtexec_command("m/model.onnx", "m/model.engine", precision, max_batch=8, opt_batch=4, inputs=INPUTS)
    args = shlex.split(cmd)
    assert args[:3] == ["trtexec", "--onnx=m/model.onnx", "--saveEngine=m/model.engine"]
    assert "--minShapes=image:1x3x8x8" in args
    assert "--optShapes=image:4x3x8x8" in args
    assert "--maxShapes=image:8x3x8x8" in args
    precision_flags = {"--fp16", "--int8", "--best", "--stronglyTyped"} & set(args)
    assert precision_flags == ({flag} if flag else set())
    assert not any(a.startswith(("--memPoolSize", "--timingCacheFile", "--versionCompatible")) for a in args)


def test_trtexec_command_options() -> None:
    cmd = trtexec_command("a.onnx", "a.engine", "fp16", workspace=1 << 30, timing_cache=Path("c/t.cache"),
                          version_compatible=True, inputs=INPUTS)
    args = shlex.split(cmd)
    assert "--memPoolSize=workspace:1024M" in args
    assert "--timingCacheFile=c/t.cache" in args
    assert "--versionCompatible" in args
    assert "--maxShapes=image:32x3x8x8" in args  # default max_batch


def test_trtexec_command_reads_inputs_from_the_onnx_file(tiny_onnx: Path) -> None:
    args = shlex.split(trtexec_command(tiny_onnx, tiny_onnx.with_suffix(".engine"), "fp32", max_batch=4))
    assert "--maxShapes=image:4x3x8x8" in args


def test_trtexec_command_static_batch_has_no_shape_flags() -> None:
    args = shlex.split(trtexec_command("a.onnx", "a.engine", inputs=[("x", [1, 3, 8, 8])]))
    assert not any(a.startswith("--m") for a in args)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(EdgeSDKError, match="precision"):
        trtexec_command("a.onnx", "a.engine", "int4")
    with pytest.raises(EdgeSDKError, match="opt_batch"):
        trtexec_command("a.onnx", "a.engine", opt_batch=8, max_batch=4)


# ---------------------------------------------------------------------------------------------------
# without TensorRT; staleness of an engine entry


def test_modules_do_not_import_tensorrt_or_onnx_at_import() -> None:
    result = run_python(
        "import sys; import runtimes.engine_build, converters.tensorrt_check; "
        "print(sorted(m for m in ('tensorrt', 'onnx', 'torch') if m in sys.modules))"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_build_without_tensorrt_raises_with_install_hint(tiny_onnx: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # import tensorrt -> ImportError
    with pytest.raises(BackendUnavailableError) as info:
        build_engine(tiny_onnx, tmp_path / "m.engine")
    assert "pip install tensorrt" in str(info.value) and "JetPack" in str(info.value)
    assert not (tmp_path / "m.engine").exists()


def _entry(**kw) -> dict:
    entry = {"file": "model.engine", "sha256": "e" * 64, "tensorrt_version": "10.3.0", "gpu_name": "Orin",
             "compute_capability": "8.7", "precision": "fp16", "source_sha256": "a" * 64, "max_batch": 32,
             "version_compatible": False, "build_seconds": 1.0}
    return {**entry, **kw}


def test_engine_key_source_hash(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    assert engine_key_matches(_entry(), onnx_sha256="a" * 64) == (True, "")
    ok, reason = engine_key_matches(_entry(), onnx_sha256="b" * 64)
    assert not ok and "different ONNX" in reason and "rebuild" in reason


def test_engine_key_matches_on_same_device() -> None:
    here = {"tensorrt_version": "10.3.0", "compute_capability": "8.7"}
    assert engine_key_matches(_entry(), onnx_sha256="a" * 64, **here) == (True, "")


def test_engine_key_tensorrt_version() -> None:
    ok, reason = engine_key_matches(_entry(), onnx_sha256="a" * 64, tensorrt_version="10.7.0.23",
                                    compute_capability="8.7")
    assert not ok and "10.3.0" in reason and "10.7.0" in reason


def test_engine_key_compute_capability() -> None:
    ok, reason = engine_key_matches(_entry(), onnx_sha256="a" * 64, tensorrt_version="10.3.0",
                                    compute_capability="8.9")
    assert not ok and "8.7" in reason and "8.9" in reason


@pytest.mark.parametrize(("here", "ok"), [("10.7.0", True), ("10.3.0", True), ("10.2.0", False), ("11.0.0", False)])
def test_engine_key_version_compatible(here: str, ok: bool) -> None:
    got = engine_key_matches(_entry(version_compatible=True), onnx_sha256="a" * 64, tensorrt_version=here,
                             compute_capability="8.7")
    assert got[0] is ok


def test_gpu_info_shape() -> None:
    from runtimes.gpu import gpu_info

    info = gpu_info()
    assert set(info) == {"gpu_name", "compute_capability"}
    assert info["compute_capability"] == "unknown" or info["compute_capability"].count(".") == 1


# ---------------------------------------------------------------------------------------------------
# real builds (a device with TensorRT and a GPU)


@pytest.fixture(scope="module")
def real_trt() -> types.ModuleType:
    # module scope, first argument: skips before the (slow) model fixtures are made
    return pytest.importorskip("tensorrt", reason="TensorRT is not installed here; engine builds run on a device "
                                                  "with TensorRT")


@pytest.mark.tensorrt
@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_build_engine(real_trt, tiny_onnx: Path, tiny_int8: Path, tmp_path: Path, precision: str) -> None:
    from runtimes.manifest import sha256_file

    trt = real_trt
    src = tiny_int8 if precision == "int8" else tiny_onnx
    lines: list[str] = []
    engine = tmp_path / "model.engine"
    entry = build_engine(src, engine, precision=precision, max_batch=8, opt_batch=2, workspace=1 << 28,
                         timing_cache=tmp_path / "timing.cache", log=lines.append)
    assert engine.is_file() and (tmp_path / "timing.cache").is_file()
    assert any("may take minutes" in line for line in lines) and any("trtexec" in line for line in lines)
    assert entry["file"] == "model.engine"
    assert entry["sha256"] == sha256_file(engine)
    assert entry["source_sha256"] == sha256_file(src)
    assert entry["tensorrt_version"] == trt.__version__
    assert entry["precision"] == precision and entry["max_batch"] == 8 and entry["version_compatible"] is False
    assert entry["compute_capability"].count(".") == 1 and entry["gpu_name"] != "unknown"
    assert entry["build_seconds"] >= 0
    assert engine_key_matches(entry, onnx_sha256=sha256_file(src)) == (True, "")
    runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
    plan = runtime.deserialize_cuda_engine(engine.read_bytes())
    assert plan is not None and plan.num_io_tensors == 2
