"""ONNX Runtime backend: CPU always; CUDA and TensorRT execution providers where onnxruntime-gpu has them.

Session options: full graph optimisation, sequential execution, one inter-op thread. ``threads=N``
(1..max(64, 4 x CPUs)) sets the intra-op threads and ``spin=False`` makes idle ones sleep at once
instead of spin-waiting for the next call (ONNX Runtime's ``session.intra_op.allow_spinning``).
``threads=0`` leaves the thread pool to ONNX Runtime's own defaults, as a bare ``InferenceSession`` has
it: one intra-op thread per physical core, pinned to the cores, spin-waiting (``session.threads`` is then 0).
``load(path)`` (backend ``auto``) measures which setting is fastest for the model on this machine
(:mod:`runtimes.autotune`). Without a measurement the intra-op threads follow the model's size: one
thread for small models (the conservative choice on a busy machine: thread hand-off and spinning
cost more than they save on a few million MACs when other jobs hold the cores), every core for
large ones.

``close()`` drops the session's references to the ONNX Runtime session, which frees it once calls
already in flight (they hold their own reference) return.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from runtimes.errors import BackendUnavailableError, ManifestError
from runtimes.manifest import Manifest
from runtimes.session import Session, TensorInfo, check_threads, is_out_of_memory, raise_closed, resource_error

_ORT_DTYPES = {
    "tensor(float)": "float32", "tensor(float16)": "float16", "tensor(int64)": "int64", "tensor(int32)": "int32",
    "tensor(uint8)": "uint8", "tensor(int8)": "int8", "tensor(uint16)": "uint16", "tensor(bool)": "bool",
}


SMALL_MODEL_BYTES = 4 << 20  # below this artifact size a model is "small": one intra-op thread


def default_threads(artifact_bytes: int = 0) -> int:
    if artifact_bytes < SMALL_MODEL_BYTES:
        return 1
    return max(1, min(8, os.cpu_count() or 1))


class OnnxRuntimeSession(Session):
    backend = "onnxruntime"

    def __init__(
        self,
        artifact: Path,
        manifest: Manifest | None = None,
        *,
        providers: list[str] | None = None,
        threads: int | None = None,
        spin: bool | None = None,
        engine_cache_dir: str | os.PathLike[str] | None = None,
        allow_nonfinite: bool = False,
    ) -> None:
        if threads is not None:
            threads = check_threads(threads, default="ONNX Runtime's own defaults")
        try:
            import onnxruntime as ort
        except ImportError:
            raise BackendUnavailableError(
                "the onnxruntime backend needs onnxruntime: pip install onnxruntime (onnxruntime-gpu on CUDA; "
                "Jetson: the wheel from the Jetson Zoo / jetson-ai-lab index)"
            ) from None
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        if threads != 0:  # ONNX Runtime's defaults leave both pools alone (0: one thread per physical core, pinned)
            opts.inter_op_num_threads = 1
            opts.intra_op_num_threads = threads or default_threads(Path(artifact).stat().st_size)
        self.threads = opts.intra_op_num_threads
        if spin is not None:  # idle intra-op threads spin-wait for work (ORT's default) or sleep at once
            opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        self.spin = spin
        opts.log_severity_level = 3
        available = ort.get_available_providers()
        chosen = providers or [p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider") if p in available]
        chosen = [p for p in chosen if p != "CPUExecutionProvider"] + ["CPUExecutionProvider"]
        unknown = [p for p in chosen if p not in available]
        if unknown:
            raise BackendUnavailableError(
                f"execution providers {unknown} are not in this onnxruntime build (available: {available})"
            )
        provider_opts: list[dict[str, Any]] = []
        for p in chosen:
            if p == "TensorrtExecutionProvider":
                cache = Path(engine_cache_dir or Path.home() / ".cache" / "edge-sdk" / "ort-trt")
                cache.mkdir(parents=True, exist_ok=True)
                provider_opts.append({"trt_engine_cache_enable": True, "trt_engine_cache_path": str(cache),
                                      "trt_timing_cache_enable": True, "trt_fp16_enable": False})
            else:
                provider_opts.append({})
        try:
            self._sess = ort.InferenceSession(str(artifact), opts, providers=chosen, provider_options=provider_opts)
        except Exception as e:  # ORT raises its own exception types for bad files
            if is_out_of_memory(e):
                raise resource_error(e) from None
            detail = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
            raise ManifestError(f"onnxruntime cannot load {artifact}: {detail}") from None
        self.providers = self._sess.get_providers()
        self._outputs = [o.name for o in self._sess.get_outputs()]
        self._first_output = self._outputs[:1]
        # InferenceSession.run re-validates input names in Python before calling its C++ session; the
        # Session base class has already checked names, dtypes and shapes, so single-input calls go to the
        # C++ run directly (about 1 us per call: a quarter of the wrapper's cost on a 383-parameter MLP).
        # Same signature: (output_names, feed, run_options). None once closed.
        inner = getattr(self._sess, "_sess", None)
        self._direct_run: Any = getattr(inner, "run", None) or self._sess.run
        # a failing run (out of memory) raises, and the CLI prints that as one line: no duplicate ORT log line
        self._run_options = ort.RunOptions()
        self._run_options.log_severity_level = 4

        def info(v: Any) -> TensorInfo:
            shape = tuple(d if isinstance(d, int) else str(d) for d in v.shape)
            return TensorInfo(v.name, shape, _ORT_DTYPES.get(v.type, v.type))

        super().__init__(artifact, [info(v) for v in self._sess.get_inputs()],
                         [info(v) for v in self._sess.get_outputs()], manifest, allow_nonfinite=allow_nonfinite)

    def _infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        # InferenceSession.run is thread-safe; no lock needed. A local reference keeps it alive across close().
        sess = self._sess
        if sess is None:
            raise_closed()
        values = sess.run(self._outputs, feed, self._run_options)
        return {name: np.asarray(v) for name, v in zip(self._outputs, values)}

    def _infer_single(self, x: np.ndarray) -> np.ndarray:
        run = self._direct_run  # one read: a concurrent close() cannot pull it away mid-call
        if run is None:
            raise_closed()
        out: np.ndarray = run(self._first_output, {self.inputs[0].name: x}, self._run_options)[0]
        return out

    def close(self) -> None:
        """Drop the ONNX Runtime session: freed once calls in flight return. Idempotent."""
        self._closed = True
        self._direct_run = None
        self._sess = None
