"""The C white balance export (issue #16): compile it, run its golden vectors and awb_cli, compare with Python.

Real compilers (gcc; clang when installed), real files, the real numpy-backend ``WhiteBalance`` on
pairs of the synthetic test split. aarch64: cross-compiled and run under qemu user mode when
``aarch64-linux-gnu-gcc`` and ``qemu-aarch64(-static)`` are installed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edge_sdk.awb.metrics import angular_error_deg
from edge_sdk.data.dual_exposure import generate_scene

CFLAGS = "-std=c99 -pedantic -Wall -Wextra -Werror -O2"
COMPILERS = [c for c in ("gcc", "clang") if shutil.which(c)]
QEMU = shutil.which("qemu-aarch64-static") or shutil.which("qemu-aarch64")
CROSS = shutil.which("aarch64-linux-gnu-gcc")

pytestmark = pytest.mark.skipif(not COMPILERS, reason="no C compiler (gcc) installed")


def make(d: Path, *targets: str, **env: str) -> subprocess.CompletedProcess[str]:
    args = ["make", "-C", str(d), *targets, *[f"{k}={v}" for k, v in env.items()]]
    return subprocess.run(args, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def exports(zoo_bundle, tmp_path_factory) -> dict[str, Path]:
    from converters.c_awb import export_c

    bundle = zoo_bundle("emlp")
    root = tmp_path_factory.mktemp("c_awb")
    return {p: export_c(bundle, root / p, p) for p in ("fp32", "int8")}


@pytest.fixture(scope="module")
def builds(exports, tmp_path_factory) -> dict[tuple[str, str], Path]:
    """(precision, compiler) -> a built copy of the export (library, awb_cli, awb_test)."""
    out = {}
    for p, src in exports.items():
        for cc in COMPILERS:
            d = tmp_path_factory.mktemp(f"{p}-{cc}")
            shutil.copytree(src, d, dirs_exist_ok=True)
            r = make(d, "all", CC=cc, CFLAGS=CFLAGS)
            assert r.returncode == 0, r.stdout + r.stderr
            out[(p, cc)] = d
    return out


@pytest.fixture(scope="module")
def wb(zoo_bundle):
    from edge_sdk.pipelines.white_balance import WhiteBalance

    return WhiteBalance(zoo_bundle("emlp"), backend="numpy")


def cli(d: Path, tmp: Path, long: np.ndarray, short: np.ndarray, black: int, white: int) -> np.ndarray:
    lp, sp = tmp / "long.rgb16", tmp / "short.rgb16"
    lp.write_bytes(long.astype("<u2").tobytes())
    sp.write_bytes(short.astype("<u2").tobytes())
    h, w = long.shape[:2]
    r = subprocess.run([str(d / "awb_cli"), "--black", str(black), "--white", str(white), str(w), str(h), str(lp),
                        str(sp)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert re.fullmatch(r"\d+\.\d{6} \d+\.\d{6} \d+\.\d{6}\n", r.stdout), r.stdout
    return np.array([float(v) for v in r.stdout.split()])


def angle(g1: np.ndarray, g2: np.ndarray) -> float:
    """Angle between the illuminants that two gain triplets imply (illuminant ~ 1 / gain)."""
    return float(angular_error_deg(1.0 / np.asarray(g1, np.float64), 1.0 / np.asarray(g2, np.float64)))


def test_export_writes_the_promised_files(exports):
    for p, d in exports.items():
        names = {x.name for x in d.iterdir()}
        assert {"awb_emlp.h", "awb_emlp.c", "awb_cli.c", "awb_test.c", "Makefile", "README.md", "awb_emlp.json",
                "test_vectors"} <= names
        meta = json.loads((d / "awb_emlp.json").read_text())
        assert meta["precision"] == p and meta["format"] == "edge-sdk/c-awb"
        src = (d / "awb_emlp.c").read_text() + (d / "awb_emlp.h").read_text()
        assert set(re.findall(r"#include\s*<([^>]+)>", src)) <= {"stdint.h", "stddef.h", "math.h"}
        assert not re.search(r"\b(malloc|calloc|realloc|free)\s*\(", src)
        assert ".text" in (d / "README.md").read_text()


def test_int8_estimate_path_has_no_float(exports):
    d = exports["int8"]
    pre = subprocess.run(["gcc", "-std=c99", "-E", "-P", str(d / "awb_emlp.c")], capture_output=True, text=True,
                         check=True).stdout
    assert not re.search(r"\b(float|double|long double)\b", pre), "float arithmetic in the int8 build"
    assert not re.search(r"\d\.\d*f?\b|\d[eE][-+]?\d", pre), "a float literal in the int8 build"


@pytest.mark.parametrize("precision", ["fp32", "int8"])
@pytest.mark.parametrize("cc", COMPILERS)
def test_golden_vectors(builds, precision, cc):
    d = builds[(precision, cc)]
    r = subprocess.run(["./awb_test", "test_vectors"], cwd=d, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "7 vectors, 0 failures" in r.stdout


def test_cli_matches_python_on_the_test_split(builds, wb, tmp_path):
    """fp32 C within 0.01 degrees of Python per pair, on several sizes: small, odd width, both-axes halving,
    1080p and 4K (the 1080p scene upsampled 2x: rendering a 4K scene takes seconds)."""
    d = builds[("fp32", COMPILERS[0])]
    cases = [(0, 108, 192), (1, 145, 257), (2, 361, 641), (3, 400, 1300), (4, 47, 99)]
    pairs = []
    for seed, h, w in cases:
        sc = generate_scene(seed, "test", h, w)
        pairs.append((f"{w}x{h}", sc.long, sc.short, sc.black_level, sc.white_level))
    sc = generate_scene(5, "test", 1080, 1920)
    pairs.append(("1920x1080", sc.long, sc.short, sc.black_level, sc.white_level))
    up = [np.repeat(np.repeat(f, 2, axis=0), 2, axis=1) for f in (sc.long, sc.short)]
    pairs.append(("3840x2160", up[0], up[1], sc.black_level, sc.white_level))
    for name, long, short, black, white in pairs:
        ref = wb((long, short), white_level=white, black_level=black, correct=False).gains
        got = cli(d, tmp_path, long, short, black, white)
        # not bit-exact: the C float build computes the features and the MLP in float32
        assert angle(got, ref) <= 0.01, (name, got, ref)


def test_int8_within_budget_and_deterministic(builds, wb, tmp_path):
    """int8 mean angular error vs ground truth within +0.15 degrees of the float build's, bit-identical runs."""
    fp, i8 = builds[("fp32", COMPILERS[0])], builds[("int8", COMPILERS[0])]
    e_fp, e_i8 = [], []
    for seed in range(60):
        sc = generate_scene(seed, "test", 108, 192)
        args = (sc.long, sc.short, sc.black_level, sc.white_level)
        g_fp, g_i8 = cli(fp, tmp_path, *args), cli(i8, tmp_path, *args)
        assert np.array_equal(g_i8, cli(i8, tmp_path, *args))
        gt = sc.illuminant.astype(np.float64)
        e_fp.append(float(angular_error_deg(1 / g_fp, gt)))
        e_i8.append(float(angular_error_deg(1 / g_i8, gt)))
    assert np.mean(e_i8) <= np.mean(e_fp) + 0.15, (np.mean(e_i8), np.mean(e_fp))


