"""`edge-sdk export` / `validate` on the command line: exit codes and one-line errors."""

from __future__ import annotations

import numpy as np

from tests.converters.test_export_user_model import NET


def _net(tmp_path):
    (tmp_path / "net.py").write_text(NET)
    return f"{tmp_path / 'net.py'}:make"


def test_export_then_validate_json(cli, tmp_path) -> None:
    r = cli("export", _net(tmp_path), "--input-shape", "1x3x20x20", "-o", tmp_path / "b", "--json")
    assert r.code == 0, r.err
    assert r.json()["manifest"]["parity"]["passed"]
    v = cli("validate", tmp_path / "b", "--model", _net(tmp_path), "--json")
    assert v.code == 0 and v.json()["passed"]


def test_broken_budget_exits_1_names_the_failure(cli, tmp_path) -> None:
    np.save(tmp_path / "tiny.npy", 1e-4 * np.ones((8, 3, 20, 20), np.float32))
    np.save(tmp_path / "val.npy", np.random.default_rng(0).standard_normal((16, 3, 20, 20)).astype(np.float32))
    r = cli("export", _net(tmp_path), "--input-shape", "1x3x20x20", "-o", tmp_path / "b", "--precision", "int8",
            "--calib", tmp_path / "tiny.npy", "--val-data", tmp_path / "val.npy", "-q")  # calibrated on the wrong data
    assert r.code == 1
    assert "breaks its accuracy budget: output: output SQNR" in r.err  # the failing output, its own figure
    assert "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1
    assert not (tmp_path / "b").exists()


def test_usage_errors_exit_2(cli, tmp_path) -> None:
    assert cli("export", "compact-cnn").code == 2  # -o missing
    assert cli("export", "compact-cnn", "-o", tmp_path / "b", "--precision", "int4").code == 2


def test_bad_inputs_are_one_line_errors(cli, tmp_path) -> None:
    cases = [
        ("export", "nope-net", "-o", tmp_path / "b"),
        ("export", "missing.py:make", "--input-shape", "1x3x8x8", "-o", tmp_path / "b"),
        ("export", _net(tmp_path), "--input-shape", "1xAx8", "-o", tmp_path / "b"),
        ("export", "weights.safetensors", "-o", tmp_path / "b"),
        ("validate", tmp_path / "not-a-bundle"),
    ]
    for args in cases:
        r = cli(*args)
        assert r.code == 1, args
        assert r.err.startswith("edge-sdk: error:") and len(r.err.strip().splitlines()) == 1, r.err


def test_calibration_npy_with_wrong_shape(cli, tmp_path) -> None:
    np.save(tmp_path / "c.npy", np.zeros((4, 3, 8, 8), np.float32))
    r = cli("export", _net(tmp_path), "--input-shape", "1x3x20x20", "-o", tmp_path / "b", "--precision", "int8",
            "--calib", tmp_path / "c.npy", "-q")
    assert r.code == 1 and "expected an array N x 3x20x20" in r.err
