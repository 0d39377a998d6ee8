"""Accuracy-aware INT8 (converters.mixed_precision): a model with one fragile layer exports at INT8 with that
layer in float and the rest INT8; --strict refuses it; the zoo stays fully INT8; calibration methods differ."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from converters import export
from edge_sdk.errors import ParityError

FEATURES = 16


class Fragile(torch.nn.Module):
    """An MLP whose last layer sees rare, huge outliers: feature 0 above 4 sigma adds 1000 to its input.
    The calibration data holds two such samples, so that layer's input scale is ~100x too coarse for
    the usual values, while the layers before it calibrate normally."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = torch.nn.Linear(FEATURES, 32)
        self.fc2 = torch.nn.Linear(32, 32)
        self.head = torch.nn.Linear(32, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.fc2(torch.relu(self.fc1(x))))
        spike = 1000.0 * torch.relu(x[:, :1] - 4.0)
        return self.head(h + spike)


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    return Fragile().eval()


def _calib() -> np.ndarray:
    x = np.random.default_rng(1).standard_normal((64, FEATURES)).astype(np.float32)
    x[:2, 0] = 5.0  # the rare outliers
    return x


def _export(out: Path, precision: str = "int8", **kw: object) -> Path:
    return export(_net(), out, input_shape=(1, FEATURES), precision=precision, calibration=_calib(),
                  show_progress=False, log=lambda m: None, **kw)


def test_fragile_layer_kept_in_float(tmp_path: Path) -> None:
    precision = "int8"
    # validation data (random-normal, seed 0) has no spike: otherwise the output range would hide the error
    from converters.data import validation_set
    from converters.sources import resolve_model

    assert (validation_set(resolve_model(_net(), input_shape=(1, FEATURES))).x[:, 0] < 4.0).all()
    bundle = _export(tmp_path / "b", precision)
    m = json.loads((bundle / "manifest.json").read_text())
    mixed = m["extra"]["mixed_precision"]
    assert m["parity"]["passed"] and not m["accuracy_override"]
    assert mixed["metric_before"]["candidate"] < 25.0 <= mixed["metric_after"]["candidate"]
    assert 1 <= len(mixed["float_nodes"]) < mixed["quantizable_nodes"]
    assert mixed["sensitivity"][0]["nodes"][0] in mixed["float_nodes"]
    assert 0.0 < mixed["int8_mac_fraction"] < 1.0 and 0.0 < mixed["int8_weight_fraction"] < 1.0
    # the rest is INT8: some Gemms still read dequantized inputs, the fragile one does not
    graph = onnx.load(str(bundle / "model.onnx")).graph
    producer = {o: n.op_type for n in graph.node for o in n.output}
    gemms = [n for n in graph.node if n.op_type == "Gemm"]
    behind_qdq = [n for n in gemms if producer.get(n.input[0]) == "DequantizeLinear"]
    assert 0 < len(behind_qdq) < len(gemms)
    from converters.tensorrt_check import check_tensorrt_compat  # TensorRT's Q/DQ placement holds on the mix

    trt = check_tensorrt_compat(bundle / "model.onnx")
    assert trt["ok"], trt["errors"]
    report = (bundle / "report.md").read_text()
    assert "Mixed precision" in report and mixed["float_nodes"][0] in report


def test_auto_considers_mixed_candidates(tmp_path: Path) -> None:
    # full int8 / int8-cpu break the budget; auto tries them mixed and keeps them as candidates within budget
    bundle = _export(tmp_path / "b", "auto")
    m = json.loads((bundle / "manifest.json").read_text())
    rows = {r["precision"]: r for r in m["extra"]["auto"]["candidates"]}
    for precision in ("int8", "int8-cpu"):
        assert rows[precision]["passed"] and rows[precision]["float_nodes"] >= 1, rows[precision]
    assert "mixed" not in m["extra"]["auto"]
    if m["precision"] in ("int8", "int8-cpu"):  # the chosen mixed candidate files its record
        assert m["extra"]["mixed_precision"]["float_nodes"] == m["calibration"]["excluded_nodes"]


def test_strict_refuses(tmp_path: Path) -> None:
    with pytest.raises(ParityError, match="--strict"):
        _export(tmp_path / "b", strict=True)
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize(("name", "precision"), [("compact-cnn", "int8"), ("compact-cnn", "int8-cpu"),
                                                 ("emlp", "int8")])
def test_zoo_stays_fully_int8(zoo_bundle, name: str, precision: str) -> None:
    m = json.loads((zoo_bundle(name, precision) / "manifest.json").read_text())
    assert m["parity"]["passed"] and "mixed_precision" not in m["extra"]
    assert m["calibration"]["excluded_nodes"] == []


