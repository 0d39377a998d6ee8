"""Catalogue: the torch-free runtime against hostile bundles and inputs (issue #11).

Bounded batches and input bytes; out-of-memory as a typed error; external-data weights under the
manifest's hashes; a manifest that lies about the graph; junk graphs on the numpy backend; ndarray
subclasses; malformed artifact names; unreadable and oversized files; ``close()`` that really closes;
thread counts. CLI cases go through ``edge-sdk run BUNDLE synthetic://digits`` (exit 1, one line).
Cases that need a fresh interpreter (memory limits, privilege drop, a 3 GiB file) run in a subprocess.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import runtimes
from runtimes.errors import EdgeSDKError, InputError, ManifestError, ResourceError, SessionClosedError
from runtimes.manifest import artifact_dependencies
from tests.conftest import REPO, CliResult
from tests.reliability.conftest import assert_one_line_error

BACKENDS = ["onnxruntime", "numpy"]
URI = "synthetic://digits?count=1"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _x(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, 9)).astype(np.float32)


def _run_cli(cli, bundle: Path, *needles: str, backend: str = "auto") -> None:  # noqa: ANN001
    assert_one_line_error(cli("run", bundle, URI, "--quiet", "--backend", backend), *needles)


def _python(script: str, *args: str, timeout: float = 120, stderr: list[str] | None = None) -> str:
    """Run ``script`` in a fresh interpreter; the last line of its stdout (the verdict). ``stderr``
    (a list) receives what it wrote there."""
    r = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, cwd=REPO,
                       timeout=timeout, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert r.returncode == 0, r.stderr[-2000:]
    if stderr is not None:
        stderr.append(r.stderr)
    return r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""


@pytest.fixture(scope="module", params=BACKENDS)
def sess(request, mlp_bundle):  # noqa: ANN001, ANN201
    return runtimes.load(mlp_bundle, backend=request.param)


# --- bounds: batch and bytes per call, refused before the backend ----------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_batch_over_the_limit_is_refused(mlp_bundle, backend) -> None:
    s = runtimes.load(mlp_bundle, backend=backend)
    assert s(np.zeros((4096, 9), np.float32)).shape == (4096, 3)  # the default bound itself runs
    for call in (lambda x: s(x), lambda x: s.run({"input": x})):
        with pytest.raises(InputError, match=r"'input': batch 100000 is over the limit of 4096.*max_batch="):
            call(np.zeros((100_000, 9), np.float32))
    raised = runtimes.load(mlp_bundle, backend=backend, max_batch=100_000)
    assert raised(np.zeros((100_000, 9), np.float32)).shape == (100_000, 3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_input_bytes_over_the_limit_are_refused(mlp_bundle, backend) -> None:
    s = runtimes.load(mlp_bundle, backend=backend, max_input_bytes=10 * 9 * 4)
    assert s(_x(10)).shape == (10, 3)
    with pytest.raises(InputError, match=r"'input': \[11, 9\] float32 is 396 bytes, over the limit of 360"):
        s(_x(11))
    with pytest.raises(InputError, match="over the limit of 360"):
        s.run({"input": _x(11)})


@pytest.mark.parametrize("option", ["max_batch", "max_input_bytes"])
@pytest.mark.parametrize("value", [0, -1, True, 2.5, "4096"])
def test_bad_bounds_are_refused_at_load(mlp_bundle, option, value) -> None:
    with pytest.raises(EdgeSDKError, match=f"{option} must be a positive integer"):
        runtimes.load(mlp_bundle, **{option: value})


OOM_SCRIPT = """
import resource, sys
import numpy as np
import runtimes
from runtimes.errors import EdgeSDKError
s = runtimes.load(sys.argv[1], backend=sys.argv[2])
x = np.ones((4096, 9), np.float32)  # within the default bounds; the hidden layer needs 4096 x 65536 floats: 1 GiB
s(x[:1])
vm = int(next(l for l in open("/proc/self/status") if l.startswith("VmSize")).split()[1]) * 1024
resource.setrlimit(resource.RLIMIT_AS, (vm + (256 << 20), resource.RLIM_INFINITY))
try:
    s(x)
    print("RAN")
