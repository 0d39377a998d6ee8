"""`edge-sdk run`: both tasks end to end on synthetic sources, real output files, one-line errors."""

from __future__ import annotations

import cv2
import pytest

STAGES = {"capture", "preprocess", "infer", "postprocess", "render"}


def frame_count(path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


def test_run_classifier_json(cli, zoo_bundle, tmp_path) -> None:
    out = tmp_path / "digits.mp4"
    r = cli("run", zoo_bundle("compact-cnn", "int8"), "synthetic://digits?count=60", f"file://{out}", "--json")
    assert r.code == 0, r.err
    s = r.json()
    assert s["model"] == "compact-cnn" and s["task"] == "classification" and s["precision"] == "int8"
    assert s["frames"] == 60 and s["fps"] > 0 and s["labelled_frames"] == 60
    assert s["top1_accuracy"] >= 0.95
    assert set(s["stage_ms"]) == STAGES and min(s["stage_ms"].values()) >= 0
    assert "angular_error_deg" not in s
    assert frame_count(out) == 60


def test_run_white_balance_text_summary(cli, zoo_bundle, tmp_path) -> None:
    out = tmp_path / "wb.avi"
    r = cli("run", zoo_bundle("emlp"), "synthetic://dual-exposure?count=10&size=320x180", f"file://{out}",
            "--max-frames", "4", "--quiet")
    assert r.code == 0, r.err
    assert "4 frames" in r.out and "fps" in r.out and "angular error mean" in r.out
    assert frame_count(out) == 4
    cap = cv2.VideoCapture(str(out))
    ok, image = cap.read()
    assert ok and image.shape[1] == 640 and image.shape[0] > 180  # before | after, text band below


def test_run_white_balance_json_numpy_backend(cli, zoo_bundle) -> None:
    r = cli("run", zoo_bundle("emlp"), "synthetic://dual-exposure?count=3&size=320x180", "--backend", "numpy",
            "--json")
    assert r.code == 0, r.err
    s = r.json()
    assert s["backend"] == "numpy" and s["task"] == "illuminant-estimation" and s["output"] == "null://"
    assert s["frames"] == 3 and s["fallbacks"] == 0 and set(s["stage_ms"]) == STAGES
    assert s["angular_error_deg"]["n"] == 3 and 0 <= s["angular_error_deg"]["mean"] < 15
    assert "top1_accuracy" not in s


def test_run_reports_skipped_corrupt_images(cli, zoo_bundle, tmp_path) -> None:
    from sklearn.datasets import load_digits

    frames = tmp_path / "frames"
    frames.mkdir()
    digits = load_digits().images[:4]
    for i, d in enumerate(digits):  # real digits as 8-bit greyscale PNGs, 8x8 upscaled
        img = cv2.resize((d * 255 / 16).astype("uint8"), (28, 28), interpolation=cv2.INTER_NEAREST)
        assert cv2.imwrite(str(frames / f"d{i}.png"), img)
    bad = frames / "d1b.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    r = cli("run", zoo_bundle("compact-cnn"), str(frames), "--json")
    assert r.code == 0, r.err
    s = r.json()
    assert s["frames"] == 4 and s["source"]["skipped_corrupt"] == [str(bad)] and s["source"]["dropped"] == 0
    r = cli("run", zoo_bundle("compact-cnn"), str(frames), "--quiet")
    assert r.code == 0, r.err
    assert f"skipped 1 corrupt input(s): {bad}" in r.out


@pytest.mark.parametrize("uri", ["synthetic://nope", "file:///no/such/clip.mp4"])
def test_bad_input_uri_is_one_line_error(cli, zoo_bundle, uri) -> None:
    r = cli("run", zoo_bundle("compact-cnn"), uri)
    assert r.code == 1 and r.out == ""
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edge-sdk: error:"), r.err


def test_single_frames_to_white_balance_is_one_line_error(cli, zoo_bundle) -> None:
    r = cli("run", zoo_bundle("emlp"), "synthetic://digits?count=2", "--quiet")
    assert r.code == 1 and "(long, short)" in r.err and len(r.err.strip().splitlines()) == 1


def test_unknown_bundle_and_bad_max_frames(cli, zoo_bundle, tmp_path) -> None:
    r = cli("run", tmp_path / "missing-bundle", "synthetic://digits")
    assert r.code == 1 and "neither a bundle path nor a zoo model" in r.err
    r = cli("run", zoo_bundle("compact-cnn"), "synthetic://digits", "--max-frames", "0")
    assert r.code == 1 and "--max-frames" in r.err
