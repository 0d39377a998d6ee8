"""The backend contract: a Session validates inputs once, then calls the backend's ``_infer``.

Like Polygraphy's runners: input/output metadata, ``run(dict[str, ndarray]) -> dict[str, ndarray]``,
a context manager. Backends implement ``_infer`` (and ``close``) only.

Input policy (documented, tested):
  * names must match the model's inputs exactly;
  * plain ``numpy.ndarray`` only: ``np.matrix``, masked arrays and other subclasses are refused
    (their arithmetic or their hidden values differ from what the backend sees; pass ``np.asarray(x)``
    or ``x.filled(v)``); ``np.memmap`` is read as the plain array it is;
  * dtype must match (no silent casts: a uint8 frame fed to a float model is a bug upstream);
  * rank and every static dim must match; symbolic dims (the batch, and the height and width of a model
    exported with them symbolic) accept any size >= 1;
  * empty arrays are refused; non-contiguous views are accepted (copied once);
  * NaN/Inf are refused by default (``allow_nonfinite=True`` lets them through), because a
    non-finite input silently poisons every output of most networks.

Bounds, checked before the backend allocates anything (``load(..., max_batch=N, max_input_bytes=N)``
or ``Session.set_limits`` change them):
  * ``max_batch`` (default 4096): the largest size of a symbolic leading (batch) dim;
  * ``max_input_bytes`` (default 1 GiB): the total bytes of the inputs of one call.
An out-of-memory failure inside the backend (``MemoryError``, ONNX Runtime's "Failed to allocate",
CUDA "out of memory") is raised as ``ResourceError``. Thread counts (``threads=``) must lie in
1..``max_threads()`` = max(64, 4 x CPUs).

``close()`` releases the backend; afterwards ``run`` and ``__call__`` raise ``SessionClosedError``.
It is idempotent and safe while other threads are inside ``run``: those calls finish on the
backend objects they already hold.
"""

from __future__ import annotations

import functools
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn, TypeGuard

import numpy as np

from runtimes.errors import EdgeSDKError, InputError, ManifestError, ResourceError, SessionClosedError
from runtimes.manifest import Manifest, TensorSpec

DEFAULT_MAX_BATCH = 4096
DEFAULT_MAX_INPUT_BYTES = 1 << 30
_OOM = re.compile(r"failed to allocate|bad_alloc|bad allocation|out of memory|cudaErrorMemoryAllocation",
                  re.IGNORECASE)


def max_threads() -> int:
    """The most intra-op threads a session may ask for: max(64, 4 x CPUs)."""
    return max(64, 4 * (os.cpu_count() or 1))


def check_threads(threads: Any, default: str | None = None) -> int:
    """``threads`` as an int in 1..max_threads(), else EdgeSDKError; with ``default`` (what 0 means, e.g. "ONNX
    Runtime's own defaults"), 0 is accepted too."""
    top = max_threads()
    low = 0 if default else 1
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or not low <= threads <= top:
        zero = f", or 0 for {default}" if default else ""
        raise EdgeSDKError(f"threads must be an integer from 1 to {top} (max(64, 4 x CPUs)){zero}, got {threads!r}")
    return int(threads)


def check_limit(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise EdgeSDKError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


@functools.cache
def _np_dtype(name: str) -> np.dtype[Any]:
    return np.dtype(name)


def _is_static(dim: int | str) -> TypeGuard[int]:
    return isinstance(dim, int) and dim > 0


@functools.cache
def _static_dims(shape: tuple[int | str, ...]) -> tuple[tuple[int, int], ...]:
    """(axis, size) of every static dim; symbolic dims (batch, height, width ...) accept any size."""
    return tuple((axis, want) for axis, want in enumerate(shape) if _is_static(want))


@functools.cache
def _symbolic_batch(shape: tuple[int | str, ...]) -> bool:
    return len(shape) > 0 and not _is_static(shape[0])


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int | str, ...]
    dtype: str

    @classmethod
    def from_spec(cls, spec: TensorSpec) -> TensorInfo:
        return cls(spec.name, tuple(spec.shape), spec.dtype)