except EdgeSDKError as e:
    print("TYPED", type(e).__name__, " ".join(str(e).split()))
except BaseException as e:
    print("UNTYPED", type(e).__name__, " ".join(str(e).split())[:300])
"""


def _wide_mlp(path: Path) -> Path:
    """(batch, 9) -> MatMul to 65,536 -> ReduceSum: small weights (2.4 MB), a huge intermediate."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.full((9, 65536), 1e-3, np.float32), "w")
    axes = numpy_helper.from_array(np.array([1], np.int64), "axes")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["input", "w"], ["h"]), helper.make_node("ReduceSum", ["h", "axes"], ["output"])],
        "wide", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 9])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 1])], [w, axes])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    return path


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs RLIMIT_AS and /proc (Linux)")
@pytest.mark.parametrize("backend", BACKENDS)
def test_out_of_memory_in_the_backend_is_a_resource_error(tmp_path, backend) -> None:
    """A real allocation failure (address space capped in a child process), not a mock. Was: numpy's
    MemoryError / ONNX Runtime's "Failed to allocate" escaped untyped ("internal error" on the CLI)."""
    err: list[str] = []
    verdict = _python(OOM_SCRIPT, str(_wide_mlp(tmp_path / "wide.onnx")), backend, stderr=err)
    assert verdict.startswith("TYPED ResourceError the backend ran out of memory"), verdict
    assert "smaller batch" in verdict
    assert err == [""], err  # the error is the one report: no ONNX Runtime log line beside it
    assert issubclass(ResourceError, EdgeSDKError)


# --- threads ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("backend", "threads"), [  # 0 is ONNX Runtime's defaults: the test below
    *[("onnxruntime", t) for t in (-1, True, 2.5, "4", 65)], *[("openvino", t) for t in (0, -1, True, 2.5, "4", 65)]])
def test_bad_thread_counts_are_refused_at_load(mlp_bundle, threads, backend) -> None:
    if threads == 65 and (os.cpu_count() or 1) * 4 >= 65:
        pytest.skip("65 threads are within the bound on this many CPUs")
    if backend == "openvino":
        pytest.importorskip("openvino")
    with pytest.raises(EdgeSDKError, match=r"threads must be an integer from 1 to \d+"):
        runtimes.load(mlp_bundle, backend=backend, threads=threads)
    assert runtimes.load(mlp_bundle, backend=backend, threads=2).threads == 2


def test_onnxruntime_threads_0_is_its_own_defaults(mlp_bundle) -> None:
    """threads=0 is what a bare InferenceSession runs with (the autotune baseline); the message says so."""
    s = runtimes.load(mlp_bundle, backend="onnxruntime", threads=0)
    assert s.threads == 0
    x = np.random.default_rng(0).standard_normal((3, *s.inputs[0].shape[1:])).astype(np.float32)
    np.testing.assert_allclose(s(x), runtimes.load(mlp_bundle, backend="onnxruntime", threads=1)(x), rtol=1e-6)
    with pytest.raises(EdgeSDKError, match="or 0 for ONNX Runtime's own defaults, got -1"):
        runtimes.load(mlp_bundle, backend="onnxruntime", threads=-1)


