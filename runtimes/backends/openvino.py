"""OpenVINO backend (CPU): the bundle's ``model.onnx`` (FP32, FP16 or QDQ INT8) compiled by OpenVINO.

Optional: ``pip install -e '.[openvino]'``; imported only when this backend loads, and a missing
package raises ``BackendUnavailableError`` with that hint.

* The file is parsed by OpenVINO's ONNX frontend alone (``read_model`` would try every frontend it
  has on a file someone else made; this backend reads ONNX only).
* Configuration for latency: ``PERFORMANCE_HINT=LATENCY`` (one stream), ``INFERENCE_PRECISION_HINT=f32``
  (no silent bf16/fp16 on CPUs that have them: the bundle's parity report was measured in float32
  arithmetic outside its INT8 nodes), ``INFERENCE_NUM_THREADS=threads`` (default: OpenVINO's, every
  physical core). QDQ INT8 graphs run as INT8 kernels through OpenVINO's low-precision transformations.
* Compiling an INT8 graph takes seconds; compiled models are cached by OpenVINO in
  ``$EDGE_SDK_CACHE/openvino`` (``cache=False`` turns that off). The cache is keyed by OpenVINO on the
  model's content and the configuration, and lives in the user's cache directory, which no bundle writes.
* Batch 1 runs a static-shape compile: a model whose only symbolic dim is the batch is compiled for
  batch 1 at load (OpenVINO plans memory and picks kernels once for a static graph; a dynamic one
  re-infers shapes on every call: care-s0 at 224 x 224 runs 5-13 % faster static here). The first call
  with another batch size compiles the dynamic model too (seconds for INT8, once per session). Models
  with other symbolic dims (height, width) are compiled dynamic only.
* Thread-safe: each calling thread takes an idle infer request from a small pool (or makes one), so
  concurrent calls never share one. ``close()`` drops the compiled models; calls in flight finish on
  the objects they hold.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import Any

import numpy as np

from runtimes.errors import BackendUnavailableError, ManifestError, install_hint
from runtimes.manifest import Manifest
from runtimes.session import Session, TensorInfo, check_threads, is_out_of_memory, raise_closed, resource_error

CACHE_SUBDIR = "openvino"


def _import() -> Any:
    try:
        import openvino
    except ImportError:
        raise BackendUnavailableError("the openvino backend needs OpenVINO: " + install_hint("openvino")) from None
    return openvino


@functools.cache
def _core() -> Any:
    """One OpenVINO Core per process (it holds the loaded plugins)."""
    return _import().Core()


@functools.cache
def _onnx_frontend() -> Any:
    from openvino.frontend import FrontEndManager

    return FrontEndManager().load_by_framework("onnx")


def version() -> str | None:
    """OpenVINO's version string, or None where it is not installed (reads package metadata only)."""
    from importlib import metadata

    try:
        return metadata.version("openvino")
    except metadata.PackageNotFoundError:
        return None


def _info(port: Any, declared: str | None) -> TensorInfo:
    name = declared if declared is not None and declared in port.get_names() else str(port.get_any_name())
    shape = tuple(d.get_length() if d.is_static else "?" for d in port.get_partial_shape())
    return TensorInfo(name, shape, np.dtype(port.get_element_type().to_dtype()).name)


def _batch1_shapes(model: Any) -> list[list[int]] | None:
    """Each input's shape with batch 1, where the first dim is the only symbolic one in every input; else None."""
    shapes = []
    for port in model.inputs:
        dims = list(port.get_partial_shape())
        if not dims or dims[0].is_static or not all(d.is_static for d in dims[1:]):
            return None
        shapes.append([1, *(d.get_length() for d in dims[1:])])
    return shapes


def _batch(values: list[np.ndarray]) -> int:
    """The batch of a call: 1 only when every input's first dim is 1 (the static compile's shapes)."""
    return 1 if all(v.ndim and v.shape[0] == 1 for v in values) else 0


def _load_error(artifact: Path, e: Exception) -> Exception:
    if is_out_of_memory(e):
        return resource_error(e)
    lines = [s for s in str(e).strip().splitlines() if s.strip() and not s.startswith("Exception from")]
    detail = (lines[-1] if lines else type(e).__name__)[:300]
    return ManifestError(f"openvino cannot load {artifact}: {detail}")