FastRule = tuple[np.dtype[Any], tuple[int | str, ...], int, Callable[[np.ndarray], bool] | None]


def _fast_rule(t: TensorInfo) -> FastRule | None:
    """(dtype, the dims after the first, the first dim or 0 where it is symbolic, the NaN/Inf check its dtype
    needs or None) for Session._check's fast path: inputs whose dims after the first are all static (the first
    may be symbolic: the batch)."""
    shape = tuple(t.shape)
    if not shape or len(_static_dims(shape[1:])) != len(shape) - 1:
        return None
    try:
        dtype = np.dtype(t.dtype)
    except TypeError:
        return None
    first = shape[0]
    finite = (_blas_finite if dtype in _BLAS_FLOATS else all_finite) if dtype.kind == "f" else None
    return dtype, shape[1:], first if _is_static(first) else 0, finite  # shape[1:]: ints only (checked above)


def raise_closed() -> NoReturn:
    raise SessionClosedError("session is closed: load the model again to run it")


def is_out_of_memory(e: BaseException) -> bool:
    """Whether a backend exception is an allocation failure (host or device)."""
    return isinstance(e, MemoryError) or _OOM.search(str(e)) is not None


def resource_error(e: BaseException) -> ResourceError:
    text = " ".join(str(e).split())
    found = _OOM.search(text)  # ONNX Runtime's messages bury the cause after a C++ signature
    detail = text[found.start():found.start() + 160] if found else text[:200] or type(e).__name__
    return ResourceError(f"the backend ran out of memory for this call ({detail}); use a smaller batch "
                         "or free memory")