def test_100000_threads_are_refused_at_once(mlp_bundle) -> None:
    """Was: ONNX Runtime set about starting 100,000 threads (hung for minutes)."""
    script = ("import sys, runtimes\nfrom runtimes.errors import EdgeSDKError\n"
              "try:\n    runtimes.load(sys.argv[1], threads=100000)\n    print('LOADED')\n"
              "except EdgeSDKError as e:\n    print('TYPED', e)\n")
    t0 = time.perf_counter()
    try:
        verdict = _python(script, str(mlp_bundle), timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("load(threads=100000) did not return within 60 s")
    assert verdict.startswith("TYPED threads must be an integer from 1 to"), verdict
    assert time.perf_counter() - t0 < 30


# --- external data: every file the artifact reads is hashed ----------------------------------------------


@pytest.fixture
def external_bundle(mlp_bundle, tmp_path) -> Path:  # noqa: ANN001
    """The MLP bundle re-saved with its weights in ``weights.bin`` beside ``model.onnx``, manifest updated."""
    import onnx

    b = tmp_path / "ext"
    shutil.copytree(mlp_bundle, b)
    model = onnx.load(str(b / "model.onnx"))
    onnx.save_model(model, str(b / "model.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights.bin", size_threshold=0)
    m = json.loads((b / "manifest.json").read_text())
    m["artifact_sha256"] = _sha(b / "model.onnx")
    m["artifact_files"] = artifact_dependencies(b / "model.onnx")
    (b / "manifest.json").write_text(json.dumps(m))
    return b


def test_artifact_dependencies_lists_the_external_weights(external_bundle, mlp_bundle) -> None:
    deps = artifact_dependencies(external_bundle / "model.onnx")
    assert deps == {"weights.bin": _sha(external_bundle / "weights.bin")}
    assert artifact_dependencies(mlp_bundle / "model.onnx") == {}


@pytest.mark.parametrize("backend", BACKENDS)
def test_unchanged_external_weights_load_and_run(external_bundle, mlp_bundle, backend) -> None:
    x = _x(5)
    got = runtimes.load(external_bundle, backend=backend)(x)
    np.testing.assert_allclose(got, runtimes.load(mlp_bundle, backend=backend)(x), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_changed_external_weights_are_refused(cli, external_bundle, backend) -> None:
    """Was: a changed weights.bin loaded silently (only model.onnx was hashed)."""
    w = external_bundle / "weights.bin"
    data = bytearray(w.read_bytes())
    data[:4] = np.float32(np.frombuffer(bytes(data[:4]), np.float32)[0] + 1).tobytes()  # a valid, other weight
    w.write_bytes(bytes(data))
    with pytest.raises(ManifestError, match="weights.bin does not match its manifest.*re-export"):
        runtimes.load(external_bundle, backend=backend)
    _run_cli(cli, external_bundle, "weights.bin does not match its manifest", backend=backend)


def test_unlisted_external_weights_are_refused(cli, external_bundle) -> None:
    """A manifest without artifact_files (older export, or edited) for a model that reads external data."""
    m = json.loads((external_bundle / "manifest.json").read_text())
    del m["artifact_files"]
    (external_bundle / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ManifestError, match="reads external data 'weights.bin', which its manifest does not list"):
        runtimes.load(external_bundle)
    _run_cli(cli, external_bundle, "does not list")


def test_external_weights_outside_the_bundle_are_refused(cli, external_bundle, tmp_path) -> None:
    """Even listed with the right hash, a weight file outside the bundle is not read."""
    import onnx

    model = onnx.load(str(external_bundle / "model.onnx"), load_external_data=False)
    for t in model.graph.initializer:
        for e in t.external_data:
            if e.key == "location":
                e.value = "../outside.bin"
    (external_bundle / "weights.bin").rename(tmp_path / "outside.bin")
    (external_bundle / "model.onnx").write_bytes(model.SerializeToString())
    m = json.loads((external_bundle / "manifest.json").read_text())
    m["artifact_sha256"] = _sha(external_bundle / "model.onnx")
    m["artifact_files"] = {"../outside.bin": _sha(tmp_path / "outside.bin")}
    (external_bundle / "manifest.json").write_text(json.dumps(m))
    for backend in BACKENDS:
        with pytest.raises(ManifestError, match="outside.bin' points outside the bundle"):
            runtimes.load(external_bundle, backend=backend)
    _run_cli(cli, external_bundle, "points outside the bundle")


# --- a manifest that lies about the graph ---------------------------------------------------------------


LIES = {
    "input-name": (lambda m: m["inputs"][0].update(name="image"), ["'image'", "'input'"]),
    "input-dtype": (lambda m: m["inputs"][0].update(dtype="float16"), ["'input'", "float16", "float32"]),
    "static-dim": (lambda m: m["inputs"][0].update(shape=["batch", 10]), ["'input'", "['batch', 10]", "9]"]),
    "rank": (lambda m: m["inputs"][0].update(shape=["batch", 9, 1]), ["'input'", "['batch', 9, 1]", "9]"]),
    "static-batch": (lambda m: m["inputs"][0].update(shape=[1, 9]), ["'input'", "[1, 9]", "9]"]),
    "output-name": (lambda m: m["outputs"][0].update(name="logits"), ["'logits'", "'output'"]),
    "output-count": (lambda m: m["outputs"].append({"name": "extra", "shape": ["batch", 1], "dtype": "float32"}),
                     ["2 outputs", "['output', 'extra']", "has 1 ['output']"]),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("lie", sorted(LIES))
def test_lying_manifest_is_refused_at_load(cli, broken_bundle, backend, lie) -> None:
    """Was: the manifest's inputs/outputs were never compared with the graph; a lying manifest loaded."""
    edit, needles = LIES[lie]

    def tell_lie(m: dict[str, Any], b: Path) -> dict[str, Any]:
        edit(m)
        return m

    b = broken_bundle(tell_lie)
    with pytest.raises(ManifestError) as info:
        runtimes.load(b, backend=backend)
    message = str(info.value)
    assert "model.onnx" in message and "re-export" in message, message
    for needle in needles:
        assert needle in message, (needle, message)
    _run_cli(cli, b, "re-export", *needles[:1], backend=backend)


# --- junk graphs on the numpy backend --------------------------------------------------------------------


def _graph_file(path: Path, *, dangling: bool = False, nodes: bool = True) -> Path:
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 9])
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 9])
    node = helper.make_node("Relu", ["ghost" if dangling else "input"], ["output"])
    graph = helper.make_graph([node] if nodes else [], "g", [x], [y])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    return path


