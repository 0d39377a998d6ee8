"""Catalogue: export never deletes what is not ours; publishing survives a kill; the opset is never a lie.

Promise (converters/bundle.py): ``edge-sdk export -o DIR`` replaces DIR only when it is missing, empty or
an edge-sdk bundle holding only bundle files (``--force``: a bundle with other files too); never the
current directory, a parent of it, home or ``/``; a symlink is followed, never replaced. The new bundle
is swapped in atomically (renameat2 RENAME_EXCHANGE); where that is unavailable the old one is renamed
aside for a moment, and a kill in that moment is repaired by the next export or ``edge_sdk.load``.
Every test checks that each user file is still there, byte for byte.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

import edge_sdk
from tests.conftest import REPO
from tests.reliability.conftest import assert_one_line_error, leftovers, snapshot
from tests.reliability.test_filesystem import NET_PY


@pytest.fixture
def net_py(tmp_path: Path) -> str:
    src = tmp_path / "src"
    src.mkdir()
    (src / "net.py").write_text(NET_PY)
    return f"{src / 'net.py'}:make_model"


@pytest.fixture
def user_files(tmp_path: Path):  # noqa: ANN201
    """``user_files(dir)``: fill ``dir`` with a user's files (one nested); returns their snapshot."""

    def make(d: Path) -> dict[str, bytes]:
        d.mkdir(parents=True, exist_ok=True)
        (d / "notes.txt").write_text("my notes")
        (d / "thesis").mkdir(exist_ok=True)
        (d / "thesis" / "chapter1.tex").write_text("\\chapter{One}")
        return snapshot(d)

    return make


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary directory of this test's own, so stale-debris cleanup never meets other runs' files."""
    d = tmp_path / "tmpdir"
    d.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(d))
    return d


def _export(cli, model: str, out: Path | str, *extra: str):  # noqa: ANN001, ANN202
    return cli("export", model, "-o", out, "--input-shape", "1x9", "--quiet", *extra)


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait(30)
    return p.pid


def _manifest(path: Path) -> str:
    return (path / "manifest.json").read_text()


# --- paths export must never replace -----------------------------------------------------------------


@pytest.mark.parametrize("force", [False, True])
@pytest.mark.parametrize("out", [".", "", "../work", "ABS"])
def test_current_directory_is_never_replaced(cli, net_py, tmp_path, monkeypatch, user_files, out, force) -> None:
    work = tmp_path / "work"
    before = user_files(work)
    monkeypatch.chdir(work)
    r = _export(cli, net_py, str(work) if out == "ABS" else out, *(["--force"] if force else []))
    assert_one_line_error(r, "current directory", "choose a new directory")
    assert snapshot(work) == before and leftovers(tmp_path) == []


@pytest.mark.parametrize("out", ["..", "../..", "../../"])
def test_a_parent_of_the_current_directory_is_never_replaced(cli, net_py, tmp_path, monkeypatch, user_files,
                                                             out) -> None:
    top = tmp_path / "top"
    before = user_files(top)
    (top / "a" / "b").mkdir(parents=True)
    monkeypatch.chdir(top / "a" / "b")
    assert_one_line_error(_export(cli, net_py, out, "--force"), "parent of the current directory")
    assert {k: v for k, v in snapshot(top).items() if k in before} == before and (top / "a" / "b").is_dir()
    assert leftovers(tmp_path) == []


def test_home_is_never_replaced(cli, net_py, tmp_path, monkeypatch, user_files) -> None:
    home = tmp_path / "home"
    before = user_files(home)
    monkeypatch.setenv("HOME", str(home))
    assert_one_line_error(_export(cli, net_py, home, "--force"), "home directory")
    assert snapshot(home) == before


def test_root_is_never_replaced(cli, net_py) -> None:
    before = sorted(os.listdir("/"))
    assert_one_line_error(_export(cli, net_py, "/", "--force"), "root directory")
    assert sorted(os.listdir("/")) == before


@pytest.mark.parametrize("force", [False, True])
def test_a_folder_of_user_files_is_refused(cli, net_py, tmp_path, user_files, force) -> None:
    docs = tmp_path / "docs"
    before = user_files(docs)
    r = _export(cli, net_py, docs, *(["--force"] if force else []))
    assert_one_line_error(r, "not an edge-sdk bundle", "choose a new or empty directory")
    assert snapshot(docs) == before and leftovers(tmp_path) == []


def test_a_bundle_holding_user_files_needs_force(cli, net_py, mlp_bundle, tmp_path) -> None:
    out = tmp_path / "bundle"
    shutil.copytree(mlp_bundle, out)
    (out / "notes.txt").write_text("why this model")
    before = snapshot(out)
    assert_one_line_error(_export(cli, net_py, out), "notes.txt", "--force")
    assert snapshot(out) == before and leftovers(tmp_path) == []
    r = _export(cli, net_py, out, "--force")
    assert r.code == 0, r.err
    assert sorted(p.name for p in out.iterdir()) == ["golden.npz", "manifest.json", "model.onnx", "report.md"]
    assert _manifest(out) != _manifest(mlp_bundle) and edge_sdk.load(out).manifest is not None
    assert leftovers(tmp_path) == []


def test_user_file_added_during_export_is_kept(mlp_bundle, tmp_path) -> None:
    import torch

    from converters import export
    from edge_sdk.errors import EdgeSDKError

    out = tmp_path / "bundle"
    shutil.copytree(mlp_bundle, out)

    def log(msg: str) -> None:  # the user saves notes into the bundle while the export validates
        if msg.startswith("validating"):
            (out / "notes.txt").write_text("written during the export")

    net = torch.nn.Sequential(torch.nn.Linear(9, 4), torch.nn.ReLU(), torch.nn.Linear(4, 3)).eval()
    with pytest.raises(EdgeSDKError, match="notes.txt.*--force") as refused:
        export(net, out, input_shape=(1, 9), show_progress=False, log=log)
    assert type(refused.value).__name__ == "OutputExistsError"
    assert (out / "notes.txt").read_text() == "written during the export"
    assert {k: v for k, v in snapshot(out).items() if k != "notes.txt"} == snapshot(mlp_bundle)
    assert leftovers(tmp_path) == []


def test_symlink_to_a_bundle_is_followed_and_kept(cli, net_py, mlp_bundle, tmp_path) -> None:
    real = tmp_path / "real"
    shutil.copytree(mlp_bundle, real)
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    r = _export(cli, net_py, link)
    assert r.code == 0, r.err
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert _manifest(real) != _manifest(mlp_bundle) and edge_sdk.load(link).manifest is not None
    assert leftovers(tmp_path) == []


def test_symlink_to_a_user_folder_is_refused(cli, net_py, tmp_path, user_files) -> None:
    docs = tmp_path / "docs"
    before = user_files(docs)
    link = tmp_path / "link"
    link.symlink_to(docs, target_is_directory=True)
    assert_one_line_error(_export(cli, net_py, link, "--force"), "not an edge-sdk bundle")
    assert link.is_symlink() and os.readlink(link) == str(docs) and snapshot(docs) == before


def test_empty_dir_then_pure_bundle_are_replaced(cli, net_py, tmp_path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    assert _export(cli, net_py, out).code == 0
    # what edge-sdk itself puts in a bundle (an engine, a temporary file of an interrupted write) is ours
    (out / "model.engine").write_bytes(b"plan")
    (out / ".manifest.json.abcd1234.tmp").write_text("{")
    (out / "report.md").write_text("the earlier report")
    r = _export(cli, net_py, out)
    assert r.code == 0, r.err
    assert sorted(p.name for p in out.iterdir()) == ["golden.npz", "manifest.json", "model.onnx", "report.md"]
    assert (out / "report.md").read_text() != "the earlier report" and leftovers(tmp_path) == []


# --- a kill while publishing ---------------------------------------------------------------------------


def test_exchange_swaps_two_directories_atomically(tmp_path) -> None:
    from converters.bundle import exchange

    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "x").write_text("a")
    (b / "x").write_text("b")
    if not exchange(a, b):
        pytest.skip("renameat2(RENAME_EXCHANGE) is not supported here; the rename-aside fallback is tested below")
    assert (a / "x").read_text() == "b" and (b / "x").read_text() == "a"


def _set_aside(mlp_bundle: Path, parent: Path, pid: int) -> Path:
    """The state a kill leaves between the fallback's two renames: no bundle, the old one set aside."""
    old = parent / f".bundle.old-{pid}-k1ll3d_x"
    shutil.copytree(mlp_bundle, old)
    return old


