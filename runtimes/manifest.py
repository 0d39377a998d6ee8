"""The bundle manifest: a JSON sidecar beside a plain artifact (``model.onnx``, ``model.engine``).

A bundle is a directory::

    model.onnx        the plain ONNX artifact (single file, dynamic batch)
    model.engine      optional TensorRT plan, built on the device (see ``engines``)
    manifest.json     this schema
    report.md         optional human-readable conversion report

Readers validate every field's type and refuse unknown schema versions, paths that leave the
bundle, and artifacts whose sha256 differs from the manifest: a stale or foreign artifact is
never run silently.

* ``manifest.json`` is read only if it is a regular file of at most ``MAX_MANIFEST_BYTES`` (16 MiB;
  ``read_manifest(..., max_bytes=N)``): a FIFO, a device or a huge file is refused before reading.
* ``artifact`` must be a relative ``.onnx`` / ``.engine`` file name inside the bundle (no NUL byte, at
  most 1024 characters, not the manifest, not a directory).
* ``artifact_files`` (optional, added in schema 1; older manifests omit it): every file the ONNX
  artifact reads besides itself (external weights), path relative to the artifact's directory ->
  sha256, as :func:`artifact_dependencies` computes it at export. At load every external file the
  ONNX references must be listed there, lie inside the bundle and match its hash.
* ``task_output`` (optional): the output a task's pipeline reads when there are several (a classifier's
  logits), declared at export (``--task-output``); absent means the first output.
* ``scores`` (optional): what the task output of a classifier holds, ``logits`` (a pipeline applies softmax)
  or ``probabilities`` (used as they are), declared at export (``--scores``); absent means logits.
* ``golden`` (optional): the golden samples ``edge-sdk check`` runs (``runtimes.golden``): ``file`` (a
  ``.npz`` in the bundle) and its ``sha256``, verified when the file is read, plus informative fields.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from runtimes.errors import ManifestError

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"
DTYPES = ("float32", "float16", "int64", "int32", "uint8", "int8", "uint16", "bool")
MAX_MANIFEST_BYTES = 16 << 20
ARTIFACT_SUFFIXES = (".onnx", ".engine")
MAX_PATH_CHARS = 1024
_SHA256 = re.compile(r"[0-9a-f]{64}")
SCORES = ("logits", "probabilities")  # what a classifier's task output holds (manifest field scores)


@dataclass(frozen=True)
class TensorSpec:
    """One input or output: name, shape (ints, or strings for symbolic dims like "batch"), dtype."""

    name: str
    shape: tuple[int | str, ...]
    dtype: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}

    @classmethod
    def from_json(cls, obj: Any, where: str) -> TensorSpec:
        d = _expect(obj, dict, where)
        name = _expect(d.get("name"), str, f"{where}.name")
        shape = _expect(d.get("shape"), list, f"{where}.shape")
        for i, s in enumerate(shape):
            if isinstance(s, bool) or not isinstance(s, (int, str)) or (isinstance(s, int) and s < 0):
                raise ManifestError(f"manifest field {where}.shape[{i}] must be a non-negative int or a name")
        dtype = _expect(d.get("dtype"), str, f"{where}.dtype")
        if dtype not in DTYPES:
            raise ManifestError(f"manifest field {where}.dtype: unsupported dtype {dtype!r}")
        return cls(name=name, shape=tuple(shape), dtype=dtype)


@dataclass
class Manifest:
    model: str
    task: str
    precision: str
    artifact: str
    artifact_sha256: str
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    opset: int
    sdk_version: str
    source_sha256: str = ""
    artifact_files: dict[str, str] = field(default_factory=dict)
    preprocessing: dict[str, Any] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)
    task_output: str = ""  # the output the task's pipeline reads (a classifier's logits); "" = the first output
    scores: str = ""  # what a classifier's task output holds: one of SCORES; "" = logits (softmax applied)
    versions: dict[str, str] = field(default_factory=dict)
    calibration: dict[str, Any] | None = None
    parity: dict[str, Any] | None = None
    accuracy_override: bool = False
    engines: list[dict[str, Any]] = field(default_factory=list)
    golden: dict[str, Any] | None = None  # golden samples for the device self-check: file, sha256 (runtimes.golden)
    extra: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["inputs"] = [t.to_json() for t in self.inputs]
        d["outputs"] = [t.to_json() for t in self.outputs]
        if not self.artifact_files:  # manifests without external data stay as they were
            del d["artifact_files"]
        if self.golden is None:
            del d["golden"]
        if not self.task_output:
            del d["task_output"]
        if not self.scores:
            del d["scores"]
        return d

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=False, allow_nan=False) + "\n"

    @classmethod
    def from_json(cls, obj: Any) -> Manifest:
        d = _expect(obj, dict, "manifest")
        version = d.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ManifestError(
                f"manifest schema_version is {version!r}, this edge-sdk reads {SCHEMA_VERSION}; "
                "re-export the bundle with this version (edge-sdk export)"
            )
        str_fields = ("model", "task", "precision", "artifact", "artifact_sha256", "sdk_version")
        kwargs: dict[str, Any] = {k: _expect(d.get(k), str, k) for k in str_fields}
        kwargs["opset"] = _expect(d.get("opset"), int, "opset")
        for key in ("inputs", "outputs"):
            items = _expect(d.get(key), list, key)
            if not items:
                raise ManifestError(f"manifest field {key} is empty")
            kwargs[key] = [TensorSpec.from_json(t, f"{key}[{i}]") for i, t in enumerate(items)]
        optional: dict[str, tuple[type, Any]] = {
            "source_sha256": (str, ""), "preprocessing": (dict, {}), "labels": (list, []),
            "versions": (dict, {}), "accuracy_override": (bool, False), "engines": (list, []),
            "extra": (dict, {}), "created": (str, ""), "artifact_files": (dict, {}),
            "task_output": (str, ""), "scores": (str, ""),
        }
        for key, (typ, default) in optional.items():
            kwargs[key] = _expect(d[key], typ, key) if d.get(key) is not None else default
        for key in ("calibration", "parity", "golden"):
            kwargs[key] = _expect(d[key], dict, key) if d.get(key) is not None else None
        golden = kwargs["golden"]
        if golden is not None and (not isinstance(golden.get("file"), str)
                                   or not _SHA256.fullmatch(str(golden.get("sha256")))):
            raise ManifestError("manifest field golden must name a file and its sha256 hex string; "
                                "re-export the bundle")
        if kwargs["task_output"] and kwargs["task_output"] not in [t.name for t in kwargs["outputs"]]:
            raise ManifestError(f"manifest field task_output {kwargs['task_output'][:100]!r} names no output")
        if kwargs["scores"] and kwargs["scores"] not in SCORES:
            raise ManifestError(f"manifest field scores must be {' or '.join(SCORES)}, got {kwargs['scores'][:40]!r}")
        if not all(isinstance(lab, str) for lab in kwargs["labels"]):
            raise ManifestError("manifest field labels must be a list of strings")
        if not all(isinstance(e, dict) for e in kwargs["engines"]):
            raise ManifestError("manifest field engines must be a list of objects")
        for name, digest in kwargs["artifact_files"].items():
            if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
                raise ManifestError(f"manifest field artifact_files[{name!r}] must be a sha256 hex string")
        return cls(**kwargs)


def _expect(value: Any, typ: type, where: str) -> Any:
    if typ is int and isinstance(value, bool) or not isinstance(value, typ):
        got = "missing" if value is None else type(value).__name__
        raise ManifestError(f"manifest field {where} must be {typ.__name__}, got {got}")
    return value


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _open_regular(path: Path, what: str) -> IO[bytes]:
    """``path`` opened for reading if it is a regular file; never blocks on a FIFO. ManifestError if not."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ManifestError(f"{what} {path} does not exist") from None
    except (OSError, ValueError) as e:
        raise ManifestError(f"cannot read {what} {path}: {getattr(e, 'strerror', None) or e}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
            raise ManifestError(f"{what} {path} is {kind}")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _hash_regular(path: Path, what: str) -> str:
    h = hashlib.sha256()
    with _open_regular(path, what) as f:
        try:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        except OSError as e:
            raise ManifestError(f"cannot read {what} {path}: {e.strerror or e}") from None
    return h.hexdigest()


def _resolve_inside(root: Path, relative: str, what: str) -> Path:
    if not relative or "\0" in relative or len(relative) > MAX_PATH_CHARS \
            or any(len(part) > 255 for part in relative.split("/")):
        shown = relative[:60] + ("…" if len(relative) > 60 else "")
        raise ManifestError(f"{what} {shown!r} is not a usable file name (empty, a NUL byte, or over "
                            f"{MAX_PATH_CHARS} characters); re-export the bundle")
    try:
        target = (root / relative).resolve()
        base = root.resolve()
    except (OSError, RuntimeError, ValueError) as e:  # symlink loops (RuntimeError before Python 3.13)
        raise ManifestError(f"{what} {relative!r} cannot be resolved in {root}: {e}; re-export the bundle") from None
    if Path(relative).is_absolute() or not target.is_relative_to(base):
        raise ManifestError(f"{what} {relative!r} points outside the bundle {root}")
    return target


def inside(bundle: Path, relative: str, what: str) -> Path:
    """Resolve ``relative`` under ``bundle``; refuse absolute paths and paths that leave it."""
    return _resolve_inside(bundle, relative, f"manifest {what} path")


def read_manifest(bundle: str | os.PathLike[str], *, max_bytes: int = MAX_MANIFEST_BYTES) -> Manifest:
    """Read and validate ``bundle/manifest.json`` (a regular file of at most ``max_bytes``)."""
    bundle = Path(bundle)
    path = bundle / MANIFEST_NAME
    try:
        is_dir = bundle.is_dir()
    except (OSError, ValueError):
        is_dir = False
    if not is_dir:
        raise ManifestError(f"bundle directory not found: {bundle}")
    try:
        f = _open_regular(path, "manifest")
    except ManifestError:
        if not os.path.lexists(path):
            raise ManifestError(
                f"{bundle} has no {MANIFEST_NAME}: not an edge-sdk bundle (create one with edge-sdk export)"
            ) from None
        raise
    with f:
        size = os.fstat(f.fileno()).st_size
        try:
            data = f.read(max_bytes + 1) if size <= max_bytes else b""
        except OSError as e:
            raise ManifestError(f"cannot read manifest {path}: {e.strerror or e}") from None
    if size > max_bytes or len(data) > max_bytes:
        raise ManifestError(f"{path} is {max(size, len(data))} bytes, over the {max_bytes}-byte limit for a "
                            "manifest: not an edge-sdk manifest (read_manifest(..., max_bytes=N) raises the limit)")
    try:
        obj = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as e:  # bad JSON or UTF-8, over-long ints, absurd nesting
        raise ManifestError(f"{path} is not valid JSON: {str(e)[:200]}") from None
    return Manifest.from_json(obj)


def verified_artifact(bundle: str | os.PathLike[str], manifest: Manifest) -> Path:
    """The artifact's path, after checking it is a regular .onnx / .engine file inside the bundle whose
    sha256 matches the manifest, and that every external-data file it reads is listed and matches too."""
    bundle = Path(bundle)
    name = manifest.artifact
    path = inside(bundle, name, "artifact")
    if Path(name).suffix not in ARTIFACT_SUFFIXES:
        raise ManifestError(f"manifest artifact {name[:100]!r} is not an .onnx or .engine file; re-export the bundle")
    if path == (bundle / MANIFEST_NAME).resolve():
        raise ManifestError(f"manifest artifact {name!r} is the manifest itself; re-export the bundle")
    if not os.path.lexists(path):
        raise ManifestError(f"bundle {bundle} is missing its artifact {name}")
    digest, maybe_external = _hash_artifact(path)
    if digest != manifest.artifact_sha256:
        raise ManifestError(
            f"{path} does not match its manifest (sha256 {digest[:12]}… != {manifest.artifact_sha256[:12]}…): "
            "the artifact was changed after export; re-export the bundle"
        )
    if path.suffix == ".onnx" and (maybe_external or manifest.artifact_files):
        _verify_dependencies(bundle, path, manifest)
    return path


def _hash_artifact(path: Path) -> tuple[str, bool]:
    """sha256 of the artifact, and whether it may reference external data (the protobuf key "location"
    occurs in it: only then is the ONNX parsed, so loads of ordinary models need not import onnx)."""
    h = hashlib.sha256()
    found, tail = False, b""
    with _open_regular(path, "artifact") as f:
        try:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
                found = found or b"location" in tail + chunk[:16] or b"location" in chunk
                tail = chunk[-16:]
        except OSError as e:
            raise ManifestError(f"cannot read artifact {path}: {e.strerror or e}") from None
    return h.hexdigest(), found


def _load_graph(onnx_path: Path) -> Any:
    import onnx

    try:
        return onnx.load(str(onnx_path), load_external_data=False)
    except Exception as e:  # DecodeError and friends
        detail = str(e).splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise ManifestError(f"cannot load {onnx_path}: not a valid ONNX file ({detail})") from None


def _external_locations(model: Any) -> set[str]:
    """Every external-data location in the model: initializers, sparse initializers, tensors in node
    attributes, subgraphs and functions, recursively."""
    from onnx import AttributeProto, TensorProto

    found: set[str] = set()

    def tensor(t: Any) -> None:
        if t.data_location == TensorProto.EXTERNAL:
            loc = next((e.value for e in t.external_data if e.key == "location"), None)
            if loc is None:
                raise ManifestError(f"tensor {t.name!r} is stored externally without a location; re-export the model")
            found.add(loc)

    def sparse(s: Any) -> None:
        tensor(s.values)
        tensor(s.indices)

    def nodes(ns: Any) -> None:
        for n in ns:
            for a in n.attribute:
                if a.type == AttributeProto.TENSOR:
                    tensor(a.t)
                elif a.type == AttributeProto.TENSORS:
                    for t in a.tensors:
                        tensor(t)
                elif a.type == AttributeProto.SPARSE_TENSOR:
                    sparse(a.sparse_tensor)
                elif a.type == AttributeProto.SPARSE_TENSORS:
                    for st in a.sparse_tensors:
                        sparse(st)
                elif a.type == AttributeProto.GRAPH:
                    graph(a.g)
                elif a.type == AttributeProto.GRAPHS:
                    for g in a.graphs:
                        graph(g)

    def graph(g: Any) -> None:
        for t in g.initializer:
            tensor(t)
        for st in g.sparse_initializer:
            sparse(st)
        nodes(g.node)

    graph(model.graph)
    for fn in model.functions:
        nodes(fn.node)
    return found


def artifact_dependencies(onnx_path: str | os.PathLike[str]) -> dict[str, str]:
    """Every file an ONNX model reads besides itself (external data), as {path relative to the model's
    directory: sha256}; {} for a self-contained model. For ``Manifest.artifact_files`` at export."""
    onnx_path = Path(onnx_path)
    out: dict[str, str] = {}
    for loc in sorted(_external_locations(_load_graph(onnx_path))):
        out[loc] = _hash_regular(_resolve_inside(onnx_path.parent, loc, f"{onnx_path.name} external data"),
                                 "external data file")
    return out


def _verify_dependencies(bundle: Path, onnx_path: Path, manifest: Manifest) -> None:
    refs = _external_locations(_load_graph(onnx_path))
    listed = manifest.artifact_files
    unlisted = sorted(refs - set(listed))
    if unlisted:
        raise ManifestError(f"{onnx_path.name} reads external data {unlisted[0]!r}, which its manifest does not "
                            "list (artifact_files): the bundle was changed after export; re-export the bundle")
    base = onnx_path.parent
    for loc in sorted(set(listed) | refs):
        path = _resolve_inside(base, loc, f"{onnx_path.name} external data")
        if not path.is_relative_to(bundle.resolve()):
            raise ManifestError(f"{onnx_path.name} external data {loc!r} points outside the bundle {bundle}")
        digest = _hash_regular(path, "external data file")
        if digest != listed[loc]:
            raise ManifestError(
                f"{path} does not match its manifest (sha256 {digest[:12]}… != {listed[loc][:12]}…): the weights "
                "were changed after export; re-export the bundle"
            )