@pytest.mark.parametrize("junk", ["0-byte", "two-bytes", "no-nodes", "dangling-input"])
def test_numpy_backend_refuses_junk_graphs(tmp_path, junk) -> None:
    """Was: a 0-byte or junk model.onnx loaded as a model with no inputs; a dangling node crashed at run."""
    path = tmp_path / "m.onnx"
    if junk == "0-byte":
        path.write_bytes(b"")
    elif junk == "two-bytes":
        path.write_bytes(b"\x08\x07")  # parses as a ModelProto with ir_version 7 and nothing else
    else:
        _graph_file(path, dangling=junk == "dangling-input", nodes=junk != "no-nodes")
    with pytest.raises(ManifestError, match="m.onnx"):
        runtimes.load(path, backend="numpy")


def test_numpy_backend_refuses_an_empty_model_in_a_bundle(cli, broken_bundle) -> None:
    def empty(m: dict[str, Any], b: Path) -> dict[str, Any]:
        (b / "model.onnx").write_bytes(b"")
        m["artifact_sha256"] = _sha(b / "model.onnx")
        return m

    b = broken_bundle(empty)
    for backend in BACKENDS:
        with pytest.raises(ManifestError, match="model.onnx"):
            runtimes.load(b, backend=backend)
    _run_cli(cli, b, "model.onnx", backend="numpy")


@pytest.mark.parametrize("backend", BACKENDS)
def test_bare_onnx_file_loads_and_runs(mlp_bundle, tmp_path, backend) -> None:
    bare = tmp_path / "alone" / "mlp.onnx"
    bare.parent.mkdir()
    shutil.copyfile(mlp_bundle / "model.onnx", bare)
    s = runtimes.load(bare, backend=backend)
    assert s.manifest is None
    np.testing.assert_array_equal(s(_x(3)), runtimes.load(mlp_bundle, backend=backend)(_x(3)))


# --- ndarray subclasses ----------------------------------------------------------------------------------


class _Sub(np.ndarray):
    pass