def test_load_restores_a_bundle_a_killed_export_set_aside(mlp_bundle, tmp_path) -> None:
    _set_aside(mlp_bundle, tmp_path, _dead_pid())
    session = edge_sdk.load(tmp_path / "bundle")
    assert session.manifest is not None and snapshot(tmp_path / "bundle") == snapshot(mlp_bundle)
    assert leftovers(tmp_path) == []


def test_export_restores_a_set_aside_bundle_and_leaves_a_live_ones(cli, net_py, mlp_bundle, tmp_path,
                                                                   private_tmp) -> None:
    parent = tmp_path / "out"
    parent.mkdir()
    _set_aside(mlp_bundle, parent, _dead_pid())
    # the export then fails (no such validation data): the restored bundle must still be there
    r = _export(cli, net_py, parent / "bundle", "--data", tmp_path / "missing.npy")
    assert_one_line_error(r)
    assert snapshot(parent / "bundle") == snapshot(mlp_bundle) and leftovers(parent) == []
    # a set-aside bundle of a live export is its owner's business: not restored, not deleted
    shutil.rmtree(parent / "bundle")
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        old = _set_aside(mlp_bundle, parent, live.pid)
        assert _export(cli, net_py, parent / "bundle").code == 0
        assert snapshot(old) == snapshot(mlp_bundle) and edge_sdk.load(parent / "bundle").manifest is not None
    finally:
        live.kill()
        live.wait()


