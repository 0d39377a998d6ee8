"""`edge-sdk demo` end to end: real bundles, a real video, a before/after image and a JSON report."""

from __future__ import annotations

import json

import cv2
import numpy as np

import edge_sdk
from edge_sdk import demo
from tests.video_checks import read_video, white_surface_casts


def test_demo_writes_what_it_promises(cli, tmp_path) -> None:
    out = tmp_path / "demo"
    r = cli("demo", "--out", out, "--frames", "6", "--digits", "60", "--quiet")
    assert r.code == 0, r.err
    assert "white balance (emlp fp32)" in r.out and "compact-cnn-int8" in r.out and str(out) in r.out

    report = json.loads((out / "report.json").read_text())
    assert len(report["conversions"]) == 7 and all(c["passed"] for c in report["conversions"].values())
    assert "white balance (eccc fp32)" in r.out  # eccc (FP32) on the same dual-exposure frames
    for name in ("emlp", "compact-cnn", "care-tiny"):
        for precision in demo.demo_precisions():
            assert (out / "bundles" / f"{name}-{precision}" / "model.onnx").is_file()
    assert all(c["top1"] >= 0.9 and c["frames"] == 60 for c in report["classifiers"].values())
    wb = report["white_balance"]
    assert wb["frames"] == 6 and wb["angular_error_deg"]["mean"] < 10
    assert wb["also"]["eccc-fp32"]["angular_error_deg"]["n"] == 6 and wb["also"]["eccc-fp32"]["backend"]
    assert set(wb["stage_ms"]) >= {"capture", "preprocess", "infer", "postprocess"}

    frames = read_video(out / "white_balance.mp4")
    assert len(frames) == 6
    png = cv2.imread(str(out / "white_balance_before_after.png"))
    assert png is not None and png.shape[1] == frames[0].shape[1] == 2 * 640
    assert frames[0].shape[0] == png.shape[0] + png.shape[0] % 2  # mp4 pads odd heights to even
    with edge_sdk.open_dual_source("synthetic://dual-exposure?size=640x360&split=test&count=6") as src:
        truths = [f.meta["illuminant"] for f in src]
    before, after = white_surface_casts(frames, truths, 640, 360)
    assert np.mean(after) < 0.75 * np.mean(before), (before, after)


def test_resolve_bundle_reexports_a_stale_cache(tmp_path, monkeypatch) -> None:
    from edge_sdk.bundles import resolve_bundle

    monkeypatch.setenv("EDGE_SDK_CACHE", str(tmp_path))
    first = resolve_bundle("emlp")
    before = (first / "manifest.json").read_bytes()
    assert resolve_bundle("emlp") == first and (first / "manifest.json").read_bytes() == before  # reused
    manifest = json.loads(before)
    manifest["source_sha256"] = "0" * 64  # as if exported from other weights
    (first / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    again = resolve_bundle("emlp")
    assert json.loads((again / "manifest.json").read_text())["source_sha256"] != "0" * 64
    # an export from before golden samples existed (the rest intact) is made again, with them
    manifest = json.loads((again / "manifest.json").read_text())
    del manifest["golden"]
    (again / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    assert "golden" in json.loads((resolve_bundle("emlp") / "manifest.json").read_text())
