"""Plots are real files with the expected content: the CDF rises monotonically to 1, PNGs have size."""

from __future__ import annotations

import cv2
import numpy as np

from edge_sdk.plots import cdf, plot_latency_bars


def test_cdf_rises_monotonically_to_one() -> None:
    errors = np.random.default_rng(0).gamma(2.0, 2.0, size=500)
    x, f = cdf(errors)
    assert np.all(np.diff(x) >= 0) and np.all(np.diff(f) > 0)
    assert f[-1] == 1.0 and f[0] == 1 / 500
    assert np.isclose(np.interp(np.median(errors), x, f), 0.5, atol=0.01)


def test_eval_emlp_plot_writes_the_cdf_png(cli, tmp_path) -> None:
    out = tmp_path / "cdf.png"
    r = cli("eval", "emlp", "--plot", out, "--json")
    assert r.code == 0, r.err
    assert r.json()["angular_error_deg"]["emlp"]["mean"] < r.json()["angular_error_deg"]["gray-world"]["mean"]
    img = cv2.imread(str(out))
    assert img is not None and img.shape == (450, 700, 3)
    assert img.std() > 10  # curves and text, not a blank canvas


def test_latency_bars(tmp_path) -> None:
    rows = [{"label": "compact-cnn fp32 onnxruntime", "median_ms": 0.2, "p90_ms": 0.25},
            {"label": "compact-cnn int8 onnxruntime", "median_ms": 0.3, "p90_ms": 0.4}]
    img = cv2.imread(str(plot_latency_bars(rows, tmp_path / "bars.png")))
    assert img is not None and img.shape[1] == 700 and img.std() > 10


def test_plot_flag_is_for_emlp_only(cli) -> None:
    r = cli("eval", "compact-cnn", "--plot")
    assert r.code == 1 and "angular-error CDF" in r.err
