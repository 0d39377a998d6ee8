"""The bundle manifest: a JSON sidecar beside a plain artifact (``model.onnx``, ``model.engine``).

A bundle is a directory::

    model.onnx        the plain ONNX artifact (single file, dynamic batch)
    model.engine      optional TensorRT plan, built on the device (see ``engines``)
    manifest.json     this schema
    report.md         optional human-readable conversion report

Readers validate every field's type and refuse unknown schema versions, paths that leave the
bundle, and artifacts whose sha256 differs from the manifest: a stale or foreign artifact is
never run silently.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from runtimes.errors import ManifestError

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"
DTYPES = ("float32", "float16", "int64", "int32", "uint8", "int8", "uint16", "bool")


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
    preprocessing: dict[str, Any] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    calibration: dict[str, Any] | None = None
    parity: dict[str, Any] | None = None
    accuracy_override: bool = False
    engines: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["inputs"] = [t.to_json() for t in self.inputs]
        d["outputs"] = [t.to_json() for t in self.outputs]
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
            "extra": (dict, {}), "created": (str, ""),
        }
        for key, (typ, default) in optional.items():
            kwargs[key] = _expect(d[key], typ, key) if d.get(key) is not None else default
        for key in ("calibration", "parity"):
            kwargs[key] = _expect(d[key], dict, key) if d.get(key) is not None else None
        if not all(isinstance(lab, str) for lab in kwargs["labels"]):
            raise ManifestError("manifest field labels must be a list of strings")
        if not all(isinstance(e, dict) for e in kwargs["engines"]):
            raise ManifestError("manifest field engines must be a list of objects")
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


def inside(bundle: Path, relative: str, what: str) -> Path:
    """Resolve ``relative`` under ``bundle``; refuse absolute paths and paths that leave it."""
    target = (bundle / relative).resolve()
    if Path(relative).is_absolute() or not target.is_relative_to(bundle.resolve()):
        raise ManifestError(f"manifest {what} path {relative!r} points outside the bundle {bundle}")
    return target


def read_manifest(bundle: str | os.PathLike[str]) -> Manifest:
    bundle = Path(bundle)
    path = bundle / MANIFEST_NAME
    if not bundle.is_dir():
        raise ManifestError(f"bundle directory not found: {bundle}")
    if not path.is_file():
        raise ManifestError(
            f"{bundle} has no {MANIFEST_NAME}: not an edge-sdk bundle (create one with edge-sdk export)"
        )
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as e:  # bad JSON or UTF-8, over-long ints, absurd nesting
        raise ManifestError(f"{path} is not valid JSON: {str(e)[:200]}") from None
    return Manifest.from_json(obj)


def verified_artifact(bundle: str | os.PathLike[str], manifest: Manifest) -> Path:
    """The artifact's path, after checking it exists inside the bundle and matches its sha256."""
    bundle = Path(bundle)
    path = inside(bundle, manifest.artifact, "artifact")
    if not path.is_file():
        raise ManifestError(f"bundle {bundle} is missing its artifact {manifest.artifact}")
    digest = sha256_file(path)
    if digest != manifest.artifact_sha256:
        raise ManifestError(
            f"{path} does not match its manifest (sha256 {digest[:12]}… != {manifest.artifact_sha256[:12]}…): "
            "the artifact was changed after export; re-export the bundle"
        )
    return path