def test_cli_errors_are_one_line(builds, tmp_path):
    d = builds[("fp32", COMPILERS[0])]
    (tmp_path / "short.rgb16").write_bytes(b"\0" * 10)
    for args, needle in [([], "usage"), (["64", "36", "nope", "nope"], "cannot open"),
                         (["64", "36", str(tmp_path / "short.rgb16"), str(tmp_path / "short.rgb16")], "file size"),
                         (["--black", "x", "64", "36", "a", "b"], "--black")]:
        r = subprocess.run([str(d / "awb_cli"), *args], capture_output=True, text=True, timeout=30)
        assert r.returncode == 1 and r.stdout == ""
        assert r.stderr.startswith("awb_cli: error:") and r.stderr.count("\n") == 1 and needle in r.stderr


@pytest.mark.skipif(not (CROSS and QEMU), reason="needs aarch64-linux-gnu-gcc and qemu-aarch64(-static): "
                    "apt-get install -y gcc-aarch64-linux-gnu qemu-user-static")
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_aarch64_under_qemu(exports, precision, tmp_path):
    d = tmp_path / precision
    shutil.copytree(exports[precision], d)
    r = make(d, "test", CC="aarch64-linux-gnu-gcc", AR="aarch64-linux-gnu-ar", CFLAGS=CFLAGS, LDFLAGS="-static",
             RUN=str(QEMU))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    assert "7 vectors, 0 failures" in r.stdout
    assert "ARM aarch64" in subprocess.run(["file", str(d / "awb_test")], capture_output=True, text=True).stdout \
        if shutil.which("file") else True


def test_output_dir_rules(zoo_bundle, exports, tmp_path):
    from converters.c_awb import export_c
    from edge_sdk.errors import OutputExistsError

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="not a previous C export"):
        export_c(zoo_bundle("emlp"), foreign, "fp32", vectors=False)
    assert [p.name for p in foreign.iterdir()] == ["keep.txt"]
    # a previous export of ours is replaced as a whole, nothing left beside it
    ours = shutil.copytree(exports["int8"], tmp_path / "ours")
    (ours / "stale.txt").write_text("old")
    export_c(zoo_bundle("emlp"), ours, "fp32", vectors=False)
    assert not (ours / "stale.txt").exists()
    assert json.loads((ours / "awb_emlp.json").read_text())["precision"] == "fp32"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["foreign", "ours"]


def test_refuses_a_model_that_is_not_an_emlp(tmp_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from converters.c_awb import CExportError, export_c

    w = numpy_helper.from_array(np.ones((3, 9), np.float32), "w")
    g = helper.make_graph([helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 9])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], [w])
    path = tmp_path / "other.onnx"
    onnx.save(helper.make_model(g), str(path))
    with pytest.raises(CExportError, match="supports the EMLP graph"):
        export_c(path, tmp_path / "out", "fp32")
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["other.onnx"]
