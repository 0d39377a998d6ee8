"""Fuzz (hypothesis): CLI argument vectors, source URIs and hostile bundle manifests.

Each property asserts the same three things: the outcome is success or a typed error (an
``EdgeSDKError``; for the CLI exit 0/1/2 with a one-line message, never a traceback or "internal
error"); it is bounded (a SIGALRM watchdog turns a hang into a failure); and no file outside the
output is deleted or changed: every example runs in a sandbox of sentinel files (a folder of user
documents, a bundle with the user's notes in it, the current directory) checked after each example.

Settings are derandomized with a bounded number of examples, so the default suite stays fast and
reproducible.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from edge_sdk.errors import EdgeSDKError
from tests.reliability.conftest import snapshot

FUZZ = settings(max_examples=80, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


class Hang(BaseException):
    """Raised by the watchdog; a BaseException so no `except Exception` in the SDK can swallow it."""


@contextlib.contextmanager
def watchdog(seconds: int, what: str) -> Iterator[None]:
    def fire(signum: int, frame: Any) -> None:
        raise Hang(f"{what} did not finish within {seconds} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# -- the sandbox -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory, mlp_bundle: Path) -> Path:
    """user docs, a bundle with notes, a pure bundle, a symlink to the docs, and a work dir (the cwd)."""
    root = tmp_path_factory.mktemp("sandbox")
    (root / "docs").mkdir()
    (root / "docs" / "thesis.txt").write_text("years of work\n")
    (root / "docs" / "data.csv").write_text("a,b\n1,2\n")
    shutil.copytree(mlp_bundle, root / "noted")
    (root / "noted" / "notes.txt").write_text("the user's notes about this bundle\n")
    shutil.copytree(mlp_bundle, root / "pure")
    (root / "link").symlink_to(root / "docs", target_is_directory=True)
    (root / "work").mkdir()
    (root / "work" / "keep.txt").write_text("a file in the current directory\n")
    (root / "net.py").write_text(
        "import torch\n\n\ndef make():\n    torch.manual_seed(0)\n"
        "    return torch.nn.Sequential(torch.nn.Linear(9, 4), torch.nn.ReLU(), torch.nn.Linear(4, 3)).eval()\n"
    )
    return root


def protected(root: Path) -> dict[str, bytes]:
    """Every file the SDK must never delete or change (the pure bundle may be replaced by an export)."""
    snap = {}
    for sub in ("docs", "noted", "work"):
        snap.update({f"{sub}/{k}": v for k, v in snapshot(root / sub).items()})
    return snap


@contextlib.contextmanager
def inside(root: Path) -> Iterator[None]:
    before = protected(root)
    cwd = os.getcwd()
    os.chdir(root / "work")
    try:
        yield
    finally:
        os.chdir(cwd)
        after = protected(root)
        assert after == before, f"files changed or deleted: {sorted(set(before) ^ set(after))}"
        assert (root / "link").is_symlink(), "the symlink was replaced"


# -- CLI argument vectors ----------------------------------------------------------------------------

NUMBERS = st.sampled_from(["0", "1", "-1", "2", "nan", "inf", "-inf", "1e9", "100000", "3.5", "", "x", "0x10"])
PATHS = st.sampled_from([".", "", "..", "../docs", "../noted", "../pure", "../link", "../out-new", "keep.txt",
                         "/", "../docs/thesis.txt", "no/such/dir/x", "\u00e9t\u00e9", "a" * 300, "../net.py:make"])
SOURCES = st.sampled_from(["synthetic://digits?count=2", "synthetic://digits?count=-3", "synthetic://digits?size=0x0",
                           "synthetic://dual-exposure?count=2&size=64x36", "synthetic://nope", "nope://x",
                           "http://127.0.0.1:9/x.mjpg?timeout=0.5", "http://[::1", "../docs", "keep.txt", ""])
MODELS = st.sampled_from(["emlp", "compact-cnn", "emlpp", "../pure", "../noted", "../docs", "../net.py:make",
                          "x.pt2", "keep.txt", ""])


def _flags(pairs: dict[str, st.SearchStrategy[str]]) -> st.SearchStrategy[list[str]]:
    one = st.sampled_from(sorted(pairs)).flatmap(lambda f: pairs[f].map(lambda v: [f, v]))
    return st.lists(one, max_size=3).map(lambda xs: [w for x in xs for w in x])


ARGVS = st.one_of(
    st.tuples(st.just(["run"]), MODELS.map(lambda m: [m]), SOURCES.map(lambda s: [s]),
              st.sampled_from([[], ["null://"], ["dir://../out-frames"], ["file://../docs/thesis.txt"]]),
              _flags({"--max-frames": NUMBERS, "--backend": st.sampled_from(["numpy", "auto", "x"])})),
    st.tuples(st.just(["benchmark"]), MODELS.map(lambda m: [m]),
              _flags({"--duration": NUMBERS, "--warmup": NUMBERS, "--threads": NUMBERS, "--batch": NUMBERS,
                      "--iterations": NUMBERS, "--json": PATHS, "--plot": PATHS}),
              st.just(["--warmup", "0", "--iterations", "3"])),
    st.tuples(st.just(["export"]), MODELS.map(lambda m: [m]), PATHS.map(lambda p: ["-o", p]),
              _flags({"--opset": NUMBERS, "--input-shape": st.sampled_from(["1x9", "1x3x64", "0x9", "9", "x"]),
                      "--precision": st.sampled_from(["fp32", "int9"]), "--calib-count": NUMBERS}),
              st.just(["--quiet"])),
    st.tuples(st.sampled_from([["validate"], ["build"]]), MODELS.map(lambda m: [m]),
              st.sampled_from([[], ["--json"], ["--target", "tensorrt"]])),
    st.tuples(st.just(["train"]), st.sampled_from([["care-s0"], ["nope"]]),
              _flags({"--epochs": NUMBERS, "--out": PATHS})),
).map(lambda parts: [w for part in parts for w in part])


@FUZZ
@given(argv=ARGVS, json_flag=st.booleans())
def test_cli_argument_vectors(cli, sandbox: Path, argv: list[str], json_flag: bool) -> None:
    if json_flag and "--json" not in argv:
        argv = [*argv, "--json"]
    with inside(sandbox), watchdog(120, f"edge-sdk {argv}"):
        r = cli(*argv)
    assert r.code in (0, 1, 2), (argv, r.code, r.err)
    assert "Traceback" not in r.err and "internal error" not in r.err, (argv, r.err)
    if r.code == 1:
        assert r.err.strip().splitlines()[-1].startswith("edge-sdk: error:"), (argv, r.err)
    if json_flag and r.code != 0 and argv[0] != "benchmark":
        doc = json.loads(r.out)  # one JSON object on stdout, errors included
        assert doc["error"]["exit_code"] == r.code and doc["error"]["message"], (argv, r.out)


# -- source URIs -------------------------------------------------------------------------------------

TEXT = st.text(alphabet=string.ascii_letters + string.digits + "-_.:/[]%?&=@ ", max_size=12)
KEYS = st.sampled_from(["count", "size", "width", "height", "fps", "timeout", "loop", "seed", "layout", "long",
                        "short", "exposures", "max_pixels"])
VALUES = st.one_of(st.sampled_from(["0", "-1", "1", "2", "nan", "inf", "1e12", "99999999999", "64x36", "0x0",
                                    "-5x10", "1x1", "30000x30000", "100000x100000", "true", "maybe", "", "3.5"]), TEXT)
TARGETS = st.sampled_from(["synthetic://digits", "synthetic://dual-exposure", "synthetic://", "file://missing.mp4",
                           "dir://missing/", "http://127.0.0.1:9/s.mjpg", "http://[::1", "http://[::1]:99999/x",
                           "http://:80/", "rtsp://127.0.0.1:9/x", "v4l2:///dev/video97", "csi://97", "97", "-1",
                           "null://", "dual://", "::::", ""])


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(target=TARGETS, query=st.lists(st.tuples(KEYS, VALUES), max_size=3))
@example(target="http://[::1", query=[])  # regressions from issue #11, always run
@example(target="synthetic://digits", query=[("size", "100000x100000")])
@example(target="synthetic://digits", query=[("fps", "nan")])
@example(target="http://127.0.0.1:99999/x", query=[])
def test_source_uris(sandbox: Path, target: str, query: list[tuple[str, str]]) -> None:
    import urllib.parse

    import edge_sdk

    uri = target + ("?" + urllib.parse.urlencode(query) if query else "")
    with inside(sandbox), watchdog(30, f"open_source({uri!r})"):
        try:
            with edge_sdk.open_source(uri, timeout=0.5) as src:
                for _ in range(2):
                    item = src.read()
                    if item is None:
                        break
                    frames = item if isinstance(item, tuple) else (getattr(item, "long", None),
                                                                    getattr(item, "short", None), item)
                    for f in frames:
                        image = getattr(f, "image", f)
                        if isinstance(image, np.ndarray):
                            assert image.size >= 1 and image.nbytes <= 256 << 20
        except EdgeSDKError:
            pass


# -- hostile manifests through load() and the pipelines -----------------------------------------------

JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
PRE_KEYS = st.sampled_from(["kind", "layout", "color", "colour_order", "scale", "mean", "std", "size", "resize",
                            "crop", "input_size", "interpolation"])
MANIFEST_KEYS = st.sampled_from(["inputs", "outputs", "artifact", "task", "labels", "opset", "preprocessing",
                                 "engines", "precision", "extra"])


@FUZZ
@given(key=MANIFEST_KEYS, value=JSONISH, pre=st.dictionaries(PRE_KEYS, JSONISH, max_size=3))
def test_hostile_manifests_load_and_pipelines(sandbox: Path, zoo_bundle, key: str, value: Any,
                                              pre: dict[str, Any]) -> None:
    import edge_sdk
    from edge_sdk.pipelines import Classifier

    bundle = sandbox / "fuzzed"
    shutil.rmtree(bundle, ignore_errors=True)
    shutil.copytree(zoo_bundle("compact-cnn"), bundle)
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest[key] = value
    manifest["preprocessing"] = {**(manifest.get("preprocessing") or {}), **pre} if key != "preprocessing" else value
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    with inside(sandbox), watchdog(30, f"load with {key}={value!r}, preprocessing {pre!r}"):
        try:
            with edge_sdk.load(bundle, backend="onnxruntime") as session:
                clf = Classifier(session)
                frame = np.zeros((28, 28, 3), np.uint8)
                pred = clf(frame)
                assert pred.label is not None
        except EdgeSDKError:
            pass
