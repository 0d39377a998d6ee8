"""`edge-sdk check` / runtimes.check: golden samples through the runtime here, judged with the export's budget.

A device whose numerics break the budget is played by a bundle whose artifact was replaced by a degraded
one (weights perturbed) with its manifest re-hashed, so that the bundle loads and only the numbers are
wrong. Hostile golden files are refused before anything is allocated or unpickled.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import runtimes
from runtimes.errors import ManifestError
from runtimes.golden import GoldenError, NoGoldenSamplesError
from runtimes.manifest import MANIFEST_NAME, read_manifest, sha256_file
from runtimes.selfcheck import engine_check
from tests.conftest import run_python


def _copy(bundle: Path, tmp_path: Path) -> Path:
    out = tmp_path / bundle.name
    shutil.copytree(bundle, out)
    return out


def _degrade(bundle: Path, scale: float = 1.0) -> None:
    """Replace the artifact by one with noisy weights (std ``scale`` x each weight's own) and re-hash it."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(bundle / "model.onnx"))
    rng = np.random.default_rng(0)
    for init in model.graph.initializer:
        w = numpy_helper.to_array(init)
        if w.dtype == np.float32 and w.ndim >= 2:
            noisy = w + rng.standard_normal(w.shape).astype(np.float32) * scale * (w.std() + 1e-3)
            init.CopyFrom(numpy_helper.from_array(noisy.astype(np.float32), init.name))
    onnx.save(model, str(bundle / "model.onnx"))
    m = read_manifest(bundle)
    m.artifact_sha256 = sha256_file(bundle / "model.onnx")
    (bundle / MANIFEST_NAME).write_text(m.dumps())


def _rewrite_golden(bundle: Path, **replace: np.ndarray) -> None:
    """Rewrite golden.npz with some arrays replaced (or added) and re-hash it in the manifest."""
    with np.load(bundle / "golden.npz", allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays.update(replace)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    _install_golden(bundle, buf.getvalue())


def _install_golden(bundle: Path, data: bytes) -> None:
    (bundle / "golden.npz").write_bytes(data)
    m = read_manifest(bundle)
    assert m.golden is not None
    m.golden["sha256"] = hashlib.sha256(data).hexdigest()
    (bundle / MANIFEST_NAME).write_text(m.dumps())


@pytest.mark.parametrize("name, backend", [("compact-cnn", "onnxruntime"), ("emlp", "numpy"),
                                           ("emlp", "onnxruntime")])
def test_a_good_bundle_passes_on_this_machine(zoo_bundle, cli, name: str, backend: str) -> None:
    bundle = zoo_bundle(name)
    r = cli("check", bundle, "--backend", backend)
    assert r.code == 0, r.out + r.err
    assert "PASS" in r.out and "48 golden samples" in r.out
    report = runtimes.check(bundle, backend=backend)
    assert report.passed and report.backend.startswith(backend) and report.samples == 48
    assert report.metric["name"] == ("top1" if name == "compact-cnn" else "mean_angular_error")
    if backend == "onnxruntime":  # the export host ran the same runtime: no drift at all
        assert report.metric["drift"] == 0 and report.outputs["output"]["vs_host"]["max_abs"] == 0


def test_json_report_and_session_api(zoo_bundle, cli) -> None:
    bundle = zoo_bundle("compact-cnn")
    r = cli("check", bundle, "--json")
    assert r.code == 0
    out = json.loads(r.out)
    assert out["passed"] is True and out["budget"]["rule"] == "top-1 drop <= 0.1 pp"
    assert out["budget"]["tolerance"] == pytest.approx(100 / 48) and "drift" in out["rule"]
    with runtimes.load(bundle) as session:
        assert runtimes.check(session).passed
        assert not session.closed  # a session given to check stays the caller's


def test_an_unlabelled_bundle_is_judged_on_sqnr(mlp_bundle) -> None:
    report = runtimes.check(mlp_bundle, backend="numpy")
    assert report.passed and report.metric["name"] == "output_sqnr"
    assert report.metric["device"] >= report.budget["limit"] == 60.0


@pytest.mark.parametrize("which, metric", [("compact-cnn", "top1"), ("emlp", "mean_angular_error"),
                                           ("mlp", "output_sqnr")])
def test_numerics_that_break_the_budget_exit_1_naming_it(zoo_bundle, mlp_bundle, cli, tmp_path, which: str,
                                                         metric: str) -> None:
    bundle = _copy(mlp_bundle if which == "mlp" else zoo_bundle(which), tmp_path)
    _degrade(bundle)
    runtimes.load(bundle).close()  # the bundle itself is intact: hashes match, it loads
    r = cli("check", bundle)
    assert r.code == 1, r.out + r.err
    fail = next(line for line in r.out.splitlines() if line.startswith("  FAIL "))
    assert fail.startswith("  FAIL output: ") and metric in fail.replace("output SQNR", "output_sqnr")
    assert "breaks the budget" in fail and str(read_manifest(bundle).parity["budget"]["limit"]) in fail
    j = cli("check", bundle, "--json")
    assert j.code == 1 and json.loads(j.out)["passed"] is False


def test_one_changed_prediction_is_within_resolution_two_are_not(zoo_bundle, tmp_path) -> None:
    """The rule at its edge: golden samples where the export host predicted a class the device does not."""
    bundle = _copy(zoo_bundle("compact-cnn"), tmp_path)
    golden = runtimes.check(bundle)
    assert golden.metric["device"] == 100.0  # every golden sample right here, as on the export host

    with np.load(bundle / "golden.npz", allow_pickle=False) as npz:
        labels, host = npz["labels"].copy(), npz["host_0"].copy()

    def flip(k: int) -> None:  # sample k: the host "predicted" another class, which the label now says
        other = (labels[k] + 1) % host.shape[1]
        labels[k] = other
        host[k, other] = host[k].max() + 1.0

    flip(0)
    _rewrite_golden(bundle, labels=labels, host_0=host)
    one = runtimes.check(bundle)
    assert one.passed and one.metric["drift"] == pytest.approx(-100 / 48)
    flip(1)
    _rewrite_golden(bundle, labels=labels, host_0=host)
    two = runtimes.check(bundle)
    assert not two.passed and two.metric["drift"] == pytest.approx(-200 / 48)
    assert "2.08 pp" in two.failures[0]


def test_a_tampered_golden_file_is_refused(zoo_bundle, cli, tmp_path) -> None:
    bundle = _copy(zoo_bundle("compact-cnn"), tmp_path)
    data = bytearray((bundle / "golden.npz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (bundle / "golden.npz").write_bytes(bytes(data))
    with pytest.raises(GoldenError, match="changed after export"):
        runtimes.check(bundle)
    r = cli("check", bundle, "--json")
    assert r.code == 1 and json.loads(r.out)["error"]["type"] == "GoldenError"
    assert r.err.startswith("edge-sdk: error: ") and "re-export" in r.err


def _npy_header(shape: tuple[int, ...], descr: str) -> bytes:
    header = {"descr": descr, "fortran_order": False, "shape": shape}
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue()


def test_hostile_golden_files_are_refused_before_allocating_or_unpickling(zoo_bundle, tmp_path) -> None:
    import zipfile

    bundle = _copy(zoo_bundle("compact-cnn"), tmp_path)
    with np.load(bundle / "golden.npz", allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}

    def zipped(members: dict[str, bytes]) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for name, payload in members.items():
                z.writestr(name + ".npy", payload)
        return buf.getvalue()

    def npy(a: np.ndarray) -> bytes:
        b = io.BytesIO()
        np.save(b, a, allow_pickle=False)
        return b.getvalue()

    plain = {k: npy(v) for k, v in arrays.items()}
    # a header declaring 10**12 samples (4 TB) over a few bytes of data: refused from the header
    huge = dict(plain, labels=_npy_header((10**12,), "<i8") + b"\0" * 64)
    _install_golden(bundle, zipped(huge))
    with pytest.raises(GoldenError, match="sample counts|bytes"):
        runtimes.check(bundle)

    # a pickle that would leave a trace if it ran
    trace = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):  # noqa: ANN204
            return (open, (str(trace), "w"))

    obj = np.empty(arrays["labels"].shape, object)
    obj[0] = Payload()
    b = io.BytesIO()
    np.lib.format.write_array(b, obj, allow_pickle=True)
    _install_golden(bundle, zipped(dict(plain, labels=b.getvalue())))
    with pytest.raises(GoldenError, match="dtype"):
        runtimes.check(bundle)
    assert not trace.exists()

    for bad, match in [
        (dict(plain, extra=npy(np.zeros(3))), "unexpected arrays"),
        ({k: v for k, v in plain.items() if k != "host_0"}, "lacks outputs"),
        (dict(plain, inputs=npy(np.zeros((48, 1, 28, 28), np.float32))), "one form of inputs"),
        (dict(plain, reference_0=npy(np.zeros((48, 11), np.float32))), "shape"),
        (dict(plain, host_0=npy(np.full((48, 10), np.nan, np.float32))), "NaN"),
    ]:
        _install_golden(bundle, zipped(bad))
        with pytest.raises(GoldenError, match=match):
            runtimes.check(bundle)
    (bundle / "golden.npz").write_bytes(b"\0" * ((1 << 20) + 1))  # over the bound: not even hashed
    with pytest.raises(GoldenError, match="bound"):
        runtimes.check(bundle)
    (tmp_path / "golden.npz").write_bytes(b"")  # a file outside the bundle is never read
    m = read_manifest(bundle)
    assert m.golden is not None
    m.golden["file"] = "../golden.npz"
    (bundle / MANIFEST_NAME).write_text(m.dumps())
    with pytest.raises(ManifestError, match="outside the bundle"):
        runtimes.check(bundle)


def test_a_bundle_without_golden_samples_asks_for_a_re_export(zoo_bundle, cli, tmp_path) -> None:
    bundle = _copy(zoo_bundle("compact-cnn"), tmp_path)
    m = read_manifest(bundle)
    m.golden = None
    (bundle / MANIFEST_NAME).write_text(m.dumps())
    (bundle / "golden.npz").unlink()
    with pytest.raises(NoGoldenSamplesError):
        runtimes.check(bundle)
    r = cli("check", bundle, "--json")
    assert r.code == 2 and json.loads(r.out)["error"]["exit_code"] == 2
    assert "re-export" in r.err and len(r.err.strip().splitlines()) == 1
    # edge-sdk build records why the engine could not be checked instead of failing the build
    res = engine_check(bundle)
    assert res["passed"] is None and res["error_type"] == "NoGoldenSamplesError" and "re-export" in res["error"]


def test_check_runs_without_torch(zoo_bundle, mlp_bundle) -> None:
    bundles = [str(zoo_bundle("compact-cnn")), str(zoo_bundle("emlp")), str(mlp_bundle)]
    code = (
        "import sys\nsys.modules['torch'] = None\n"
        "import runtimes\nfrom edge_sdk.cli.main import main\n"
        f"for b in {bundles!r}:\n"
        "    assert runtimes.check(b).passed, b\n"
        "    assert main(['check', b, '-q']) == 0, b\n"
        "assert 'torch' not in [m for m, mod in sys.modules.items() if mod is not None]\n"
        "print('checked without torch')\n"
    )
    r = run_python(code)
    assert r.returncode == 0, r.stderr
    assert "checked without torch" in r.stdout
