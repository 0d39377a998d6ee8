"""Catalogue: the CLI's own promises under bad arguments.

* ``--json`` always prints one JSON object on stdout, errors and usage errors included;
* ``--debug`` works after the sub-command too;
* numbers that would hang or exhaust the machine (``nan``, ``inf``, 100,000 threads, a batch of
  100,000) are refused before anything loads;
* output files (``--json FILE``, ``--plot``, ``--out``) are probed before the long work, so a typo
  in a path does not cost a training run;
* an ``OSError`` or ``MemoryError`` from anywhere is one line, not "internal error".
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.reliability.conftest import assert_one_line_error

UNWRITABLE = "/proc/edge-sdk-nope/out"  # /proc refuses new files, even for root


def _json_error(r, code: int) -> dict:  # noqa: ANN001
    doc = json.loads(r.out)
    assert set(doc) == {"error"}, doc
    assert doc["error"]["exit_code"] == code and doc["error"]["message"] and doc["error"]["type"], doc
    return doc["error"]


@pytest.mark.parametrize("argv", [
    ["run", "no-such-bundle", "synthetic://digits"],
    ["validate", "no-such-bundle"],
    ["export", "no-such-model", "-o", "x"],
    ["build", "no-such-bundle"],
    ["train", "care-s0"],
    ["eval", "care-s9"],
    ["demo", "--frames", "0"],
    ["models", "--no-such-flag"],
    ["run", "--max-frames", "x", "a", "b"],
])
def test_json_errors_are_one_object_on_stdout(cli, argv: list[str]) -> None:
    r = cli(*argv, "--json")
    assert r.code in (1, 2), r
    err = _json_error(r, r.code)
    if r.code == 2:
        assert err["type"] == "UsageError"
    assert "Traceback" not in r.err and "internal error" not in r.err


def test_json_error_for_bad_flag_after_json(cli) -> None:
    """--json is seen even when parsing stops at a bad flag (the namespace was never built)."""
    r = cli("doctor", "--json", "--bogus")
    assert r.code == 2
    assert _json_error(r, 2)["type"] == "UsageError"


def test_debug_after_the_subcommand_shows_the_traceback(cli) -> None:
    from edge_sdk.errors import EdgeSDKError

    with pytest.raises(EdgeSDKError):
        cli("run", "no-such-bundle", "synthetic://digits", "--debug")
    r = cli("run", "no-such-bundle", "synthetic://digits")
    assert_one_line_error(r, "no-such-bundle")


@pytest.mark.parametrize("flag,value,needle", [
    ("--duration", "nan", "--duration"), ("--duration", "inf", "--duration"), ("--duration", "-1", "--duration"),
    ("--warmup", "inf", "--warmup"), ("--warmup", "nan", "--warmup"), ("--threads", "100000", "--threads"),
    ("--threads", "0", "--threads"), ("--batch", "100000", "--batch"), ("--iterations", "10000000000", "--iterations"),
])
def test_benchmark_numbers_that_would_hang_are_refused_before_loading(cli, mlp_bundle: Path, flag: str, value: str,
                                                                        needle: str) -> None:
    r = cli("benchmark", mlp_bundle, flag, value)
    assert_one_line_error(r, needle)
    assert "latency" not in r.out  # nothing ran


def test_benchmark_feed_is_bounded_for_huge_static_inputs(tmp_path: Path) -> None:
    """A model whose input is declared huge is refused before the random inputs are allocated."""
    from edge_sdk.benchmark import MAX_FEED_BYTES, make_feed
    from edge_sdk.errors import EdgeSDKError
    from runtimes.session import TensorInfo

    huge = [TensorInfo("x", ("batch", 3, 30000, 30000), "float32")]
    with pytest.raises(EdgeSDKError, match="lower --batch"):
        make_feed(huge, batch=1)
    assert 3 * 30000 * 30000 * 4 > MAX_FEED_BYTES


@pytest.mark.parametrize("argv,flag", [
    (["benchmark", "{bundle}", "--iterations", "3", "--warmup", "0", "--json-out", UNWRITABLE], "--json-out"),
    (["benchmark", "{bundle}", "--iterations", "3", "--warmup", "0", "--plot", UNWRITABLE + ".png"], "--plot"),
    (["train", "emlp", "--out", UNWRITABLE + ".safetensors"], "--out"),
    (["train", "emlp", "--out", "{dir}"], "--out"),
    (["eval", "emlp", "--plot", UNWRITABLE + ".png"], "--plot"),
    (["demo", "--out", UNWRITABLE], "--out"),
])
def test_unwritable_outputs_fail_before_the_work(cli, mlp_bundle: Path, tmp_path: Path, argv: list[str],
                                                 flag: str) -> None:
    argv = [a.replace("{bundle}", str(mlp_bundle)).replace("{dir}", str(tmp_path)) for a in argv]
    r = cli(*argv)
    assert_one_line_error(r, flag)
    assert "latency" not in r.out and "trained" not in r.out  # refused up front, nothing measured or trained
    assert not any(p.name.startswith(".edge-sdk-probe-") for p in tmp_path.iterdir())  # the probe left nothing


def test_os_errors_are_one_line_not_internal(cli, tmp_path: Path) -> None:
    """An OSError that no layer typed (here: a directory given where a video file is read) is one line."""
    clip = tmp_path / "clip.mp4"
    clip.mkdir()
    r = cli("run", "emlp", f"file://{clip}", "--max-frames", "1")
    assert r.code == 1 and "Traceback" not in r.err and "internal error" not in r.err, r.err


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop privileges with setpriv")
def test_unreadable_bundle_is_a_typed_error_for_an_unprivileged_user(mlp_bundle: Path, tmp_path: Path) -> None:
    """Permission denied on manifest.json (as the nobody user): a one-line error, exit 1."""
    import shutil
    import subprocess
    import sys

    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    b = tmp_path / "b"
    shutil.copytree(mlp_bundle, b)
    os.chmod(tmp_path, 0o755)
    os.chmod(b, 0o755)
    os.chmod(b / "manifest.json", 0o000)
    os.chmod(b / "model.onnx", 0o644)
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m",
                           "edge_sdk", "run", str(b), "synthetic://digits?count=1"], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(repo)})
    assert done.returncode == 1, done
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edge-sdk: error:") and "internal error" not in lines[0], done.stderr


def _png_bomb(width: int, height: int) -> bytes:
    """A gray PNG of zeros: tiny on disk, ``width * height`` bytes once decoded."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = zlib.compress(b"\0" * ((width + 1) * height), 9)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", raw) + chunk(b"IEND", b""))


def test_opencv_decode_limit_is_set_before_cv2_loads(tmp_path: Path) -> None:
    """Any cv2.imread in the process (calibration folders, datasets) refuses a decompression bomb too."""
    import subprocess
    import sys

    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_bomb(9000, 9000))  # 81 MP, over the 64 MP default
    code = ("import edge_sdk, os, sys, cv2\n"
            "from edge_sdk.camera.imagesize import DEFAULT_MAX_PIXELS\n"
            "limit = os.environ['OPENCV_IO_MAX_IMAGE_PIXELS']\n"
            "assert limit == str(DEFAULT_MAX_PIXELS) == str(edge_sdk.OPENCV_MAX_PIXELS), limit\n"
            "try:\n    img = cv2.imread(sys.argv[1], cv2.IMREAD_UNCHANGED)\nexcept cv2.error:\n    img = None\n"
            "print(img is None)\n")
    env = {k: v for k, v in os.environ.items() if k != "OPENCV_IO_MAX_IMAGE_PIXELS"}
    done = subprocess.run([sys.executable, "-c", code, str(bomb)], capture_output=True, text=True, timeout=120,
                          env=env, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True", (done.stdout, done.stderr[-500:])
