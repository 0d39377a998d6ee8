"""`edge-sdk benchmark`: statistics are consistent and the JSON has its schema. No timing is asserted."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge_sdk.benchmark import STAT_KEYS, latency_stats, make_feed, timed_calls
from edge_sdk.errors import EdgeSDKError

PROVENANCE_KEYS = {"cpu", "cores", "usable_cores", "threads", "versions", "python", "os"}


def _check_stats(s: dict, count: int) -> None:
    assert set(STAT_KEYS) <= set(s)
    assert s["count"] == count
    assert s["min"] <= s["median"] <= s["p90"] <= s["p95"] <= s["p99"] <= s["max"]
    assert s["min"] <= s["mean"] <= s["max"]
    assert s["std"] >= 0 and s["cov"] >= 0


def test_latency_stats_known_values():
    s = latency_stats([1.0, 2.0, 3.0, 4.0])
    assert s["count"] == 4 and s["min"] == 1.0 and s["max"] == 4.0
    assert s["mean"] == pytest.approx(2.5) and s["median"] == pytest.approx(2.5)
    assert s["std"] == pytest.approx(np.std([1, 2, 3, 4])) and s["cov"] == pytest.approx(s["std"] / 2.5)
    with pytest.raises(EdgeSDKError):
        latency_stats([])


def test_timed_calls_counts():
    calls = []
    times = timed_calls(lambda: calls.append(1), warmup=0.0, iterations=7)
    assert len(times) == 7 and len(calls) == 7 and all(t >= 0 for t in times)
    assert len(timed_calls(lambda: None, warmup=0.0, duration=0.001, min_iterations=5)) >= 5


def test_make_feed_fills_the_symbolic_batch():
    from runtimes import TensorInfo

    feed = make_feed([TensorInfo("x", ("batch", 3, 4), "float32"), TensorInfo("i", ("n", 2), "int64")], 5)
    assert feed["x"].shape == (5, 3, 4) and feed["x"].dtype == np.float32
    assert feed["i"].shape == (5, 2) and feed["i"].dtype == np.int64
    with pytest.raises(EdgeSDKError, match="fixed batch"):
        make_feed([TensorInfo("i", (2,), "int64")], 5)


def test_benchmark_json_schema_and_consistent_stats(cli, mlp_bundle, tmp_path):
    out = tmp_path / "bench.json"
    r = cli("benchmark", mlp_bundle, "--backend", "numpy", "--backend", "onnxruntime", "--iterations", "50",
            "--warmup", "0", "--batch", "4", "--json-out", out)
    assert r.code == 0, r.err
    assert "median" in r.out and "p99" in r.out and "numpy" in r.out and "onnxruntime" in r.out
    report = json.loads(out.read_text())
    assert report["schema"] == "edge-sdk-benchmark/1"
    assert PROVENANCE_KEYS <= set(report["provenance"])
    assert {"numpy", "onnxruntime", "opencv", "tensorrt", "edge-sdk"} <= set(report["provenance"]["versions"])
    assert report["settings"]["batch"] == 4 and report["settings"]["iterations"] == 50
    assert [x["backend"] for x in report["results"]] == ["numpy", "onnxruntime"]
    # the runtime's own thread choice is reported: one thread for a model this small, none for numpy
    assert [x["effective_threads"] for x in report["results"]] == [None, 1]
    for res in report["results"]:
        assert res["kind"] == "model" and res["batch"] == 4
        _check_stats(res["latency_ms"], 50)
        assert len(res["times_ms"]) == 50
        assert min(res["times_ms"]) == res["latency_ms"]["min"] and max(res["times_ms"]) == res["latency_ms"]["max"]
        start = res["start"]
        assert start["artifact_bytes"] > 0 and start["load_ms"] > 0 and start["first_inference_ms"] > 0
        assert res["throughput_per_s"] > 0 and res["peak_rss_mb"] > 0
        assert res["accuracy"] is not None and res["accuracy"]["passed"] is True
        assert isinstance(res["warnings"], list)


def test_benchmark_reports_requested_threads_as_effective(cli, mlp_bundle):
    r = cli("benchmark", mlp_bundle, "--backend", "onnxruntime", "--threads", "2", "--iterations", "5",
            "--warmup", "0", "--json")
    assert r.code == 0, r.err
    res = r.json()["results"][0]
    assert res["threads"] == 2 and res["effective_threads"] == 2


def test_benchmark_json_to_stdout_and_duration(cli, mlp_bundle):
    r = cli("benchmark", mlp_bundle, "--duration", "0.05", "--warmup", "0", "--json")
    assert r.code == 0, r.err
    res = r.json()["results"][0]
    assert res["latency_ms"]["count"] == len(res["times_ms"]) >= 10
    assert "median" in r.err  # the table goes to stderr when JSON takes stdout


def test_benchmark_pipeline(cli, zoo_bundle, tmp_path):
    out = tmp_path / "pipe.json"
    r = cli("benchmark", zoo_bundle("compact-cnn"), "--pipeline", "synthetic://digits?count=30&size=64x48",
            "--iterations", "12", "--warmup", "0", "--json-out", out)
    assert r.code == 0, r.err
    assert "fps achieved" in r.out and "preprocess" in r.out
    res = json.loads(out.read_text())["results"][0]
    assert res["kind"] == "pipeline" and res["pipeline"] == "Classifier" and res["frames"] == 12
    assert set(res["stages_ms"]) == {"capture", "preprocess", "infer", "postprocess", "total"}
    for stats in res["stages_ms"].values():
        _check_stats(stats, 12)
    assert all(len(v) == 12 for v in res["times_ms"].values())
    assert res["fps"] > 0 and res["dropped"] >= 0


@pytest.mark.parametrize("args, message", [
    (["--batch", "0"], "--batch"), (["--iterations", "0"], "--iterations"), (["--threads", "0"], "--threads"),
])
def test_benchmark_bad_arguments(cli, mlp_bundle, args, message):
    r = cli("benchmark", mlp_bundle, *args)
    assert r.code == 1 and message in r.err and "Traceback" not in r.err


def test_benchmark_missing_bundle(cli, tmp_path):
    r = cli("benchmark", tmp_path / "nope")
    assert r.code == 1 and r.err.startswith("edge-sdk: error:") and len(r.err.strip().splitlines()) == 1


def test_benchmark_plot_per_backend(cli, mlp_bundle, tmp_path):
    import cv2

    out = tmp_path / "bars.png"
    r = cli("benchmark", mlp_bundle, "--backend", "numpy", "--backend", "onnxruntime", "--iterations", "20",
            "--warmup", "0", "--plot", out)
    assert r.code == 0, r.err
    img = cv2.imread(str(out))
    assert img is not None and img.shape[1] == 700 and img.std() > 10