class Session:
    """A loaded model. Thread-safe: ``run`` may be called from several threads at once."""

    backend = "base"
    threads: int | None = None  # intra-op threads the backend runs with, where it decides them (onnxruntime)
    choice: dict[str, Any] | None = None  # how load() chose backend and threads (runtimes.autotune)
    probe: dict[str, Any] | None = None  # the measurements behind an automatic choice, where there were any
    max_batch: int = DEFAULT_MAX_BATCH
    max_input_bytes: int = DEFAULT_MAX_INPUT_BYTES
    _closed: bool = False

    def __init__(
        self,
        artifact: Path,
        inputs: list[TensorInfo],
        outputs: list[TensorInfo],
        manifest: Manifest | None = None,
        *,
        allow_nonfinite: bool = False,
    ) -> None:
        self.artifact = artifact
        self.inputs = inputs
        self.outputs = outputs
        self.manifest = manifest
        self.allow_nonfinite = allow_nonfinite
        self._by_name = {t.name: t for t in inputs}
        self._fast = {t.name: rule for t in inputs if (rule := _fast_rule(t)) is not None}
        if manifest is not None:
            check_manifest_matches(manifest, inputs, outputs, artifact.name)

    # -- public API -------------------------------------------------------------------------------
    def run(self, feed: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Run the model on named inputs; returns named outputs."""
        if self._closed:
            raise_closed()
        checked = self.check_inputs(feed)
        try:
            return self._infer(checked)
        except EdgeSDKError:
            raise
        except Exception as e:
            if is_out_of_memory(e):
                raise resource_error(e) from None
            raise

    def __call__(self, x: Any) -> np.ndarray:
        """Single-input, single-output shortcut: ``session(x) -> y``.

        A model with several inputs or outputs is refused (InputError) rather than answered in part:
        ``session.run({"input": x})`` returns every output by name, in the model's output order."""
        if self._closed:
            raise_closed()
        if len(self.inputs) != 1:
            raise InputError(f"this model has {len(self.inputs)} inputs; call run({{name: array}}) instead")
        if len(self.outputs) != 1:
            names = ", ".join(o.name for o in self.outputs)
            raise InputError(f"this model has {len(self.outputs)} outputs ({names[:200]}), and session(x) returns one "
                             f"array: call session.run({{{self.inputs[0].name!r}: x}}) to get all of them by name")
        checked = self._check(self.inputs[0], x)  # the name is right by construction: skip run()'s name checks
        try:
            return self._infer_single(checked)
        except EdgeSDKError:
            raise
        except Exception as e:
            if is_out_of_memory(e):
                raise resource_error(e) from None
            raise

    def set_limits(self, *, max_batch: int | None = None, max_input_bytes: int | None = None) -> None:
        """Change the per-call bounds (module docstring); ``None`` keeps a bound as it is."""
        if max_batch is not None:
            self.max_batch = check_limit("max_batch", max_batch)
        if max_input_bytes is not None:
            self.max_input_bytes = check_limit("max_input_bytes", max_input_bytes)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Release backend resources; later calls raise ``SessionClosedError``. Idempotent."""
        self._closed = True

    def __enter__(self) -> Session:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        ins = ", ".join(f"{t.name}{list(t.shape)}:{t.dtype}" for t in self.inputs)
        return f"<{type(self).__name__} {self.artifact.name} [{ins}]{' closed' if self._closed else ''}>"

    # -- validation -------------------------------------------------------------------------------
    def check_inputs(self, feed: Mapping[str, Any]) -> dict[str, np.ndarray]:
        if not isinstance(feed, Mapping):
            raise InputError(f"inputs must be a dict of name -> array, got {type(feed).__name__}")
        missing = sorted(set(self._by_name) - set(feed))
        unknown = sorted(set(feed) - set(self._by_name), key=str)
        if missing or unknown:
            raise InputError(
                f"input names: expected {sorted(self._by_name)}, got {sorted(feed, key=str)}"
                + (f" (missing {missing})" if missing else "") + (f" (unknown {unknown})" if unknown else "")
            )
        checked = {name: self._check(self._by_name[name], value) for name, value in feed.items()}
        if len(checked) > 1:
            total = sum(v.nbytes for v in checked.values())
            if total > self.max_input_bytes:
                raise InputError(f"inputs {sorted(checked)}: {total} bytes in all, over the limit of "
                                 f"{self.max_input_bytes} (load(..., max_input_bytes=N) raises it)")
        return checked

    def _check(self, spec: TensorInfo, value: Any) -> np.ndarray:
        rule = self._fast.get(spec.name)
        if rule is not None and type(value) is np.ndarray and value.dtype == rule[0]:
            shape = value.shape
            # fast path, about 1.5 us with the NaN/Inf check: a plain contiguous array of the right dtype whose
            # dims after the first match the model's static ones and whose first dim is the model's (static) or
            # within max_batch (symbolic); anything else takes the path below, which says what is wrong
            if (shape[1:] == rule[1] and len(shape) == len(rule[1]) + 1
                    and (shape[0] == rule[2] if rule[2] else 0 < shape[0] <= self.max_batch)
                    and value.flags.c_contiguous and value.nbytes <= self.max_input_bytes
                    and (self.allow_nonfinite or rule[3] is None or rule[3](value))):
                return value
        return self._check_slow(spec, value)

    def _check_slow(self, spec: TensorInfo, value: Any) -> np.ndarray:
        if type(value) is not np.ndarray:
            value = _plain_array(spec, value)
        if value.dtype != _np_dtype(spec.dtype):
            raise InputError(f"input {spec.name!r}: expected dtype {spec.dtype}, got {value.dtype}")
        if value.ndim != len(spec.shape):
            raise InputError(
                f"input {spec.name!r}: expected rank {len(spec.shape)} {list(spec.shape)}, "
                f"got rank {value.ndim} {list(value.shape)}"
            )
        for axis, want in _static_dims(spec.shape):
            if value.shape[axis] != want:
                raise InputError(
                    f"input {spec.name!r}: expected shape {list(spec.shape)}, got {list(value.shape)} "
                    f"(dim {axis} must be {want})"
                )
        if value.size == 0:
            raise InputError(f"input {spec.name!r}: empty array {list(value.shape)}")
        if value.nbytes > self.max_input_bytes:
            raise InputError(f"input {spec.name!r}: {list(value.shape)} {value.dtype} is {value.nbytes} bytes, over "
                             f"the limit of {self.max_input_bytes} (load(..., max_input_bytes=N) raises it)")
        if value.ndim and value.shape[0] > self.max_batch and _symbolic_batch(spec.shape):
            raise InputError(f"input {spec.name!r}: batch {value.shape[0]} is over the limit of {self.max_batch} "
                             "(split it, or load(..., max_batch=N) raises it)")
        out: np.ndarray = value if value.flags.c_contiguous else np.ascontiguousarray(value)
        if not self.allow_nonfinite and out.dtype.kind == "f" and not all_finite(out):
            raise InputError(
                f"input {spec.name!r}: contains NaN or Inf (refused by default; load(..., allow_nonfinite=True) "
                "to pass them through)"
            )
        return out

    # -- backend hooks ------------------------------------------------------------------------------
    def _infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _infer_single(self, x: np.ndarray) -> np.ndarray:
        """The first output for the (checked) single input; backends may skip the dict plumbing."""
        return self._infer({self.inputs[0].name: x})[self.outputs[0].name]


_BLAS_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def all_finite(value: np.ndarray) -> bool:
    """No NaN or Inf in a float array. For float32/float64 one BLAS dot first: the sum of squares is
    finite exactly when every element is, unless it overflows, and only then are the elements checked
    one by one (a few times faster than ``np.isfinite(x).all()`` on the inputs of one call)."""
    if value.dtype in _BLAS_FLOATS:
        return _blas_finite(value)
    return bool(np.isfinite(value).all())


def _blas_finite(value: np.ndarray) -> bool:
    """:func:`all_finite` for a C-contiguous float32/float64 array (the fast path knows its dtype already)."""
    flat = value.reshape(-1)  # a view (callers pass C-contiguous arrays); ndarray.dot: the least code per call
    return math.isfinite(flat.dot(flat)) or bool(np.isfinite(value).all())


def _plain_array(spec: TensorInfo, value: Any) -> np.ndarray:
    """A memmap as the plain array it is; other ndarray subclasses and non-arrays refused."""
    if isinstance(value, np.memmap):
        return value.view(np.ndarray)
    if isinstance(value, np.ndarray):
        hint = " or x.filled(value) for a masked array" if isinstance(value, np.ma.MaskedArray) else ""
        raise InputError(f"input {spec.name!r}: got a {type(value).__module__}.{type(value).__name__}, not a plain "
                         f"array; pass a plain numpy array (np.asarray(x){hint})")
    raise InputError(f"input {spec.name!r}: expected a numpy array, got {type(value).__name__}")


def check_manifest_matches(manifest: Manifest, inputs: list[TensorInfo], outputs: list[TensorInfo],
                           artifact: str) -> None:
    """The manifest's declared inputs/outputs against the model's own: names, order, dtypes, ranks,
    static dims (a static dim on one side and a symbolic one on the other differ). ManifestError if not."""
    fix = "the manifest does not describe this model; re-export the bundle"
    for kind, declared, actual in (("input", manifest.inputs, inputs), ("output", manifest.outputs, outputs)):
        if len(declared) != len(actual):
            raise ManifestError(f"manifest lists {len(declared)} {kind}s {[t.name for t in declared]}, {artifact} "
                                f"has {len(actual)} {[t.name for t in actual]}: {fix}")
        for i, (d, a) in enumerate(zip(declared, actual)):
            if d.name != a.name:
                raise ManifestError(f"manifest {kind} {i} is named {d.name!r}, {artifact} has {a.name!r}: {fix}")
            if d.dtype != a.dtype:
                raise ManifestError(f"{kind} {d.name!r}: manifest dtype {d.dtype}, {artifact} has {a.dtype}: {fix}")
            same = len(d.shape) == len(a.shape) and all(
                _is_static(x) == _is_static(y) and (not _is_static(x) or x == y) for x, y in zip(d.shape, a.shape))
            if not same:
                raise ManifestError(f"{kind} {d.name!r}: manifest shape {list(d.shape)}, {artifact} has "
                                    f"{list(a.shape)}: {fix}")
