"""``load(path, backend=...)``: a bundle directory or a bare ``.onnx`` / ``.engine`` file -> Session."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from runtimes import autotune
from runtimes.backends import AUTO_ORDER, BACKENDS, backend_class
from runtimes.errors import BackendUnavailableError, EdgeSDKError, ManifestError
from runtimes.manifest import MANIFEST_NAME, Manifest, inside, read_manifest, verified_artifact
from runtimes.recovery import recover_bundle
from runtimes.session import Session, check_limit

MEASURE_WITH = {"allow_nonfinite"}  # options every backend takes: any other option means "not auto-tuned"


def load(path: str | os.PathLike[str], backend: str = "auto", **options: Any) -> Session:
    """Load a model for inference.

    ``path``: a bundle directory (manifest checked, artifact hash verified) or a bare ``.onnx`` /
    ``.engine`` file. ``backend``: ``"auto"`` (TensorRT for engines; for ONNX the fastest of ONNX
    Runtime, OpenVINO and numpy at the thread settings worth trying, measured on first load and
    cached: :mod:`runtimes.autotune`), or one of ``"onnxruntime"``, ``"openvino"``, ``"tensorrt"``,
    ``"numpy"``. ``options`` go to the backend, e.g. ``threads=1`` (onnxruntime, openvino),
    ``spin=False``, ``providers=[...]``, ``engine_cache_dir=...`` (onnxruntime), ``cache=False``
    (openvino), ``rebuild=False`` (tensorrt), ``allow_nonfinite=True`` (all), and the per-call bounds
    ``max_batch=4096``, ``max_input_bytes=1 << 30`` (all; see ``runtimes.session``). A backend option
    with ``auto`` skips the measurement. ``session.choice`` says what was chosen and how.
    """
    path = Path(path)
    recover_bundle(path)  # an export killed while swapping bundles may have left this one renamed aside
    if backend != "auto" and backend not in BACKENDS:
        raise EdgeSDKError(f"unknown backend {backend!r}; choose auto, {', '.join(BACKENDS)}")
    limits = {k: options.pop(k) for k in ("max_batch", "max_input_bytes") if k in options}
    for key, value in limits.items():
        check_limit(key, value)  # refuse bad bounds before loading anything
    manifest: Manifest | None = None
    bundle: Path | None = None
    try:
        is_dir, is_file = path.is_dir(), path.is_file()
    except (OSError, ValueError) as e:  # a NUL byte, a name too long
        raise ManifestError(f"cannot use model path {str(path)[:200]!r}: {e}") from None
    if is_dir:
        bundle = path
        manifest = read_manifest(path)
        artifact = verified_artifact(path, manifest)
    elif is_file:
        if path.suffix not in AUTO_ORDER:
            raise ManifestError(f"{path}: expected a bundle directory, an .onnx or an .engine file")
        artifact = path
        sidecar = path.parent / MANIFEST_NAME
        if sidecar.is_file():
            m = read_manifest(path.parent)
            try:
                same = inside(path.parent, m.artifact, "artifact") == path.resolve()
            except ManifestError:  # the sidecar names some other (or no usable) file: not this model's
                same = False
            if same:
                manifest = m
                verified_artifact(path.parent, m)
    else:
        raise ManifestError(f"model not found: {path}")
    if backend == "auto" and artifact.suffix == ".onnx" and set(options) <= MEASURE_WITH and autotune.mode() != "off":
        def load_one(c: autotune.Candidate) -> Session:
            return backend_class(c.backend)(artifact, manifest, **c.options(), **options)  # type: ignore[no-any-return]

        chosen = autotune.choose(artifact, manifest, load_one)
        chosen.set_limits(**limits)
        return chosen
    names = AUTO_ORDER[artifact.suffix] if backend == "auto" else (backend,)
    if bundle is not None and "tensorrt" in names:
        options.setdefault("bundle", bundle)
    if backend == "tensorrt" and artifact.suffix == ".onnx" and bundle is None:
        raise ManifestError("the tensorrt backend builds engines from bundles; export one with edge-sdk export")
    errors: list[str] = []
    for name in names:
        cls = backend_class(name)
        try:
            session: Session = cls(artifact, manifest, **({k: v for k, v in options.items()
                                                           if k != "bundle" or name == "tensorrt"}))
            session.set_limits(**limits)
            session.choice = {"backend": name, "threads": session.threads, "spin": getattr(session, "spin", None),
                              "by": "default" if backend == "auto" else "request"}
            return session
        except BackendUnavailableError as e:
            if backend != "auto":
                raise
            errors.append(f"{name}: {e}")
    raise BackendUnavailableError("no backend can run " + str(path) + ": " + "; ".join(errors))


def available_backends() -> dict[str, str]:
    """Which backends can be imported here: name -> "ok" or the reason it cannot."""
    import importlib

    needs = {"onnxruntime": ("onnxruntime",), "openvino": ("openvino",), "numpy": ("onnx",),
             "tensorrt": ("tensorrt", "polygraphy")}
    out = {}
    for name, mods in needs.items():
        missing = []
        for m in mods:
            try:
                importlib.import_module(m)
            except ImportError:
                missing.append(m)
        out[name] = "ok" if not missing else f"missing {', '.join(missing)}"
    return out
