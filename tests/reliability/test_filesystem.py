"""Catalogue: unwritable outputs, writes that fail midway, racing exports.

Promise (converters/bundle.py): a bundle is staged beside its target and renamed into place only when
complete, so a failed export leaves nothing behind and an earlier bundle at that path survives intact.
Disk-full is simulated with a real 64 KiB tmpfs (root only; skipped with the reason otherwise) and,
everywhere, with a writer that faults halfway. Overlaps: tests/edge_sdk/test_camera_sinks.py (no file
left when a video sink fails), README's ParityError promise (tests/converters/test_export_cli.py).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import edge_sdk
from converters.bundle import staged_bundle
from edge_sdk.errors import EdgeSDKError
from tests.conftest import REPO
from tests.reliability.conftest import assert_one_line_error, leftovers, snapshot

NET_PY = """\
import torch


def make_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(9, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3)).eval()
"""


@pytest.fixture
def net_py(tmp_path: Path) -> str:
    path = tmp_path / "net.py"
    path.write_text(NET_PY)
    return f"{path}:make_model"


def _export(cli, model: str, out: Path, *extra: str):  # noqa: ANN001, ANN202
    return cli("export", model, "-o", out, "--quiet", *extra)


@contextlib.contextmanager
def tmpfs(where: Path, options: str) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True,
                              text=True, timeout=20)
    except (OSError, subprocess.SubprocessError) as e:
        pytest.skip(f"cannot mount a tmpfs here ({e}); the faulting-writer tests cover the same promise")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); the faulting-writer tests cover it")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=20)


# --- unwritable outputs ----------------------------------------------------------------------------------


def test_read_only_output_directory(cli, net_py, zoo_bundle, tmp_path) -> None:
    with tmpfs(tmp_path / "ro", "ro,size=64k") as ro:
        r = _export(cli, net_py, ro / "bundle", "--input-shape", "1x9")
        assert_one_line_error(r, "cannot write to", "Read-only")
        r = cli("run", zoo_bundle("compact-cnn"), "synthetic://digits?count=2", f"file://{ro}/out.mp4", "--quiet")
        assert_one_line_error(r)
        assert list(ro.iterdir()) == []


def test_output_under_a_regular_file(cli, net_py, tmp_path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    assert_one_line_error(_export(cli, net_py, blocker / "bundle", "--input-shape", "1x9"), "cannot write to")
    assert_one_line_error(_export(cli, net_py, blocker, "--input-shape", "1x9"), "not a directory")
    assert blocker.read_text() == "x" and leftovers(tmp_path) == []


# --- a write that fails midway ------------------------------------------------------------------------


def test_disk_full_midway_keeps_the_earlier_bundle(cli, mlp_bundle, tmp_path) -> None:
    with tmpfs(tmp_path / "small", "size=64k") as small:
        out = small / "bundle"
        shutil.copytree(mlp_bundle, out)  # an earlier, good bundle (a few KiB)
        before = snapshot(out)
        r = _export(cli, "compact-cnn", out)  # its model.onnx alone (~62 KiB) does not fit
        assert_one_line_error(r, "cannot write the bundle", "No space left")
        assert snapshot(out) == before and leftovers(small) == [] and sorted(p.name for p in small.iterdir()) == [
            "bundle"]
        assert edge_sdk.load(out).manifest is not None  # still loads, hash verified


@pytest.mark.parametrize("victim", ["model.onnx", "manifest.json", "report.md"])
def test_faulting_writer_midway_keeps_the_earlier_bundle(mlp_bundle, tmp_path, monkeypatch, victim) -> None:
    import torch

    import converters.pipeline as pipeline
    from converters import export

    out = tmp_path / "bundle"
    shutil.copytree(mlp_bundle, out)
    before = snapshot(out)
    real_copy, real_write = pipeline.shutil.copyfile, pipeline.atomic_write_text

    def half_then_fail(target: Path, data: bytes) -> None:
        Path(target).write_bytes(data[: len(data) // 2])
        raise OSError(5, "Input/output error")

    def copyfile(src, dst, *a, **k):  # noqa: ANN001, ANN002, ANN003, ANN202
        if Path(dst).name == victim and ".staging-" in str(dst):
            half_then_fail(dst, Path(src).read_bytes())
        return real_copy(src, dst, *a, **k)

    def write_text(target, text):  # noqa: ANN001, ANN202
        if Path(target).name == victim:
            half_then_fail(target, text.encode())
        return real_write(target, text)

    monkeypatch.setattr(pipeline.shutil, "copyfile", copyfile)
    monkeypatch.setattr(pipeline, "atomic_write_text", write_text)
    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Linear(9, 4), torch.nn.ReLU(), torch.nn.Linear(4, 3)).eval()
    with pytest.raises(EdgeSDKError, match="cannot write the bundle.*Input/output error"):
        export(net, out, input_shape=(1, 9), show_progress=False, log=lambda m: None)
    assert snapshot(out) == before and leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]


def test_atomic_file_write_fails_midway(tmp_path) -> None:
    from edge_sdk._io import atomic_path

    target = tmp_path / "weights.bin"
    target.write_bytes(b"old")
    with pytest.raises(OSError), atomic_path(target) as tmp:
        tmp.write_bytes(b"partial")
        raise OSError(28, "No space left on device")
    assert target.read_bytes() == b"old" and sorted(os.listdir(tmp_path)) == ["weights.bin"]


# --- racing exports ------------------------------------------------------------------------------------


def test_threads_racing_to_one_bundle_directory(tmp_path) -> None:
    out = tmp_path / "bundle"
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def publish(k: int) -> None:
        try:
            for r in range(15):
                barrier.wait(10)
                with staged_bundle(out) as stage:
                    for name in ("model.onnx", "manifest.json", "report.md"):
                        (stage / name).write_text(f"{k}-{r}")
        except BaseException as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=publish, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    contents = {p.read_text() for p in out.iterdir()}
    assert len(contents) == 1 and sorted(p.name for p in out.iterdir()) == ["manifest.json", "model.onnx",
                                                                            "report.md"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]  # no staging or old dirs left


def test_two_export_processes_racing(net_py, tmp_path) -> None:
    out = tmp_path / "bundle"
    cmd = [sys.executable, "-m", "edge_sdk", "export", net_py, "--input-shape", "1x9", "-o", str(out), "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    session = edge_sdk.load(out)  # one whole bundle: its manifest matches its artifact
    assert session.manifest is not None and [t.name for t in session.inputs] == ["input"]
    assert leftovers(tmp_path) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["bundle", "net.py"]
