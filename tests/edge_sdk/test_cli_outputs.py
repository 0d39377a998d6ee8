"""Outputs people show a colleague: per-frame results, video rate, file names, threshold colours,
a benchmark that skips what cannot run, a table that fits, long synthetic streams, bad calibration data."""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_sdk.cli.benchmark_cmd import TABLE_WIDTH, _table, row_name, warning_lines


def test_run_json_has_per_frame_results_and_writes_jsonl(cli, zoo_bundle, tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    r = cli("run", zoo_bundle("compact-cnn"), "synthetic://digits?count=6&size=64x48", "--json", "--output", out)
    assert r.code == 0, r.err
    s = r.json()
    frames = s["per_frame"]
    assert [f["index"] for f in frames] == list(range(6))
    assert frames[0]["timestamp"] == 0 and all(b["timestamp"] >= a["timestamp"] for a, b in zip(frames, frames[1:]))
    for f in frames:
        assert f["label"] == f["top_k"][0][0] and 0 < f["score"] <= 1
        assert f["correct"] == (f["truth"] == f["class_index"])
        assert f["below_threshold"] == (f["score"] < 0.5)
    assert sum(f["correct"] for f in frames) / 6 == s["top1_accuracy"]
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert lines == frames  # the file holds the same records, one a line


def test_run_csv_for_white_balance_has_gains_and_errors(cli, zoo_bundle, tmp_path: Path) -> None:
    out = tmp_path / "wb.csv"
    r = cli("run", zoo_bundle("emlp"), "synthetic://dual-exposure?count=3&size=64x48", "--output", out,
            "--threshold", "2", "-q")
    assert r.code == 0, r.err
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 3 and {"gains_r", "gains_g", "gains_b", "illuminant_r", "angular_error_deg"} <= set(rows[0])
    for row in rows:
        assert float(row["gains_g"]) == pytest.approx(1.0)
        assert row["above_threshold"] == str(float(row["angular_error_deg"]) > 2)


def test_run_results_file_must_be_jsonl_or_csv(cli, zoo_bundle, tmp_path: Path) -> None:
    r = cli("run", zoo_bundle("compact-cnn"), "synthetic://digits?count=2", "--output", tmp_path / "r.txt")
    assert r.code == 1 and ".jsonl or .csv" in r.err
    r = cli("run", zoo_bundle("compact-cnn"), "synthetic://digits?count=2", "--threshold", "5")
    assert r.code == 1 and "--threshold" in r.err


def test_video_output_keeps_the_input_frame_rate(cli, zoo_bundle, tmp_path: Path) -> None:
    from edge_sdk.camera import open_sink

    clip, out = tmp_path / "in.avi", tmp_path / "out.avi"
    with open_sink(clip, fps=12) as sink:
        for i in range(4):
            sink.write(np.full((48, 64, 3), 40 * i, np.uint8))
    r = cli("run", zoo_bundle("compact-cnn"), f"file://{clip}", f"file://{out}", "-q")
    assert r.code == 0, r.err
    cap = cv2.VideoCapture(str(out))
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(12, abs=0.01)
    cap.release()
    with open_sink(f"file://{tmp_path}/set.avi?fps=7", fps=12) as sink:  # the URI's own rate wins
        sink.write(np.zeros((8, 8, 3), np.uint8))
    assert cv2.VideoCapture(str(tmp_path / "set.avi")).get(cv2.CAP_PROP_FPS) == pytest.approx(7, abs=0.01)


def test_dir_output_keeps_source_file_names(cli, zoo_bundle, tmp_path: Path) -> None:
    src, dst = tmp_path / "photos", tmp_path / "labelled"
    src.mkdir()
    for name in ("cat.jpg", "dog.png", "z-last.png"):
        assert cv2.imwrite(str(src / name), np.full((32, 32, 3), 128, np.uint8))
    r = cli("run", zoo_bundle("compact-cnn"), f"dir://{src}", f"dir://{dst}/", "--output", tmp_path / "r.csv", "-q")
    assert r.code == 0, r.err
    assert sorted(p.name for p in dst.iterdir()) == ["cat.png", "dog.png", "z-last.png"]
    assert [row["source_file"] for row in csv.DictReader((tmp_path / "r.csv").open())] == \
        ["cat.jpg", "dog.png", "z-last.png"]


def test_dir_sink_names_stay_inside_and_unique(tmp_path: Path) -> None:
    from edge_sdk.camera import open_sink

    img = np.zeros((4, 4, 3), np.uint8)
    with open_sink(f"dir://{tmp_path}/out/") as sink:
        sink.write(img, name="../../escape.jpg")
        sink.write(img, name="a/escape.png")  # same stem again: a free name, not overwritten
        sink.write(img, name=".hidden")
        sink.write(img)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["000002.png", "000003.png", "escape-1.png",
                                                                     "escape.png"]
    assert not (tmp_path / "escape.png").exists()


def _label_colour_pixels(image: np.ndarray, colour: tuple[int, int, int]) -> int:
    return int(np.all(np.abs(image.astype(int) - colour) <= 2, axis=2).sum())


def test_label_colour_follows_the_threshold() -> None:
    from edge_sdk.pipelines.classifier import Prediction
    from edge_sdk.pipelines.draw import AMBER, GREEN, draw_prediction, error_colour
    from edge_sdk.pipelines.timing import Timings

    p = Prediction(["7", "1"], [0.42, 0.3], [7, 1], Timings())
    frame = np.zeros((240, 320, 3), np.uint8)
    low = draw_prediction(frame, p)  # 42 % < the default 0.5: not green
    assert _label_colour_pixels(low, GREEN) == 0 and _label_colour_pixels(low, AMBER) > 50
    ok = draw_prediction(frame, p, threshold=0.4)
    assert _label_colour_pixels(ok, GREEN) > 50 and _label_colour_pixels(ok, AMBER) == 0
    assert error_colour(1.0) == GREEN and error_colour(9.0) != GREEN and error_colour(1.0, 0.5) != GREEN
    assert error_colour(None) != GREEN and error_colour(1.0, fallback=True) != GREEN


def test_benchmark_skips_what_cannot_run_and_still_writes(cli, zoo_bundle, tmp_path: Path) -> None:
    out, plot = tmp_path / "b.json", tmp_path / "b.png"
    r = cli("benchmark", zoo_bundle("compact-cnn"), "--backend", "numpy", "--backend", "onnxruntime",
            "--iterations", "5", "--warmup", "0", "--json-out", out, "--plot", plot)
    assert r.code == 0, r.err
    report = json.loads(out.read_text())
    assert [x["backend"] for x in report["results"]] == ["onnxruntime"]
    (skip,) = report["skipped"]
    assert skip["backend"] == "numpy" and "MLP graphs only" in skip["reason"]
    assert "skipped" in r.out and "numpy" in r.out and plot.stat().st_size > 1000
    r = cli("benchmark", zoo_bundle("compact-cnn"), "--backend", "numpy", "--iterations", "5", "--warmup", "0")
    assert r.code == 1 and "MLP graphs only" in r.err  # one combination: its error is the answer


def test_benchmark_json_is_a_switch(cli, mlp_bundle, tmp_path: Path) -> None:
    r = cli("benchmark", mlp_bundle, "--iterations", "3", "--warmup", "0", "--json", "-q")
    assert r.code == 0 and r.json()["results"][0]["latency_ms"]["count"] == 3
    assert "latency in ms" not in r.err  # -q: no table on stderr either
    r = cli("benchmark", "--json", tmp_path / "bench.json", mlp_bundle)  # the old `--json FILE`
    assert r.code == 1 and "--json-out" in json.loads(r.out)["error"]["message"]
    r = cli("benchmark", mlp_bundle, "--json", tmp_path / "bench.json")
    assert r.code == 2 and "bench.json" in json.loads(r.out)["error"]["message"]


def test_benchmark_table_fits_120_columns_and_warnings_name_the_row(cli, mlp_bundle) -> None:
    r = cli("benchmark", mlp_bundle, "--backend", "numpy", "--backend", "onnxruntime", "--threads", "2",
            "--iterations", "5", "--warmup", "0", "--json")
    results = r.json()["results"]
    long = [{**x, "model": "a-model-name-far-longer-than-any-in-the-zoo-today", "precision": "int8-dynamic"}
            for x in results]
    for rows in (results, long):
        assert max(len(line) for line in _table(rows).splitlines()) <= TABLE_WIDTH
    noisy = {**results[0], "warnings": ["latency is unstable", "latency is unstable"]}
    lines = warning_lines([noisy, {**results[1], "warnings": []}])
    assert lines == [f"warning: {row_name(noisy)}: latency is unstable"]  # once, with its row
    assert "numpy" in lines[0] and "batch 1" in lines[0]


def test_synthetic_digits_count_beyond_the_split_goes_round_again() -> None:
    from edge_sdk.camera import open_source

    with open_source("synthetic://digits?count=400&size=16x16") as src:
        frames = list(src)
    assert len(frames) == 400
    split = max(f.meta["dataset_index"] for f in frames) + 1
    assert split < 400 and frames[split].meta["pass"] == 1 and frames[split].meta["dataset_index"] == 0
    with open_source("synthetic://digits?count=5&size=16x16") as src:
        assert len(list(src)) == 5


def test_corrupt_calibration_images_are_skipped_and_reported(tmp_path: Path) -> None:
    from converters.sources import from_zoo
    from converters.user_data import MAX_CORRUPT, DataWarning, load_samples
    from edge_sdk.errors import DatasetError

    src = from_zoo("compact-cnn")
    for i in range(4):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((28, 28), 60 * i, np.uint8))
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.warns(DataWarning, match="broken.png"):
        x = load_samples(tmp_path, src)
    assert len(x) == 4
    for i in range(MAX_CORRUPT + 1):
        (tmp_path / f"junk{i}.png").write_bytes(b"")
    with pytest.raises(DatasetError, match="do not decode"):
        load_samples(tmp_path, src)


def test_architecture_only_models_warn_at_export(cli, tmp_path: Path) -> None:
    from converters.sources import ArchitectureOnlyWarning, from_zoo

    with pytest.warns(ArchitectureOnlyWarning, match="compact-cnn-cifar ships no trained weights"):
        from_zoo("compact-cnn-cifar")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from_zoo("compact-cnn")  # shipped weights: no warning
