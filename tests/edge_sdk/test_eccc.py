"""ECCC / CCC: size, histograms, the exported form, shipped weights, export gate and the device path."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from edge_sdk.awb.histogram import BIN_WIDTH, BINS, histogram_features, histogram_width, log_chroma
from edge_sdk.data.dual_exposure import generate_scene
from edge_sdk.errors import DatasetError
from edge_sdk.zoo import get_spec
from tests.conftest import REPO

torch = pytest.importorskip("torch")


def test_sizes_fit_the_paper_budget() -> None:
    from edge_sdk.zoo.eccc import build

    counts = {d: sum(p.numel() for p in build(with_def=d).parameters()) for d in (True, False)}
    assert counts == {True: 6192, False: 6156} and max(counts.values()) <= 6500
    assert get_spec("eccc").input_shape == (histogram_width(with_def=True),)
    assert get_spec("ccc").input_shape == (histogram_width(),)


def test_exported_conv_equals_the_training_fft() -> None:
    from edge_sdk.zoo.eccc import build

    torch.manual_seed(0)
    m = build()
    with torch.no_grad():
        m.filters.normal_()
    h = torch.rand(4, 2, BINS, BINS)
    torch.testing.assert_close(m.scores(h), m.scores_from_spectra(m.spectra(h)), atol=1e-3, rtol=1e-4)


def _pair(gains: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A patchwork scene under a light with these channel gains, nowhere near saturation (12-bit, black 64)."""
    import cv2

    rng = np.random.default_rng(0)
    small = rng.uniform(0.05, 1.0, (9, 16, 3)) * [0.6, 1.0, 0.5]
    scene = cv2.resize(small, (192, 108), interpolation=cv2.INTER_NEAREST) * gains * 2000
    return (64 + scene).round().astype(np.uint16), (64 + scene / 4).round().astype(np.uint16)


def test_histograms_shift_with_the_illuminant() -> None:
    lv = {"white_level": 4095, "black_level": 64}
    x, informative = histogram_features(*_pair(np.ones(3)), **lv, with_def=True)
    assert informative and x.shape == (histogram_width(with_def=True),) and x.dtype == np.float32
    n2 = BINS * BINS
    np.testing.assert_allclose([x[:n2].sum(), x[n2 : 2 * n2].sum()], 1.0, rtol=1e-5)
    # another light: every cell's (u, v) moves by the same offset, and the window with its gray world
    gains = np.array([0.8, 1.0, 1.25])
    y, _ = histogram_features(*_pair(gains), **lv)
    np.testing.assert_allclose(y[2 * n2 : 2 * n2 + 2] - x[2 * n2 : 2 * n2 + 2], log_chroma(gains), atol=0.01)
    assert np.abs(y[:n2] - x[:n2]).sum() < 0.1  # the same bins, relative to the moved window
    assert BIN_WIDTH * BINS >= 2.0  # the window spans +-1 in log-chroma at least


def test_short_training_run_and_refused_data(tmp_path) -> None:
    from edge_sdk.training.eccc import train_ccc
    from edge_sdk.zoo import create_model
    from edge_sdk.zoo.weights import load_into, read_state_dict

    out = tmp_path / "ccc.safetensors"
    metrics = train_ccc(out=out, epochs=2, n_train=40, n_val=20, show_progress=False)
    assert np.isfinite(metrics["val_mean"]) and metrics["params"] == 6156
    load_into(create_model("ccc", pretrained=False), read_state_dict(out), source=str(out))
    with pytest.raises(DatasetError, match="--data .* is for emlp only"):
        train_ccc(out=out, data=tmp_path)


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_eccc_exports_within_budget(zoo_bundle, precision) -> None:
    from runtimes.manifest import read_manifest

    m = read_manifest(zoo_bundle("eccc", precision))  # export raises ParityError when the budget breaks
    assert m.parity is not None and m.parity["passed"] and m.parity["metric"]["name"] == "mean_angular_error"
    assert m.preprocessing["extractor"] == "log-chroma-hist+def" and m.preprocessing["sensor"]["name"]


def test_shipped_weights_beat_gray_world_and_are_unit_norm(zoo_bundle) -> None:
    from edge_sdk.awb.metrics import angular_error_deg
    from edge_sdk.training.eccc import model_inputs, predict
    from edge_sdk.zoo import create_model

    zoo_bundle("eccc")  # after the export: its 300 validation scenes are the ones rendered here
    n2 = BINS * BINS
    for name in ("eccc", "ccc"):
        x, y = model_inputs(name, "test", 300)
        pred = predict(create_model(name), x)
        np.testing.assert_allclose(np.linalg.norm(pred, axis=1), 1.0, atol=1e-5)
        u, v = x[:, 2 * n2], x[:, 2 * n2 + 1]  # the window centre: gray world of the same grid cells
        gray_world = np.stack([np.exp(-u), np.ones_like(u), np.exp(-v)], axis=1)
        assert angular_error_deg(pred, y).mean() < 0.6 * angular_error_deg(gray_world, y).mean(), name


def test_white_balance_runs_eccc_and_ccc_as_their_manifest_says(zoo_bundle) -> None:
    from edge_sdk.pipelines import WhiteBalance
    from edge_sdk.training.eccc import predict
    from edge_sdk.zoo import create_model

    sc = generate_scene(5, "test", 360, 640)
    for name, extractor in (("eccc", "log-chroma-hist+def"), ("ccc", "log-chroma-hist")):
        wb = WhiteBalance(zoo_bundle(name))
        assert wb.extractor_name == extractor
        res = wb((sc.long, sc.short))  # levels from the manifest's sensor
        assert res.fallback is None and res.levels_from == "manifest"
        x, _ = histogram_features(sc.long, sc.short, white_level=4095, black_level=64, with_def=name == "eccc")
        np.testing.assert_allclose(res.illuminant, predict(create_model(name), x[None])[0], atol=1e-4)
        black = np.full_like(sc.long, 64)
        dark = wb((black, black))
        assert dark.fallback and np.isfinite(dark.illuminant).all()


def test_run_and_the_sample_on_a_dual_exposure_source(zoo_bundle, cli, tmp_path) -> None:
    bundle = zoo_bundle("eccc")
    r = cli("run", str(bundle), "synthetic://dual-exposure?count=4&size=320x180&split=test", "--json")
    assert r.code == 0, r.err
    s = r.json()
    assert s["frames"] == 4 and s["model"] == "eccc" and s["angular_error_deg"]["mean"] < 15
    p = subprocess.run([sys.executable, str(REPO / "samples" / "white_balance_camera.py"),
                        "synthetic://dual-exposure?count=3&size=320x180", "null://", "--model", str(bundle)],
                       capture_output=True, text=True, cwd=REPO, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1].startswith("summary: frames=3")
