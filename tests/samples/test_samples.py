"""Each sample end to end as a user runs it: a subprocess writing a real video, read back with OpenCV."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

import edge_sdk
from tests.conftest import REPO
from tests.video_checks import read_video, white_surface_casts


def run_sample(name: str, *args: object) -> str:
    p = subprocess.run([sys.executable, str(REPO / "samples" / name), *map(str, args)], capture_output=True,
                       text=True, cwd=REPO, timeout=120)
    assert p.returncode == 0, p.stderr
    last = p.stdout.strip().splitlines()[-1]
    assert last.startswith("summary: "), p.stdout
    return last


def summary_value(line: str, key: str) -> float:
    m = re.search(rf"\b{key}=([0-9.]+)", line)
    assert m, f"{key} missing from {line!r}"
    return float(m.group(1))


def test_white_balance_sample_writes_corrected_video(zoo_bundle, tmp_path) -> None:
    uri, w, h, n = "synthetic://dual-exposure?count=8&size=320x180&seed=3", 320, 180, 8
    out = tmp_path / "wb.avi"
    line = run_sample("white_balance_camera.py", uri, f"file://{out}", "--model", zoo_bundle("emlp"))
    assert summary_value(line, "frames") == n and summary_value(line, "fps") > 0
    assert summary_value(line, "angular_error_deg") < 10
    frames = read_video(out)
    assert len(frames) == n
    with edge_sdk.open_dual_source(uri) as src:  # the same deterministic scenes: their true illuminants
        truths = [f.meta["illuminant"] for f in src]
    before_cast, after_cast = white_surface_casts(frames, truths, w, h)
    print(f"white-surface cast before {np.mean(before_cast):.2f} deg, after {np.mean(after_cast):.2f} deg")
    assert np.mean(after_cast) < 0.75 * np.mean(before_cast), (before_cast, after_cast)


@pytest.mark.parametrize(("sample", "model"), [("classify_camera.py", "compact-cnn"),
                                               ("care_classify.py", "care-tiny")])
def test_classifier_sample_writes_labelled_video(zoo_bundle, tmp_path, sample, model) -> None:
    out = tmp_path / "out.mp4"
    line = run_sample(sample, "synthetic://digits?count=100", f"file://{out}", "--model", zoo_bundle(model),
                      "--max-frames", 40)
    assert summary_value(line, "frames") == 40 and summary_value(line, "fps") > 0
    assert summary_value(line, "accuracy") >= 0.9
    frames = read_video(out)
    assert len(frames) == 40
    for image in frames:
        assert image.shape == (240, 320, 3) and image.std() > 10  # not blank: a digit and text
        b, g, r = (image[:40].astype(int)[:, :, i] for i in range(3))
        assert ((g - r > 60) & (g - b > 60)).sum() > 20  # the green top-1 label is drawn


def test_samples_are_short_and_share_their_arguments() -> None:
    for name in ("white_balance_camera.py", "classify_camera.py", "care_classify.py"):
        text = (REPO / "samples" / name).read_text()
        assert len(text.splitlines()) <= 100
        assert f"python samples/{name}" in text  # the command line in the docstring
        for arg in ('"input_uri"', '"output_uri"', '"--model"', '"--max-frames"'):
            assert arg in text, (name, arg)