def test_stale_staging_and_work_dirs_are_removed_live_ones_kept(cli, net_py, tmp_path, private_tmp) -> None:
    dead = _dead_pid()
    out = tmp_path / "out"
    out.mkdir()
    user = tmp_path / "user-dir"
    user.mkdir()
    (user / "keep.txt").write_text("keep")
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stale = [out / f".bundle.staging-{dead}-abcd_123", private_tmp / f"edge-sdk-export-{dead}-abcd_123"]
        kept = [out / f".bundle.staging-{live.pid}-abcd_123", private_tmp / f"edge-sdk-export-{live.pid}-abcd_123",
                out / ".bundle.staging-abcd_123", out / f".other.staging-{dead}-abcd_123",
                private_tmp / f"edge-sdk-export-{dead}-abcd_123-mine", private_tmp / "edge-sdk-export-abcd_123"]
        for d in stale + kept:
            d.mkdir()
            (d / "model.onnx").write_text("partial")
        link = private_tmp / f"edge-sdk-export-{dead}-link_123"
        link.symlink_to(user, target_is_directory=True)
        r = _export(cli, net_py, out / "bundle")
        assert r.code == 0, r.err
        assert not any(d.exists() for d in stale)
        assert all((d / "model.onnx").read_text() == "partial" for d in kept)
        assert link.is_symlink() and (user / "keep.txt").read_text() == "keep"
        assert not [p for p in private_tmp.iterdir() if p.name.startswith(f"edge-sdk-export-{os.getpid()}-")]
    finally:
        live.kill()
        live.wait()


def test_threads_racing_on_the_rename_aside_fallback(tmp_path, monkeypatch) -> None:
    import converters.bundle as bundle

    monkeypatch.setattr(bundle, "exchange", lambda a, b: False)  # as on a kernel without renameat2
    out = tmp_path / "bundle"
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def publish(k: int) -> None:
        try:
            for r in range(10):
                barrier.wait(10)
                with bundle.staged_bundle(out) as stage:
                    for name in ("model.onnx", "manifest.json", "report.md"):
                        (stage / name).write_text(f"{k}-{r}")
        except BaseException as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=publish, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert len({p.read_text() for p in out.iterdir()}) == 1 and sorted(p.name for p in tmp_path.iterdir()) == [
        "bundle"]


PUBLISHER = """\
import shutil, sys
from pathlib import Path
import converters.bundle as bundle
if sys.argv[3] == "fallback":
    bundle.exchange = lambda a, b: False
src, out = Path(sys.argv[1]), Path(sys.argv[2])
print("ready", flush=True)
while True:
    with bundle.staged_bundle(out) as stage:
        for f in src.iterdir():
            shutil.copyfile(f, stage / f.name)
"""


