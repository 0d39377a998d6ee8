"""Never run a stranger's code: hostile .pt2 archives, and bundles whose manifest names code.

Every payload would create a marker file if it ran; each test asserts the marker is absent. The
archives are real: a small program saved with ``torch.export.save``, then rewritten the way an
attacker would (pickled weights/constants/objects/example inputs, legacy entries, a sympy
expression, a parameter name or guard that turns into Python source, a non-ATen call target).
"""

from __future__ import annotations

import io
import json
import pickle
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from edge_sdk.errors import EdgeSDKError, WeightsError
from tests.reliability.conftest import assert_one_line_error

Entries = dict[str, bytes]


class Payload:
    """Unpickling this creates ``marker`` (``open(marker, "w")``), then fails or yields a non-tensor."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (self.marker, "w"))


def torch_bytes(obj: object) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


@pytest.fixture(scope="module")
def good_pt2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2)).eval()
    ep = torch.export.export(net, (torch.randn(2, 6),), dynamic_shapes=({0: torch.export.Dim("batch")},))
    path = tmp_path_factory.mktemp("pt2") / "net.pt2"
    torch.export.save(ep, str(path))
    return path


def rewrite(src: Path, dst: Path, edit: Callable[[Entries], None]) -> Path:
    """Copy a .pt2 with ``edit`` applied to its entries (names without the archive's root folder)."""
    with zipfile.ZipFile(src) as z:
        raw = {i.filename: z.read(i) for i in z.infolist()}
    root = next(iter(raw)).split("/")[0]
    entries = {k.split("/", 1)[1]: v for k, v in raw.items()}
    edit(entries)
    with zipfile.ZipFile(dst, "w") as z:
        for k, v in entries.items():
            z.writestr(f"{root}/{k}", v)
    return dst


def _program(e: Entries) -> dict:  # type: ignore[type-arg]
    return json.loads(e["models/model.json"])  # type: ignore[no-any-return]


def pickled_weight(m: Path) -> Callable[[Entries], None]:
    def edit(e: Entries) -> None:
        cfg = json.loads(e["data/weights/model_weights_config.json"])
        cfg["config"]["0.weight"]["use_pickle"] = True
        e["data/weights/model_weights_config.json"] = json.dumps(cfg).encode()
        e["data/weights/" + cfg["config"]["0.weight"]["path_name"]] = torch_bytes(Payload(m))
    return edit


def pickled_constant(m: Path) -> Callable[[Entries], None]:
    def edit(e: Entries) -> None:
        e["data/constants/model_constants_config.json"] = json.dumps({"config": {"c": {
            "path_name": "tensor_0", "is_param": False, "use_pickle": True, "tensor_meta": None}}}).encode()
        e["data/constants/tensor_0"] = torch_bytes(Payload(m))
    return edit


def opaque_object(m: Path) -> Callable[[Entries], None]:
    def edit(e: Entries) -> None:
        e["data/constants/model_constants_config.json"] = json.dumps({"config": {"c": {
            "path_name": "opaque_obj_0", "is_param": False, "use_pickle": True, "tensor_meta": None}}}).encode()
        e["data/constants/opaque_obj_0"] = pickle.dumps(Payload(m))
    return edit


def pickled_sample_inputs(m: Path) -> Callable[[Entries], None]:
    def edit(e: Entries) -> None:
        e["data/sample_inputs/model.pt"] = torch_bytes(Payload(m))
    return edit


def legacy_weights(m: Path) -> Callable[[Entries], None]:
    def edit(e: Entries) -> None:
        del e["data/weights/model_weights_config.json"]
        e["data/weights/model.pt"] = torch_bytes(Payload(m))
    return edit


def sympy_expression(m: Path) -> Callable[[Entries], None]:
    def edit(e: Entries) -> None:  # sympy.sympify evals the string
        text = e["models/model.json"].decode()
        assert '"expr_str": "Symbol(' in text
        e["models/model.json"] = text.replace(
            '"expr_str": "Symbol(', f'"expr_str": "__import__(\'builtins\').open(\'{m}\', \'w\') and Symbol(').encode()
    return edit


def parameter_name(m: Path) -> Callable[[Entries], None]:
    def edit(e: Entries) -> None:  # FX writes getattr(..., "NAME") into the module's Python source
        evil = json.dumps(f'0.x") if open("{m}", "w") is None else getattr(self, "z')
        for k in ("models/model.json", "data/weights/model_weights_config.json"):
            e[k] = e[k].decode().replace('"0.weight"', evil).encode()
    return edit


def guard_code(m: Path) -> Callable[[Entries], None]:
    def edit(e: Entries) -> None:  # ExportedProgram.module() exec's guards_code
        p = _program(e)
        p["guards_code"] = [f"__import__('builtins').open('{m}', 'w') is not None"]
        e["models/model.json"] = json.dumps(p).encode()
    return edit


def call_target(m: Path) -> Callable[[Entries], None]:
    def edit(e: Entries) -> None:  # the deserializer resolves targets by getattr from torch: torch.os.system
        p = _program(e)
        p["graph_module"]["graph"]["nodes"].insert(0, {
            "target": "torch.os.system", "inputs": [{"name": "", "arg": {"as_string": f"touch {m}"}, "kind": 1}],
            "outputs": [], "metadata": {}, "is_hop_single_tensor_return": None, "name": "evil"})
        e["models/model.json"] = json.dumps(p).encode()
    return edit


VECTORS = {
    "pickled-weight": (pickled_weight, "data/weights/weight_0"),
    "pickled-constant": (pickled_constant, "data/constants/tensor_0"),
    "opaque-object": (opaque_object, "opaque_obj_0"),
    "pickled-sample-inputs": (pickled_sample_inputs, "data/sample_inputs/model.pt"),
    "legacy-weights-file": (legacy_weights, "data/weights/model.pt"),
    "sympy-expression": (sympy_expression, "symbolic expression"),
    "parameter-name": (parameter_name, "bad entry"),
    "guard-code": (guard_code, None),
    "call-target": (call_target, "torch.os.system"),
}


def legacy_archive(m: Path, good: Path, dst: Path) -> Path:
    """The torch 2.7 layout torch.export.load still falls back to: top-level serialized_*.pt pickles."""
    from torch._export.serde.schema import SCHEMA_VERSION

    with zipfile.ZipFile(good) as z:
        program = z.read(next(n for n in z.namelist() if n.endswith("models/model.json")))
    with zipfile.ZipFile(dst, "w") as z:
        z.writestr("version", ".".join(map(str, SCHEMA_VERSION)))
        z.writestr("serialized_exported_program.json", program)
        z.writestr("serialized_state_dict.pt", torch_bytes(Payload(m)))
        z.writestr("serialized_constants.pt", b"")
        z.writestr("serialized_example_inputs.pt", b"")
    return dst


@pytest.mark.parametrize("vector", list(VECTORS))
def test_hostile_pt2_never_runs_its_payload(cli, good_pt2, tmp_path, vector) -> None:
    make, needle = VECTORS[vector]
    marker = tmp_path / "PWNED"
    evil = rewrite(good_pt2, tmp_path / "evil.pt2", make(marker))
    r = cli("export", evil, "-o", tmp_path / "b", "-q")
    assert not marker.exists(), f"the {vector} payload ran"
    if vector == "guard-code":  # the guard is simply never run: the program itself is plain
        assert r.code == 0, r.err
        return
    line = assert_one_line_error(r, "evil.pt2", "re-save it with torch.export.save")
    assert needle in line
    if "pickled" in vector or vector in ("opaque-object", "legacy-weights-file"):
        assert "refused: .pt2 archives with pickled entries can run code" in line
    assert not (tmp_path / "b").exists()


def test_legacy_layout_is_refused(cli, good_pt2, tmp_path) -> None:
    marker = tmp_path / "PWNED"
    evil = legacy_archive(marker, good_pt2, tmp_path / "old.pt2")
    r = cli("export", evil, "-o", tmp_path / "b", "-q")
    assert not marker.exists()
    assert_one_line_error(r, "old.pt2")
    assert not (tmp_path / "b").exists()


def test_hostile_pt2_api_raises_weights_error(good_pt2, tmp_path) -> None:
    from converters import export

    marker = tmp_path / "PWNED"
    evil = rewrite(good_pt2, tmp_path / "evil.pt2", pickled_weight(marker))
    with pytest.raises(WeightsError, match="pickled"):
        export(evil, tmp_path / "b", show_progress=False, log=lambda m: None)
    assert not marker.exists()


def test_duplicate_entries_are_refused(cli, good_pt2, tmp_path) -> None:
    """Two entries with one name: Python's and torch's zip readers could pick different ones."""
    dst = tmp_path / "dup.pt2"
    shutil.copy(good_pt2, dst)
    with zipfile.ZipFile(good_pt2) as z:
        name = next(n for n in z.namelist() if n.endswith("model_weights_config.json"))
        text = z.read(name)
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(dst, "a") as z:
        z.writestr(name, text)
    assert_one_line_error(cli("export", dst, "-o", tmp_path / "b", "-q"), "two entries with one name")


def test_pt2_zip_bomb_is_refused_before_inflating(cli, good_pt2, tmp_path, monkeypatch) -> None:
    """An entry of 1 GiB of zeros deflates to ~1 MB; reading the archive would allocate all of it. The limit
    (4 GiB by default) is lowered to 256 MiB here so the bomb stays quick to make."""
    import resource

    monkeypatch.setenv("EDGE_SDK_MAX_PT2_BYTES", str(256 << 20))
    dst = tmp_path / "bomb.pt2"
    shutil.copy(good_pt2, dst)
    with zipfile.ZipFile(good_pt2) as z:
        root = z.namelist()[0].split("/", 1)[0]
    chunk = b"\0" * (64 << 20)
    with zipfile.ZipFile(dst, "a", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z, \
            z.open(f"{root}/data/weights/weight_9", "w", force_zip64=True) as f:
        for _ in range(16):  # 1 GiB
            f.write(chunk)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert_one_line_error(cli("export", dst, "-o", tmp_path / "b", "-q"), "over the limit", "EDGE_SDK_MAX_PT2_BYTES")
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 512, f"peak memory grew by {grown_mib:.0f} MiB while refusing"
    assert not (tmp_path / "b").exists()


def test_plain_pt2_still_exports(cli, good_pt2, tmp_path) -> None:
    r = cli("export", good_pt2, "-o", tmp_path / "b", "-q", "--json")
    assert r.code == 0, r.err
    assert r.json()["manifest"]["inputs"][0]["shape"] == ["batch", 6]


# --- validate: a bundle's manifest names code; validate must not run it -----------------------------

NET = '''
import torch

def make():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(9, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3)).eval()
'''


@pytest.fixture(scope="module")
def factory_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(bundle exported from net.py:make, net.py)."""
    from converters import export

    d = tmp_path_factory.mktemp("factory")
    (d / "net.py").write_text(NET)
    out = export(f"{d / 'net.py'}:make", d / "b", input_shape=(1, 9), show_progress=False, log=lambda m: None)
    return out, d / "net.py"


def received(bundle: Path, tmp_path: Path, source: dict) -> Path:  # type: ignore[type-arg]
    """A copy of ``bundle`` whose manifest names ``source`` (as a bundle from someone else might)."""
    b = tmp_path / "received"
    shutil.copytree(bundle, b)
    m = json.loads((b / "manifest.json").read_text())
    m["extra"]["source"] = source
    (b / "manifest.json").write_text(json.dumps(m))
    return b


def test_validate_never_imports_a_factory_named_by_the_manifest(cli, factory_bundle, tmp_path) -> None:
    bundle, _ = factory_bundle
    marker = tmp_path / "PWNED"
    (tmp_path / "evil.py").write_text(f"open({str(marker)!r}, 'w')\nimport torch\nmake = lambda: torch.nn.Identity()\n")
    b = received(bundle, tmp_path, {"kind": "factory", "path": str(tmp_path / "evil.py"), "factory": "make"})
    line = assert_one_line_error(cli("validate", b), "--model", "evil.py:make")
    assert "never runs code" in line
    assert not marker.exists()


def test_validate_never_loads_a_pt2_named_by_the_manifest(cli, factory_bundle, good_pt2, tmp_path) -> None:
    bundle, _ = factory_bundle
    marker = tmp_path / "PWNED"
    evil = rewrite(good_pt2, tmp_path / "evil.pt2", pickled_weight(marker))
    b = received(bundle, tmp_path, {"kind": "exported-program", "path": str(evil)})
    assert_one_line_error(cli("validate", b), "--model")
    assert not marker.exists()


def test_validate_with_the_named_source_works(cli, factory_bundle, tmp_path) -> None:
    bundle, net = factory_bundle
    marker = tmp_path / "PWNED"
    (tmp_path / "evil.py").write_text(f"open({str(marker)!r}, 'w')\n")
    b = received(bundle, tmp_path, {"kind": "factory", "path": str(tmp_path / "evil.py"), "factory": "make"})
    r = cli("validate", b, "--model", f"{net}:make", "--json")
    assert r.code == 0, r.err
    assert r.json()["passed"] and not marker.exists()


def test_validate_refuses_another_source(cli, factory_bundle, tmp_path) -> None:
    bundle, _ = factory_bundle
    (tmp_path / "other.py").write_text(NET.replace("manual_seed(0)", "manual_seed(1)"))
    assert_one_line_error(cli("validate", bundle, "--model", f"{tmp_path / 'other.py'}:make"),
                          "is not the source this bundle was exported from")


def test_validate_zoo_name_outside_the_zoo(cli, factory_bundle, tmp_path) -> None:
    bundle, _ = factory_bundle
    b = received(bundle, tmp_path, {"kind": "zoo", "name": "../../evil"})
    assert_one_line_error(cli("validate", b), "not in this edge-sdk's zoo")


def test_validate_api_needs_model(factory_bundle, tmp_path) -> None:
    from converters import validate

    bundle, net = factory_bundle
    with pytest.raises(EdgeSDKError, match="--model"):
        validate(bundle)
    assert validate(bundle, model=f"{net}:make").passed
