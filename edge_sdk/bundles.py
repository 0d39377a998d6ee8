"""Find a bundle by path, or make one from a zoo name (cached), for samples, `run` and `demo`."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

from edge_sdk.errors import EdgeSDKError
from edge_sdk.zoo.registry import REGISTRY
from runtimes.engine_trust import cache_dir
from runtimes.errors import install_hint

__all__ = ["cache_dir", "resolve_bundle"]


def _is_current(bundle: Path, name: str) -> bool:
    """A cached export is reused only if it was made from the weights shipped now, is intact, and carries what
    exports make today: golden samples (every zoo model's fit; an export from before them lacks them, and then
    neither `edge-sdk check` nor the auto backend's accuracy gate could judge it)."""
    from runtimes.manifest import read_manifest, sha256_file, verified_artifact

    spec = REGISTRY[name]
    try:
        manifest = read_manifest(bundle)
        verified_artifact(bundle, manifest)
    except EdgeSDKError:
        return False
    if manifest.golden is None:
        return False
    return not spec.ships_weights or manifest.source_sha256 == sha256_file(spec.weights_path)


def resolve_bundle(model: str | os.PathLike[str], precision: str = "fp32", *, quiet: bool = True) -> Path:
    """A bundle directory or model file as given, or, for a zoo name, a cached validated export.

    Exporting needs the host install (torch); on a device, pass a bundle made on the host.
    """
    path = Path(model)
    if path.exists():
        return path
    name = str(model)
    if name not in REGISTRY:
        close = difflib.get_close_matches(name, list(REGISTRY), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise EdgeSDKError(f"{name!r} is neither a bundle path nor a zoo model{hint} (see: edge-sdk models)")
    out = cache_dir() / "bundles" / f"{name}-{precision}"
    if (out / "manifest.json").is_file() and _is_current(out, name):
        return out
    try:
        import torch  # noqa: F401  - export needs it; `converters` alone imports without it

        from converters import export
    except ImportError as e:  # pragma: no cover - thin install
        raise EdgeSDKError(f"making a bundle from {name!r} needs the host install ({install_hint('host')}); "
                           f"or pass a bundle directory exported elsewhere ({e})") from None
    return export(name, out, precision=precision, show_progress=not quiet,
                  log=(lambda m: None) if quiet else print)