def _tiny_onnx(path: Path) -> Path:
    """x -> Conv(3x3) -> Relu -> Conv(1x1): made here with onnx.helper (no torch export)."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float32), "w1")
    w2 = numpy_helper.from_array(rng.standard_normal((4, 8, 1, 1)).astype(np.float32), "w2")
    nodes = [helper.make_node("Conv", ["input", "w1"], ["h"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["h"], ["r"], name="relu"),
             helper.make_node("Conv", ["r", "w2"], ["output"], name="conv2")]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                                            ["batch", 3, 8, 8])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 4, 8, 8])],
                              initializer=[w1, w2])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def _activation_scales(path: Path) -> dict[str, float]:
    from onnx import numpy_helper

    g = onnx.load(str(path)).graph
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    return {n.input[0]: float(inits[n.input[1]].ravel()[0]) for n in g.node if n.op_type == "QuantizeLinear"}


@pytest.mark.parametrize("target", ["tensorrt", "cpu"])
def test_calibration_methods_change_scales(tmp_path: Path, target: str) -> None:
    # onnxruntime's quantize_static builds entropy histograms with as many bins as quantized bins, which
    # leaves one threshold, MinMax's; ours calibrates with 2048 bins. Rare outliers make all three differ.
    from converters.quantize import CALIB_METHODS, quantize_int8_static

    fp32 = _tiny_onnx(tmp_path / "tiny.onnx")
    x = np.random.default_rng(1).standard_normal((64, 3, 8, 8)).astype(np.float32)
    x[0, 0, 0, 0] = 40.0  # one value in 12,288: beyond the 99.99th percentile
    scales = {}
    for method in CALIB_METHODS:
        out = tmp_path / f"{method}.onnx"
        summary = quantize_int8_static(fp32, out, x, method=method, show_progress=False, target=target)
        assert summary["method"] == method
        scales[method] = _activation_scales(out)
    assert set(scales["minmax"]) == set(scales["entropy"]) == set(scales["percentile"]) != set()
    for method in ("entropy", "percentile"):  # both clip ranges (never widen them), and it shows in the scales
        assert all(scales[method][k] <= 1.001 * s for k, s in scales["minmax"].items()), scales
        assert any(scales[method][k] < 0.9 * s for k, s in scales["minmax"].items()), scales
    assert scales["entropy"]["input"] < 0.5 * scales["minmax"]["input"], scales  # KL drops the rare outlier


def test_debug_quant_finds_the_fragile_layer(tmp_path: Path) -> None:
    from converters.debug_quant import debug_quant

    np.save(tmp_path / "calib.npy", _calib())
    result = debug_quant(_net(), input_shape=(1, FEATURES), calibration=tmp_path / "calib.npy", log=lambda m: None)
    gemms = [r for r in result["nodes"] if r["op_type"] == "Gemm"]
    assert len(gemms) == 3 and all(r["int8"] for r in gemms)
    head = gemms[-1]
    # the head's own Q/DQ step is where accuracy goes: its input SQNR is the worst, and the output collapses there
    assert head["input_qdq_db"] == min(r["input_qdq_db"] for r in gemms) < 20.0
    assert all(r["sqnr_db"] > 25.0 for r in gemms[:-1]) and head["sqnr_db"] < 25.0


def test_debug_quant_cli_on_bundle(zoo_bundle, cli, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    bundle = zoo_bundle("compact-cnn", "int8")
    r = cli("debug-quant", bundle, "--count", "16", "--json", "--plot", tmp_path / "sqnr.png")
    assert r.code == 0, r.err
    out = r.json()
    assert out["precision"] == "int8" and out["samples"] == 16
    convs = [n for n in out["nodes"] if n["op_type"] == "Conv"]
    assert convs and all(n["int8"] and n["sqnr_db"] > 20.0 for n in convs)
    assert (tmp_path / "sqnr.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = cli("debug-quant", bundle, "--plot", tmp_path / "x.svg")
    assert r.code == 1 and "--plot writes a PNG" in r.err


def test_precision_table_is_the_one_source() -> None:
    from converters import parity, pipeline
    from edge_sdk.cli import build_cmd, export_cmd
    from edge_sdk.cli.main import build_parser
    from runtimes import engine_build as tensorrt_build
    from runtimes import precisions

    assert list(pipeline.PRECISIONS) == export_cmd.PRECISION_CHOICES == [*precisions.TABLE, "auto"]
    for task in parity.BUDGETS.values():
        assert set(task) == set(precisions.TABLE)
    for name, p in precisions.TABLE.items():
        assert (name in tensorrt_build.PRECISIONS) == (p.tensorrt is None)
        assert p.calibration == (name in precisions.STATIC_INT8)
    args = build_parser().parse_args(["build", "b", "--precision", "int8"])
    assert args.precision == "int8" and build_cmd.TENSORRT == precisions.TENSORRT
    assert build_parser().parse_args(["export", "m", "-o", "b", "--strict"]).strict is True


def test_precision_table_and_export_help_need_no_torch() -> None:
    from tests.conftest import run_python

    r = run_python("import sys; sys.modules['torch'] = None\n"
                   "import runtimes.precisions, edge_sdk.cli.export_cmd, edge_sdk.cli.debug_quant_cmd\n"
                   "from edge_sdk.cli.main import main\n"
                   "raise SystemExit(main(['export', '--help']))")
    assert r.returncode == 0 and "--strict" in r.stdout, r.stderr