class OpenVINOSession(Session):
    backend = "openvino"

    def __init__(
        self,
        artifact: Path,
        manifest: Manifest | None = None,
        *,
        threads: int | None = None,
        cache: bool = True,
        allow_nonfinite: bool = False,
    ) -> None:
        if threads is not None:
            threads = check_threads(threads)
        _import()
        config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
        if threads is not None:
            config["INFERENCE_NUM_THREADS"] = threads
        if cache:
            from runtimes.engine_trust import cache_dir

            path = cache_dir() / CACHE_SUBDIR
            try:
                path.mkdir(parents=True, exist_ok=True)
                config["CACHE_DIR"] = str(path)
            except OSError:
                pass  # an unwritable cache only costs compile time
        try:
            fe = _onnx_frontend()
            model = fe.convert(fe.load(str(artifact)))
            batch1 = _batch1_shapes(model)
            if batch1 is not None:
                static = model.clone()
                static.reshape({port: _import().PartialShape(shape) for port, shape in zip(static.inputs, batch1)})
                compiled = _core().compile_model(static, "CPU", config)
            else:
                compiled = _core().compile_model(model, "CPU", config)
        except Exception as e:  # OpenVINO raises RuntimeError / GeneralFailure for files it cannot use
            raise _load_error(artifact, e) from None
        self.threads = int(compiled.get_property("INFERENCE_NUM_THREADS")) or threads
        declared_in = [t.name for t in manifest.inputs] if manifest is not None else []
        declared_out = [t.name for t in manifest.outputs] if manifest is not None else []
        # the model's own (symbolic) dims: what calls may send, whichever compile runs them
        inputs = [_info(p, declared_in[i] if i < len(declared_in) else None) for i, p in enumerate(model.inputs)]
        outputs = [_info(p, declared_out[i] if i < len(declared_out) else None)
                   for i, p in enumerate(model.outputs)]
        super().__init__(artifact, inputs, outputs, manifest, allow_nonfinite=allow_nonfinite)
        self._out_names = [t.name for t in outputs]
        # one reference to what a call needs: close() drops it, calls in flight keep theirs.
        # (batch-1 compiled model and its idle requests, or None; the dynamic ones, compiled on first need)
        first = (compiled, [compiled.create_infer_request()])
        self._state: dict[str, Any] | None = {"static": first if batch1 is not None else None,
                                               "dynamic": None if batch1 is not None else first,
                                               "model": model if batch1 is not None else None, "config": config}
        self._compile_lock = threading.Lock()

    def _request(self, batch: int) -> tuple[list[Any], Any]:
        state = self._state
        if state is None:
            raise_closed()
        pool = state["static"] if batch == 1 and state["static"] is not None else state["dynamic"]
        if pool is None:
            pool = self._compile_dynamic(state)
        compiled, idle = pool
        try:
            return idle, idle.pop()  # list.pop/append are atomic: no two threads get the same request
        except IndexError:
            return idle, compiled.create_infer_request()

    def _compile_dynamic(self, state: dict[str, Any]) -> tuple[Any, list[Any]]:
        """The model with its symbolic batch, compiled on the first call that needs it (once)."""
        with self._compile_lock:
            if state["dynamic"] is None:
                try:
                    compiled = _core().compile_model(state["model"], "CPU", state["config"])
                except Exception as e:
                    raise _load_error(self.artifact, e) from None
                state["dynamic"] = (compiled, [])
            pool: tuple[Any, list[Any]] = state["dynamic"]
            return pool

    def _infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        values = [feed[t.name] for t in self.inputs]
        idle, request = self._request(_batch(values))
        try:
            result = request.infer(values, share_inputs=True)
            return {name: result[i] for i, name in enumerate(self._out_names)}
        finally:
            idle.append(request)

    def _infer_single(self, x: np.ndarray) -> np.ndarray:
        idle, request = self._request(x.shape[0] if x.ndim else 1)
        try:
            out: np.ndarray = request.infer(x, share_inputs=True)[0]  # outputs are copied (share_outputs=False)
            return out
        finally:
            idle.append(request)

    def close(self) -> None:
        """Drop the compiled models and their requests. Idempotent."""
        self._closed = True
        self._state = None
