"""Which TensorRT engines this device built itself: the only ones the runtime will deserialize.

A TensorRT plan is a program (GPU kernels, and for version-compatible plans host code the runtime
must be allowed to run), not data. A bundle may come from someone else, so an engine that arrives
inside it is never loaded, however well its manifest entry matches: the runtime rebuilds it from
the bundle's ONNX (or, with ``rebuild=False``, refuses with the reason). Every engine edge-sdk
builds is recorded here by its sha256, in ``$EDGE_SDK_CACHE/trusted-engines.json`` (default
``~/.cache/edge-sdk``), a file no bundle can write.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

TRUST_FILE = "trusted-engines.json"
MAX_ENTRIES = 4096  # the newest are kept
MAX_FILE_BYTES = 1 << 20


def cache_dir() -> Path:
    """``$EDGE_SDK_CACHE`` or ``~/.cache/edge-sdk``."""
    return Path(os.environ.get("EDGE_SDK_CACHE") or Path.home() / ".cache" / "edge-sdk")


def _read(path: Path) -> list[str]:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return []
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    items = data.get("sha256") if isinstance(data, dict) else None
    return [s for s in items if isinstance(s, str)] if isinstance(items, list) else []


def is_trusted(sha256: str) -> bool:
    """True if this device's edge-sdk built the engine with this sha256."""
    return bool(sha256) and sha256 in _read(cache_dir() / TRUST_FILE)


def remember(sha256: str) -> None:
    """Record an engine this device just built (atomic write; a failure only costs a rebuild later)."""
    path = cache_dir() / TRUST_FILE
    known = [s for s in _read(path) if s != sha256] + [sha256]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{TRUST_FILE}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"sha256": known[-MAX_ENTRIES:]}, f)
        os.replace(tmp, path)
    except OSError:
        pass