def _masked_with_hidden_nan() -> np.ma.MaskedArray:
    x = _x(2)
    x[0, 0] = np.nan
    return np.ma.masked_array(x, mask=np.isnan(x))


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
@pytest.mark.parametrize("kind", ["matrix", "masked-hidden-nan", "subclass"])
def test_ndarray_subclasses_are_refused(sess, kind) -> None:
    """Was: np.matrix ran (matrix semantics, wrong numbers on element-wise graphs); a masked array hid NaN
    from the finite check."""
    value = {"matrix": lambda: np.asmatrix(_x(2)), "masked-hidden-nan": _masked_with_hidden_nan,
             "subclass": lambda: _x(2).view(_Sub)}[kind]()
    for call in (lambda v: sess(v), lambda v: sess.run({"input": v})):
        with pytest.raises(InputError, match=r"'input': got a .*not a plain array; pass a plain numpy array"):
            call(value)


def test_masked_array_filled_and_memmap_work(sess, tmp_path) -> None:
    x = _x(4, seed=3)
    assert isinstance(_masked_with_hidden_nan().filled(0), np.ndarray)
    np.testing.assert_array_equal(sess(np.ma.masked_array(x, mask=False).filled(0)), sess(x))
    mm = np.memmap(tmp_path / f"x-{sess.backend}.bin", dtype=np.float32, mode="w+", shape=x.shape)
    mm[:] = x
    np.testing.assert_array_equal(sess(mm), sess(x))
    with pytest.raises(InputError, match="plain numpy array"):
        sess(np.ma.masked_array(x, mask=False))  # masked, even with nothing hidden: use .filled()


# --- malformed artifact names ----------------------------------------------------------------------------


ARTIFACT_NAMES = {
    "nul-byte": ("a\x00.onnx", "not a usable file name"),
    "5000-chars": ("a" * 5000 + ".onnx", "not a usable file name"),
    "symlink-loop": ("loop.onnx", "cannot be resolved"),
    "txt-suffix": ("model.txt", "is not an .onnx or .engine file"),
    "directory": ("sub.onnx", "is a directory"),
    "the-manifest": ("manifest.json", "is not an .onnx or .engine file"),
    "link-to-manifest": ("m.onnx", "is the manifest itself"),
    "fifo": ("pipe.onnx", "not a regular file"),
}


@pytest.mark.parametrize("case", sorted(ARTIFACT_NAMES))
def test_malformed_artifact_names_are_refused(cli, broken_bundle, case) -> None:
    """Was: NUL byte, 5,000 chars and symlink loops ended in "internal error"; a .txt artifact loaded."""
    name, message = ARTIFACT_NAMES[case]

    def rename(m: dict[str, Any], b: Path) -> dict[str, Any]:
        if case == "symlink-loop":
            (b / name).symlink_to(name)
        elif case == "txt-suffix":
            shutil.copyfile(b / "model.onnx", b / name)
        elif case == "directory":
            (b / name).mkdir()
        elif case == "link-to-manifest":
            (b / name).symlink_to("manifest.json")
        elif case == "fifo":
            os.mkfifo(b / name)
        m["artifact"] = name
        return m

    if case == "fifo" and not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this platform")
    b = broken_bundle(rename)
    with pytest.raises(ManifestError, match=message):
        runtimes.load(b)
    _run_cli(cli, b, message)


def test_model_path_too_long_or_with_a_nul_byte(cli) -> None:
    """Was: a 5,000-character path raised OSError (File name too long): "internal error" on the CLI."""
    with pytest.raises(ManifestError, match="cannot use model path"):
        runtimes.load("b" * 5000)
    with pytest.raises(ManifestError, match="not found"):
        runtimes.load("bundle\x00.onnx")
    assert_one_line_error(cli("benchmark", "b" * 5000 + ".onnx", "--iterations", "1"), "File name too long")


# --- oversized and special manifest files ----------------------------------------------------------------


def test_manifest_over_16_mib_is_refused(cli, broken_bundle) -> None:
    """Was: read whole, whatever its size. A valid manifest padded past the limit is refused unread."""
    def pad(m: dict[str, Any], b: Path) -> None:
        (b / "manifest.json").write_text(json.dumps(m) + " " * (16 << 20))

    b = broken_bundle(pad)
    with pytest.raises(ManifestError, match=r"over the 16777216-byte limit"):
        runtimes.load(b)
    _run_cli(cli, b, "over the 16777216-byte limit")
    assert runtimes.read_manifest(b, max_bytes=32 << 20).model  # the limit is a parameter


