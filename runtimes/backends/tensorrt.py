"""Native TensorRT backend: a plain ``model.engine`` run with the TensorRT 10 tensor-address API.

* The engine is checked against the bundle manifest's key (TensorRT version, GPU compute
  capability, ONNX hash), and it must have been built on this device (``runtimes.engine_trust``:
  an engine that arrived inside a bundle is a program from someone else and is rebuilt, not run).
  A missing or stale engine is built on first load from the bundle's ONNX
  with the same function ``edge-sdk build`` uses, and the plan and manifest are written atomically.
  ``rebuild=False`` refuses a stale engine with the reason instead.
* Inference: ``set_input_shape`` + ``set_tensor_address`` + ``execute_async_v3`` on a CUDA stream.
  Device memory and streams come from Polygraphy's CUDA wrapper (ctypes over libcudart): no torch,
  no pycuda. One execution context, guarded by a lock, so ``run`` is thread-safe.
* ``close()`` takes the same lock, so it waits for a call in flight, then frees the device buffers,
  the stream, the context and the engine; later calls raise ``SessionClosedError``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from runtimes.engine_trust import is_trusted
from runtimes.errors import BackendUnavailableError, ManifestError, install_hint
from runtimes.manifest import MANIFEST_NAME, Manifest, sha256_file
from runtimes.session import Session, TensorInfo, raise_closed

if TYPE_CHECKING:
    import tensorrt as trt

ENGINE_NAME = "model.engine"


def _import_tensorrt() -> None:
    try:
        import tensorrt  # noqa: F401
        from polygraphy import cuda  # noqa: F401
    except ImportError as e:
        raise BackendUnavailableError(
            f"the tensorrt backend needs TensorRT and Polygraphy ({e.name} is missing). On Jetson TensorRT ships "
            "with JetPack; elsewhere: pip install tensorrt, then " + install_hint("tensorrt")
        ) from None


def ensure_engine(
    bundle: Path, manifest: Manifest, *, rebuild: bool = True, log: Callable[[str], None] = print, **build: Any
) -> tuple[Path, dict[str, Any]]:
    """The bundle's engine, (re)built from its ONNX when missing or stale; returns (path, entry).

    ``build``: :func:`runtimes.engine_build.build_engine` options; those that change the plan (shapes,
    batch, DLA core, GPU fallback) are compared with the engine's recorded ones, and a mismatch rebuilds it.
    """
    from runtimes.engine_build import (
        build_engine,
        check_bundle_precision,
        engine_key_matches,
        manifest_sizes,
        wanted_options,
    )

    onnx_path = bundle / manifest.artifact
    engine_path = bundle / ENGINE_NAME
    entry = next((e for e in manifest.engines if e.get("file") == ENGINE_NAME), None)
    check_bundle_precision(manifest.precision)
    keyed = ("max_batch", "opt_batch", "min_shapes", "opt_shapes", "max_shapes", "dla_core", "gpu_fallback")
    wanted = wanted_options(manifest, **{k: build[k] for k in keyed if k in build})
    build.setdefault("sizes", manifest_sizes(manifest))
    reason = "no engine built yet"
    if entry is not None and engine_path.is_file():
        ok, reason = engine_key_matches(entry, onnx_sha256=manifest.artifact_sha256, wanted=wanted)
        digest = sha256_file(engine_path)
        if ok and digest == entry.get("sha256"):
            if is_trusted(digest):
                return engine_path, entry
            reason = (f"{ENGINE_NAME} was not built on this device (an engine is a program, so edge-sdk only loads "
                      "engines it built here)")
        reason = reason or f"{ENGINE_NAME} does not match its manifest hash"
    if not rebuild:
        raise ManifestError(f"{bundle}: {reason}; rebuild with: edge-sdk build {bundle}")
    log(f"{bundle}: {reason}; building engine, may take minutes")
    entry = build_engine(onnx_path, engine_path, precision=manifest.precision, log=log, **build)
    manifest.engines = [e for e in manifest.engines if e.get("file") != ENGINE_NAME] + [entry]
    from runtimes.atomic import atomic_write_text

    atomic_write_text(bundle / MANIFEST_NAME, manifest.dumps())
    return engine_path, entry


class TensorRTSession(Session):
    backend = "tensorrt"

    def __init__(
        self,
        artifact: Path,
        manifest: Manifest | None = None,
        *,
        bundle: Path | None = None,
        rebuild: bool = True,
        allow_nonfinite: bool = False,
        log: Callable[[str], None] = print,
        build: dict[str, Any] | None = None,
    ) -> None:
        """``build``: engine build options for a missing or stale engine (``runtimes.engine_build.build_engine``),
        e.g. ``load(bundle, backend="tensorrt", build={"dla_core": 0, "gpu_fallback": True})``; an engine
        built with other plan-changing options (shapes, DLA) is rebuilt."""
        _import_tensorrt()
        import tensorrt as trt
        from polygraphy import cuda

        entry: dict[str, Any] = {}
        if manifest is not None and bundle is not None:
            artifact, entry = ensure_engine(bundle, manifest, rebuild=rebuild, log=log, **(build or {}))
        elif artifact.suffix != ".engine":
            raise ManifestError(f"the tensorrt backend loads .engine files or bundles, not {artifact.name}")
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        if entry.get("version_compatible"):
            self._runtime.engine_host_code_allowed = True
        if isinstance(entry.get("dla_core"), int):
            self._runtime.DLA_core = entry["dla_core"]  # a DLA engine runs on the core it was built for
        engine = self._runtime.deserialize_cuda_engine(artifact.read_bytes())
        if engine is None:
            raise ManifestError(f"TensorRT could not deserialize {artifact} (built by another TensorRT version "
                                "or for another GPU?)")
        self._engine: trt.ICudaEngine | None = engine
        context = engine.create_execution_context()
        if context is None:
            raise BackendUnavailableError("TensorRT could not create an execution context (out of GPU memory?)")
        self._context: trt.IExecutionContext | None = context
        self._stream: Any = cuda.Stream()
        self._buffers: dict[str, Any] = {}
        self._lock = threading.Lock()
        dtypes = {trt.DataType.FLOAT: "float32", trt.DataType.HALF: "float16", trt.DataType.INT8: "int8",
                  trt.DataType.INT32: "int32", trt.DataType.INT64: "int64", trt.DataType.BOOL: "bool",
                  trt.DataType.UINT8: "uint8"}
        inputs: list[TensorInfo] = []
        outputs: list[TensorInfo] = []
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            dtype = dtypes.get(engine.get_tensor_dtype(name))
            if dtype is None:
                raise ManifestError(f"tensor {name!r} has a TensorRT type numpy cannot hold")
            dims = engine.get_tensor_shape(name)
            shape = tuple("batch" if dims[k] < 0 else int(dims[k]) for k in range(len(dims)))
            info = TensorInfo(name, shape, dtype)
            (inputs if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT else outputs).append(info)
        super().__init__(artifact, inputs, outputs, manifest, allow_nonfinite=allow_nonfinite)

    def _buffer(self, name: str, shape: tuple[int, ...], dtype: str) -> Any:
        from polygraphy import cuda

        buf = self._buffers.get(name)
        if buf is None:
            buf = self._buffers[name] = cuda.DeviceArray(shape=shape, dtype=np.dtype(dtype))
        else:
            buf.resize(shape)
        return buf

    def _infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with self._lock:
            context = self._context
            if context is None:
                raise_closed()
            for spec in self.inputs:
                host = feed[spec.name]
                if not context.set_input_shape(spec.name, tuple(host.shape)):
                    raise ManifestError(f"input {spec.name!r} shape {list(host.shape)} is outside the engine's "
                                        "optimisation profile (rebuild with a larger max batch)")
                buf = self._buffer(spec.name, tuple(host.shape), spec.dtype)
                buf.copy_from(host, stream=self._stream)
                context.set_tensor_address(spec.name, buf.ptr)
            results: dict[str, np.ndarray] = {}
            for spec in self.outputs:
                dims = context.get_tensor_shape(spec.name)
                shape = tuple(int(dims[k]) for k in range(len(dims)))
                buf = self._buffer(spec.name, shape, spec.dtype)
                context.set_tensor_address(spec.name, buf.ptr)
                results[spec.name] = np.empty(shape, dtype=spec.dtype)
            if not context.execute_async_v3(self._stream.ptr):
                raise BackendUnavailableError("TensorRT execution failed (see the TensorRT log above)")
            for spec in self.outputs:
                self._buffers[spec.name].copy_to(results[spec.name], stream=self._stream)
            self._stream.synchronize()
        return results

    def close(self) -> None:
        """Wait for a call in flight (the inference lock), then free buffers, stream, context and engine.
        Idempotent; later calls raise SessionClosedError."""
        with self._lock:
            if self._context is None:
                return
            self._closed = True
            for buf in self._buffers.values():
                buf.free()
            self._buffers.clear()
            self._stream.free()
            self._context = None  # the context before the engine it came from
            self._engine = None
