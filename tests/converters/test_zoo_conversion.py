"""Every deployable zoo model x {fp32, fp16, int8, int8-cpu}: export succeeds, the checker passes, parity is within
budget, and INT8 bundles are small. Bundles are exported once per session (``zoo_bundle``)."""

from __future__ import annotations

import json

import onnx
import pytest

from converters.parity import BUDGETS

MODELS = ["emlp", "compact-cnn", "care-tiny", "care-s0"]
PRECISIONS = ["fp32", "fp16", "int8", "int8-cpu"]


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("name", MODELS)
def test_export_checker_and_parity(zoo_bundle, name, precision) -> None:
    bundle = zoo_bundle(name, precision)
    model = onnx.load(str(bundle / "model.onnx"))
    onnx.checker.check_model(model, full_check=True)
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    m = json.loads((bundle / "manifest.json").read_text())
    p = m["parity"]
    assert p["passed"] and not m["accuracy_override"], p
    metric = p["metric"]
    if name == "emlp":
        assert metric["name"] == "mean_angular_error"
        assert metric["delta"] <= BUDGETS["illuminant-estimation"][precision]
    elif name == "care-s0":  # architecture only: no labels, output fidelity instead
        assert metric["name"] == "output_sqnr" and metric["candidate"] >= BUDGETS["sqnr"][precision]
    else:
        assert metric["name"] == "top1" and p["dataset"] == "digits-28/test"
        assert -metric["delta"] <= BUDGETS["classification"][precision]
    assert m["versions"]["onnxruntime"] and m["source_sha256"] and len(m["artifact_sha256"]) == 64


# int8-cpu carries int32 biases and a zero point per activation tensor: a little larger on small models
@pytest.mark.parametrize(("precision", "bound"), [("int8", 0.35), ("int8-cpu", 0.4)])
@pytest.mark.parametrize("name", ["compact-cnn", "care-s0"])
def test_int8_bundle_is_a_third_of_fp32(zoo_bundle, name, precision, bound) -> None:
    fp32 = (zoo_bundle(name, "fp32") / "model.onnx").stat().st_size
    int8 = (zoo_bundle(name, precision) / "model.onnx").stat().st_size
    assert int8 <= bound * fp32, (int8, fp32, int8 / fp32)


def test_int8_is_tensorrt_ready(zoo_bundle) -> None:
    from converters.tensorrt_check import check_tensorrt_compat

    report = check_tensorrt_compat(zoo_bundle("compact-cnn", "int8") / "model.onnx")
    assert report["ok"], report["errors"]


def test_validate_cli_reruns_parity(cli, zoo_bundle) -> None:
    r = cli("validate", zoo_bundle("compact-cnn", "int8"), "--json")
    assert r.code == 0 and r.json()["passed"] and r.json()["metric"]["name"] == "top1"


def test_validate_cli_rebuilds_an_architecture_only_model(cli, zoo_bundle) -> None:
    """care-s0 ships no weights: validate rebuilds it with the seed its manifest records, so parity holds again."""
    bundle = zoo_bundle("care-s0", "fp32")
    assert json.loads((bundle / "manifest.json").read_text())["extra"]["source"]["seed"] == 0
    r = cli("validate", bundle, "--json")
    assert r.code == 0 and r.json()["passed"] and r.json()["metric"]["candidate"] >= BUDGETS["sqnr"]["fp32"], r.out


def test_conversion_report_states_the_measured_parity(zoo_bundle) -> None:
    bundle = zoo_bundle("compact-cnn", "int8")
    m = json.loads((bundle / "manifest.json").read_text())
    report = (bundle / "report.md").read_text()
    size_kib = (bundle / "model.onnx").stat().st_size / 1024
    assert report.startswith("# compact-cnn — int8")
    assert f"({size_kib:.1f} KiB" in report and m["artifact_sha256"][:16] in report
    assert "## Parity against PyTorch FP32" in report
    assert "Validated on: digits-28/test (360 held-out samples)" in report
    assert f"reference {m['parity']['metric']['reference']:.4g}" in report
    assert "## Calibration" in report and "- method: minmax" in report
    assert "- data: compact-cnn's own training data" in report  # what calibrated it, beside what validated it
    sqnr = m["parity"]["outputs"]["output"]["sqnr_db"]  # per-output SQNR, not the cosine (issue #19)
    assert "| output | SQNR (dB) |" in report and f"| output | {sqnr:.1f} |" in report and "cosine" not in report
