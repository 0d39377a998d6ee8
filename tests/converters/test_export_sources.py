"""More ways in: checkpoints with --arch, image-directory calibration, --precision auto, TensorRT check."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from converters import export
from edge_sdk import create_model
from edge_sdk.data.digits import load_digits28


@pytest.mark.parametrize("fmt", ["safetensors", "pt"])
def test_checkpoint_with_arch(cli, tmp_path, fmt) -> None:
    state = create_model("compact-cnn").state_dict()
    ckpt = tmp_path / f"mine.{fmt}"
    if fmt == "safetensors":
        save_file({k: v.contiguous() for k, v in state.items()}, str(ckpt))
    else:
        torch.save(state, ckpt)
    r = cli("export", ckpt, "--arch", "compact-cnn", "-o", tmp_path / "b", "--json")
    assert r.code == 0, r.err
    m = r.json()["manifest"]
    assert m["extra"]["source"]["kind"] == "checkpoint" and m["parity"]["metric"]["name"] == "top1"
    assert cli("validate", tmp_path / "b", "--model", ckpt, "--arch", "compact-cnn").code == 0


def test_image_directory_calibration(tmp_path) -> None:
    x, _ = load_digits28("train")
    calib = tmp_path / "calib"
    calib.mkdir()
    for i in range(40):
        cv2.imwrite(str(calib / f"{i:03d}.png"), (x[i, 0] * 255).astype(np.uint8))
    out = export("compact-cnn", tmp_path / "b", precision="int8", calibration=calib, calib_count=32,
                 calib_method="percentile", show_progress=False, log=lambda m: None)
    m = json.loads((out / "manifest.json").read_text())
    assert m["calibration"]["samples"] == 32 and m["calibration"]["method"] == "percentile"
    assert m["parity"]["passed"]


def test_auto_keeps_the_fastest_within_budget(tmp_path) -> None:
    out = export("emlp", tmp_path / "b", precision="auto", show_progress=False, log=lambda m: None)
    m = json.loads((out / "manifest.json").read_text())
    auto = m["extra"]["auto"]
    rows = {r["precision"]: r for r in auto["candidates"]}
    assert set(rows) == {"fp32", "fp16", "int8", "int8-cpu", "int8-dynamic"}
    passing = [r for r in rows.values() if r["passed"]]
    assert auto["chosen"] == m["precision"] == min(passing, key=lambda r: r["latency_ms"])["precision"]
    assert "chose" in auto["reason"] and "Precision choice" in (out / "report.md").read_text()


def test_validate_target_tensorrt_cli(cli, zoo_bundle) -> None:
    ok = cli("validate", zoo_bundle("compact-cnn", "int8"), "--target", "tensorrt", "--json")
    assert ok.code == 0 and ok.json()["ok"]


def test_int8_dynamic_is_flagged_for_tensorrt(cli, tmp_path) -> None:
    export("emlp", tmp_path / "b", precision="int8-dynamic", show_progress=False, log=lambda m: None)
    r = cli("validate", tmp_path / "b", "--target", "tensorrt")
    assert r.code == 1 and "DynamicQuantizeLinear" in r.out


def test_one_torch_export_per_zoo_model_per_process(tmp_path, monkeypatch) -> None:
    """Exporting a zoo model at several precisions runs torch's exporter once; a user module every time."""
    import torch

    import converters.pipeline as pipeline
    from converters import export

    calls: list[str] = []
    real = pipeline.export_onnx

    def counting(module, *args, **kwargs):
        calls.append(type(module).__name__)
        return real(module, *args, **kwargs)

    monkeypatch.setattr(pipeline, "export_onnx", counting)
    monkeypatch.setattr(pipeline, "_FP32_CACHE", type(pipeline._FP32_CACHE)())
    quiet = {"show_progress": False, "log": lambda m: None}
    a = export("emlp", tmp_path / "a", precision="fp32", **quiet)
    b = export("emlp", tmp_path / "b", precision="fp16", **quiet)
    c = export("emlp", tmp_path / "c", precision="fp32", **quiet)
    assert len(calls) == 1, calls
    assert (a / "model.onnx").read_bytes() == (c / "model.onnx").read_bytes()
    assert json.loads((b / "manifest.json").read_text())["precision"] == "fp16"
    net = torch.nn.Sequential(torch.nn.Linear(4, 2)).eval()
    for name in ("d", "e"):
        export(net, tmp_path / name, input_shape=(1, 4), **quiet)
    assert len(calls) == 3, calls