SPECIAL_MANIFESTS = r"""
import os, resource, sys, json, time
import runtimes
from runtimes.errors import EdgeSDKError
vm = int(next(l for l in open("/proc/self/status") if l.startswith("VmSize")).split()[1]) * 1024
resource.setrlimit(resource.RLIMIT_AS, (vm + (1 << 30), resource.RLIM_INFINITY))  # 3 GiB cannot be read
out = {}
for b in sys.argv[1:]:
    t0 = time.perf_counter()
    try:
        runtimes.load(b)
        out[b] = "LOADED"
    except EdgeSDKError as e:
        out[b] = "TYPED " + str(e)
    except BaseException as e:
        out[b] = "UNTYPED " + type(e).__name__
    out[b] += " in %.1f s" % (time.perf_counter() - t0)
print(json.dumps(out))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="FIFOs, /dev/zero, RLIMIT_AS: Linux")
def test_huge_fifo_and_device_manifests_neither_hang_nor_allocate(broken_bundle) -> None:
    """A 3 GiB (sparse) manifest.json, a FIFO and a symlink to /dev/zero: typed errors, at once."""
    def huge(m: dict[str, Any], b: Path) -> None:
        with open(b / "manifest.json", "r+b") as f:
            f.truncate(3 << 30)

    def fifo(m: dict[str, Any], b: Path) -> None:
        (b / "manifest.json").unlink()
        os.mkfifo(b / "manifest.json")

    def zero(m: dict[str, Any], b: Path) -> None:
        (b / "manifest.json").unlink()
        (b / "manifest.json").symlink_to("/dev/zero")

    bundles = [broken_bundle(edit, name) for edit, name in ((huge, "huge"), (fifo, "fifo"), (zero, "zero"))]
    verdicts = json.loads(_python(SPECIAL_MANIFESTS, *map(str, bundles), timeout=60))
    for b, needle in zip(bundles, ["over the 16777216-byte limit", "not a regular file", "not a regular file"]):
        verdict = verdicts[str(b)]
        assert verdict.startswith("TYPED") and needle in verdict, verdict
        assert float(verdict.split(" in ")[-1].split()[0]) < 5, verdict


# --- unreadable files (permission denied, as a user who is not root) -------------------------------------


UNREADABLE = r"""
import contextlib, io, json, os, sys
import numpy as np
import runtimes, runtimes.backends.onnxruntime, runtimes.backends.numpy_mlp, onnx, onnxruntime
from edge_sdk.cli.main import main
from runtimes.errors import EdgeSDKError
good, *bad = sys.argv[1:]
with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
    main(["run", good, "synthetic://digits?count=1", "--quiet"])  # imports all it needs, as root
    runtimes.load(good, backend="numpy")
if os.getuid() == 0:
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
out = {}
for b in bad:
    try:
        runtimes.load(b)
        api = "LOADED"
    except EdgeSDKError as e:
        api = "TYPED " + str(e)
    except BaseException as e:
        api = "UNTYPED %s: %s" % (type(e).__name__, e)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(["run", b, "synthetic://digits?count=1", "--quiet"])
        except SystemExit as e:
            code = e.code
    out[b] = [api, code, err.getvalue()]
