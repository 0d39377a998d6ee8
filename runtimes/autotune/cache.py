"""The autotune cache file (``$EDGE_SDK_CACHE/autotune.json``): the key a decision is stored under (the
artifact's hash, backend versions, CPU model and cores), read defensively (unreadable, oversized,
malformed or foreign content is ignored; an entry can only select a candidate built in code), written
atomically, and summarised for ``edge-sdk doctor``."""

from __future__ import annotations

import functools
import hashlib
import json
import math
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from runtimes.atomic import atomic_write_text
from runtimes.autotune.candidates import Candidate, candidates, mode, usable_cores
from runtimes.engine_trust import cache_dir
from runtimes.manifest import Manifest, sha256_file

CACHE_FILE = "autotune.json"
SCHEMA = "edge-sdk-autotune/2"  # 2: decisions by runtimes.autotune.decision; /1 files (lowest median) are probed again
MAX_ENTRIES = 512  # the newest decisions are kept
MAX_FILE_BYTES = 1 << 20
CHOICE_KEYS = ("backend", "threads", "spin")


def _dist_version(*names: str) -> str | None:
    for name in names:
        try:
            return f"{name} {metadata.version(name)}"
        except metadata.PackageNotFoundError:
            continue
    return None


@functools.cache
def versions() -> dict[str, str | None]:
    """The versions a decision depends on (package metadata: imports nothing)."""
    return {"onnxruntime": _dist_version("onnxruntime", "onnxruntime-gpu"), "openvino": _dist_version("openvino"),
            "numpy": np.__version__}


@functools.cache
def _cpu() -> str:
    from runtimes.cpuinfo import cpu_name

    return cpu_name()


def cache_file() -> Path:
    return cache_dir() / CACHE_FILE


def cache_key(artifact: Path, manifest: Manifest | None) -> str:
    """sha256 over the artifact's hash (and its external files'), backend versions, CPU model and cores."""
    digest = manifest.artifact_sha256 if manifest is not None and manifest.artifact_sha256 else sha256_file(artifact)
    files = sorted((manifest.artifact_files or {}).items()) if manifest is not None else []
    ident = {"schema": SCHEMA, "artifact": digest, "files": files, "cpu": _cpu(), "cores": usable_cores(),
             "versions": versions()}
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()


def read_entries(path: Path | None = None) -> dict[str, dict[str, Any]]:
    """The cache's entries (key -> record); {} for a missing, oversized, malformed or foreign file."""
    path = path or cache_file()
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return {}
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    entries = data.get("entries") if isinstance(data, dict) and data.get("schema") == SCHEMA else None
    if not isinstance(entries, dict):
        return {}
    return {k: v for k, v in entries.items() if isinstance(k, str) and isinstance(v, dict)}


def cached_choice(entry: dict[str, Any] | None, cands: list[Candidate]) -> Candidate | None:
    """The candidate an entry names, compared as data with the candidates built here; else None."""
    choice = entry.get("choice") if entry is not None else None
    if not isinstance(choice, dict) or set(choice) != set(CHOICE_KEYS):
        return None
    return next((c for c in cands if c.as_json() == choice and all(type(choice[k]) is type(v) for k, v in
                                                                    c.as_json().items())), None)


def figures(entry: dict[str, Any]) -> dict[str, float]:
    """An entry's median ms per candidate label, keeping only plain finite numbers (at most 32)."""
    ms = entry.get("ms")
    if not isinstance(ms, dict):
        return {}
    out = {k[:80]: float(v) for k, v in ms.items()
           if isinstance(k, str) and type(v) in (int, float) and math.isfinite(v) and v >= 0}
    return dict(list(out.items())[:32])


def summary(path: Path | None = None) -> dict[str, Any]:
    """For ``edge-sdk doctor``: the cache file, its entries and each one's choice and figures."""
    path = path or cache_file()
    rows = []
    for key, entry in read_entries(path).items():
        choice = cached_choice(entry, candidates())
        name = entry.get("artifact")
        rows.append({"key": key[:16], "artifact": name[:120] if isinstance(name, str) else "?",
                     "choice": choice.label if choice else "(not usable here)", "ms": figures(entry)})
    return {"path": str(path), "exists": path.is_file(), "mode": mode(), "entries": rows}


def remember(key: str, record: dict[str, Any]) -> None:
    """Add one decision (atomic write; the newest MAX_ENTRIES kept). A failure only costs a probe later."""
    path = cache_file()
    entries = read_entries(path)
    entries.pop(key, None)
    entries[key] = record
    kept = dict(list(entries.items())[-MAX_ENTRIES:])
    try:
        atomic_write_text(path, json.dumps({"schema": SCHEMA, "entries": kept}, indent=1) + "\n")
    except OSError:
        pass