@pytest.mark.parametrize("mode", ["exchange", "fallback"])
def test_killed_while_publishing_leaves_a_loadable_bundle(mlp_bundle, tmp_path, mode) -> None:
    out = tmp_path / "bundle"
    shutil.copytree(mlp_bundle, out)
    rng = random.Random(11)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for _ in range(5):
        p = subprocess.Popen([sys.executable, "-c", PUBLISHER, str(mlp_bundle), str(out), mode], cwd=REPO, env=env,
                             stdout=subprocess.PIPE, text=True)
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.01, 0.3))
        p.send_signal(signal.SIGKILL)
        p.wait(30)
        session = edge_sdk.load(out)  # the kill may hit any moment: a whole bundle is always there
        assert session.manifest is not None and snapshot(out) == snapshot(mlp_bundle)
    from runtimes.recovery import remove_stale

    remove_stale(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]


# --- export's temporary work directory ----------------------------------------------------------------


def test_unusable_tmpdir_is_a_typed_error(cli, net_py, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-tmp"))
    r = _export(cli, net_py, tmp_path / "bundle")
    assert_one_line_error(r, "temporary work directory", "TMPDIR")
    assert not (tmp_path / "bundle").exists() and leftovers(tmp_path) == []


BIG_NET_PY = NET_PY.replace("Linear(9, 16)", "Linear(9, 1024)").replace("Linear(16, 3)", "Linear(1024, 3)")


def test_tmpdir_full_midway_is_a_typed_error(cli, tmp_path, monkeypatch) -> None:
    from tests.reliability.test_filesystem import tmpfs

    (tmp_path / "big.py").write_text(BIG_NET_PY)  # model.onnx ~54 KiB: one copy fits in 80 KiB, two do not
    with tmpfs(tmp_path / "small-tmp", "size=80k") as small:
        monkeypatch.setattr(tempfile, "tempdir", str(small))
        r = _export(cli, f"{tmp_path / 'big.py'}:make_model", tmp_path / "bundle")
        assert_one_line_error(r, "temporary work", "No space left", "TMPDIR")
        assert list(small.iterdir()) == []
    assert not (tmp_path / "bundle").exists() and leftovers(tmp_path) == []


# --- opset ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("opset", ["99", "1", "-1", "0"])
def test_opset_out_of_range_is_refused(cli, net_py, tmp_path, opset) -> None:
    assert_one_line_error(_export(cli, net_py, tmp_path / "bundle", "--opset", opset), "unsupported ONNX opset")
    assert not (tmp_path / "bundle").exists()


def test_opset_the_exporter_cannot_honour_is_refused(cli, net_py, tmp_path) -> None:
    # torch exports at 18 and cannot convert this model's Relu down to 13: it used to keep 18 and the
    # manifest said 13
    r = _export(cli, net_py, tmp_path / "bundle", "--opset", "13")
    assert_one_line_error(r, "opset 13", "--opset 18")
    assert not (tmp_path / "bundle").exists() and leftovers(tmp_path) == []


def test_manifest_records_the_opset_in_the_file(cli, net_py, tmp_path) -> None:
    import onnx

    out = tmp_path / "bundle"
    assert _export(cli, net_py, out, "--opset", "17").code == 0
    declared = {o.domain: o.version for o in onnx.load(str(out / "model.onnx")).opset_import}
    assert declared[""] == 17 == json.loads((out / "manifest.json").read_text())["opset"]


def test_image_dir_sink_never_replaces_a_file_already_there(cli, tmp_path: Path) -> None:
    """`edge-sdk run MODEL dir://photos/ dir://photos/`: the user's pictures stay byte for byte; results get
    their own names (cat-1.png), and a second run adds files instead of replacing the first run's."""
    import cv2
    import numpy as np

    photos = tmp_path / "photos"
    photos.mkdir()
    for k, name in enumerate(("cat", "000000")):
        cv2.imwrite(str(photos / f"{name}.png"), np.full((28, 28, 3), 40 * k, np.uint8))
    (photos / "cat-1.png").write_bytes(b"not even an image, but the user's file")
    before = snapshot(photos)
    for _ in range(2):
        r = cli("run", "compact-cnn", f"dir://{photos}/", f"dir://{photos}/", "--quiet")
        assert r.code == 0, r.err
    after = snapshot(photos)
    assert {k: after[k] for k in before} == before  # nothing the user had was touched
    assert len(after) == len(before) + 2 + 4  # run 1: 2 readable pictures; run 2 also reads run 1's 2 results