print(json.dumps(out))
"""


@pytest.fixture
def world_readable_dir() -> Iterator[Path]:
    """A directory another user can traverse (pytest's tmp_path is private to its owner)."""
    d = Path(tempfile.mkdtemp(prefix="edge-sdk-unreadable-"))
    d.chmod(0o755)
    try:
        yield d
    finally:
        for p in d.rglob("*"):
            if not p.is_symlink():
                p.chmod(0o755 if p.is_dir() else 0o644)
        shutil.rmtree(d)


@pytest.mark.skipif(not hasattr(os, "setuid"), reason="needs POSIX users")
def test_unreadable_manifest_artifact_and_weights(mlp_bundle, world_readable_dir) -> None:
    """Run as uid 65534 (a child process drops root); was: PermissionError as "internal error"."""
    import onnx

    def copy(name: str) -> Path:
        b = world_readable_dir / name
        shutil.copytree(mlp_bundle, b)
        return b

    good = copy("good")
    manifest, artifact, weights = copy("manifest"), copy("artifact"), copy("weights")
    model = onnx.load(str(weights / "model.onnx"))
    onnx.save_model(model, str(weights / "model.onnx"), save_as_external_data=True, location="weights.bin",
                    size_threshold=0)
    m = json.loads((weights / "manifest.json").read_text())
    m.update(artifact_sha256=_sha(weights / "model.onnx"), artifact_files=artifact_dependencies(weights / "model.onnx"))
    (weights / "manifest.json").write_text(json.dumps(m))
    for p in (manifest / "manifest.json", artifact / "model.onnx", weights / "weights.bin"):
        p.chmod(0)
    verdicts = json.loads(_python(UNREADABLE, str(good), str(manifest), str(artifact), str(weights)))
    for b, needle in ((manifest, "manifest"), (artifact, "artifact"), (weights, "external data file")):
        api, code, err = verdicts[str(b)]
        assert api.startswith("TYPED cannot read") and needle in api and "Permission denied" in api, api
        assert_one_line_error(CliResult(code, "", err), "cannot read", "Permission denied")


# --- close() ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_closed_session_refuses_calls(mlp_bundle, backend) -> None:
    """Was: close() did nothing on onnxruntime and numpy; run still worked after it."""
    with runtimes.load(mlp_bundle, backend=backend) as s:
        assert s(_x(1)).shape == (1, 3)
    assert s.closed
    for call in (lambda: s(_x(1)), lambda: s.run({"input": _x(1)})):
        with pytest.raises(SessionClosedError, match="session is closed"):
            call()
    s.close()  # idempotent
    assert "closed" in repr(s)


def test_close_releases_the_onnxruntime_session(mlp_bundle) -> None:
    s = runtimes.load(mlp_bundle, backend="onnxruntime")
    ref = weakref.ref(s._sess)
    s.close()
    gc.collect()
    assert ref() is None, "the ONNX Runtime session is still alive after close()"


@pytest.mark.parametrize("backend", BACKENDS)
def test_close_while_threads_run(mlp_bundle, backend) -> None:
    """8 threads calling while another closes: each call returns the right result or SessionClosedError."""
    s = runtimes.load(mlp_bundle, backend=backend)
    xs = [_x(3, seed=k) for k in range(8)]
    want = [s(x) for x in xs]
    errors: list[BaseException] = []
    done = [0] * 8
    started = threading.Barrier(9)

    def work(k: int) -> None:
        started.wait()
        call = (lambda x: s(x)) if k % 2 else (lambda x: s.run({"input": x})["output"])
        deadline = time.monotonic() + 20
        try:
            while time.monotonic() < deadline:
                if not np.array_equal(call(xs[k]), want[k]):
                    errors.append(AssertionError(f"thread {k}: wrong result"))
                    return
                done[k] += 1
            errors.append(AssertionError(f"thread {k}: still running 20 s after close()"))
        except SessionClosedError:
            return
        except BaseException as e:  # noqa: BLE001 - anything else is the failure under test
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,), daemon=True) for k in range(8)]
    for t in threads:
        t.start()
    started.wait()
    until = time.monotonic() + 15  # close only once every thread is calling (a loaded box may be slow to start them)
    while not all(done) and time.monotonic() < until:
        time.sleep(0.01)
    closers = [threading.Thread(target=s.close, daemon=True) for _ in range(3)]
    for t in closers:
        t.start()
    for t in threads + closers:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads + closers), "a thread hung"
    assert not errors, errors
    assert all(n > 0 for n in done), done
    with pytest.raises(SessionClosedError):
        s(xs[0])
