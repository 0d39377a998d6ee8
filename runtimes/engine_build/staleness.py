"""Whether a built engine still fits: its manifest entry (the ONNX file's hash, TensorRT version, GPU, and
the build options that change the plan) compared with what this machine has and what is asked for, so a
stale engine is rebuilt rather than used."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runtimes.engine_build.profiles import Shape, manifest_sizes, profile_shapes, profiles_json
from runtimes.gpu import gpu_info
from runtimes.manifest import Manifest


def _version_tuple(version: str) -> tuple[int, ...]:
    out = []
    for part in version.split(".")[:3]:
        digits = "".join(ch for ch in part if ch.isdigit())
        out.append(int(digits) if digits else 0)
    return tuple(out)


def engine_key_matches(
    entry: dict[str, Any],
    *,
    onnx_sha256: str,
    tensorrt_version: str | None = None,
    compute_capability: str | None = None,
    wanted: Mapping[str, Any] | None = None,
) -> tuple[bool, str]:
    """Whether a manifest engine entry still fits this ONNX file, TensorRT version and GPU, and the
    build options in ``wanted`` (only those given: e.g. ``{"dla_core": 0, "profiles": ...}``, see
    :func:`wanted_options`), so an engine built with other options is rebuilt rather than used.

    Returns ``(True, "")`` or ``(False, reason)``. The TensorRT version and compute capability are only
    compared where TensorRT is importable / a GPU is found (a host without them can still check the hash).
    A version-compatible plan is accepted by any TensorRT of the same major version at least as new.
    ``tensorrt_version`` / ``compute_capability`` default to what this machine has.
    """
    name = entry.get("file", "engine")
    if entry.get("source_sha256") != onnx_sha256:
        return False, f"{name} was built from a different ONNX file (source sha256 differs): rebuild it"
    for key, value in (wanted or {}).items():
        if entry.get(key) != value:
            return False, f"{name} was built with {key}={entry.get(key)!r}, {value!r} is asked for: rebuild it"
    if tensorrt_version is None:
        try:
            import tensorrt
        except ImportError:
            return True, ""
        tensorrt_version = str(tensorrt.__version__)
    built, here = str(entry.get("tensorrt_version", "")), tensorrt_version
    if entry.get("version_compatible"):
        b, h = _version_tuple(built), _version_tuple(here)
        if not b or b[0] != h[0] or h < b:
            return False, (
                f"{name} is version-compatible from TensorRT {built or '?'}, which does not cover TensorRT {here}: "
                "rebuild it"
            )
    elif _version_tuple(built) != _version_tuple(here):
        return False, f"{name} was built with TensorRT {built or '?'}, this machine has {here}: rebuild it"
    cap = compute_capability or gpu_info()["compute_capability"]
    if cap != "unknown" and entry.get("compute_capability") != cap:
        return False, (
            f"{name} was built for compute capability {entry.get('compute_capability', '?')} "
            f"({entry.get('gpu_name', '?')}), this GPU is {cap}: rebuild it"
        )
    return True, ""


def wanted_options(
    manifest: Manifest,
    *,
    precision: str | None = None,
    max_batch: int | None = None,
    opt_batch: int | None = None,
    min_shapes: Mapping[str, Shape] | None = None,
    opt_shapes: Mapping[str, Shape] | None = None,
    max_shapes: Mapping[str, Shape] | None = None,
    dla_core: int | None = None,
    gpu_fallback: bool | None = None,
) -> dict[str, Any]:
    """The engine-key fields a caller asked for (None: not asked, any built value will do), in the form
    :func:`build_engine` records them; profiles are computed from the manifest's inputs, without TensorRT."""
    out: dict[str, Any] = {}
    if precision is not None:
        out["precision"] = precision
    if any(v is not None for v in (max_batch, opt_batch, min_shapes, opt_shapes, max_shapes)):
        inputs = [(t.name, [d if isinstance(d, int) else None for d in t.shape]) for t in manifest.inputs]
        out["profiles"] = profiles_json(profile_shapes(
            inputs, max_batch=max_batch or 32, opt_batch=opt_batch or 1, min_shapes=min_shapes,
            opt_shapes=opt_shapes, max_shapes=max_shapes, sizes=manifest_sizes(manifest)))
    if dla_core is not None:
        out["dla_core"] = dla_core
    if gpu_fallback is not None:
        out["gpu_fallback"] = gpu_fallback
    return out
