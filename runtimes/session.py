"""The backend contract: a Session validates inputs once, then calls the backend's ``_infer``.

Like Polygraphy's runners: input/output metadata, ``run(dict[str, ndarray]) -> dict[str, ndarray]``,
a context manager. Backends implement ``_infer`` (and ``close``) only.

Input policy (documented, tested):
  * names must match the model's inputs exactly;
  * dtype must match (no silent casts: a uint8 frame fed to a float model is a bug upstream);
  * rank and every static dim must match; symbolic dims (the batch) accept any size >= 1;
  * empty arrays are refused; non-contiguous views are accepted (copied once);
  * NaN/Inf are refused by default (``allow_nonfinite=True`` lets them through), because a
    non-finite input silently poisons every output of most networks.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from runtimes.errors import InputError
from runtimes.manifest import Manifest, TensorSpec


@functools.cache
def _np_dtype(name: str) -> np.dtype[Any]:
    return np.dtype(name)


@functools.cache
def _static_dims(shape: tuple[int | str, ...]) -> tuple[tuple[int, int], ...]:
    """(axis, size) of every static dim; symbolic dims (the batch) accept any size."""
    return tuple((axis, want) for axis, want in enumerate(shape) if isinstance(want, int) and want > 0)


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int | str, ...]
    dtype: str

    @classmethod
    def from_spec(cls, spec: TensorSpec) -> TensorInfo:
        return cls(spec.name, tuple(spec.shape), spec.dtype)


class Session:
    """A loaded model. Thread-safe: ``run`` may be called from several threads at once."""

    backend = "base"
    threads: int | None = None  # intra-op threads the backend runs with, where it decides them (onnxruntime)

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

    # -- public API -------------------------------------------------------------------------------
    def run(self, feed: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Run the model on named inputs; returns named outputs."""
        return self._infer(self.check_inputs(feed))

    def __call__(self, x: Any) -> np.ndarray:
        """Single-input, single-output shortcut: ``session(x) -> y``."""
        if len(self.inputs) != 1:
            raise InputError(f"this model has {len(self.inputs)} inputs; call run({{name: array}}) instead")
        spec = self.inputs[0]  # the name is right by construction: skip run()'s name checks, not _check
        return self._infer_single(self._check(spec, x))

    def close(self) -> None:
        """Release backend resources. Idempotent."""

    def __enter__(self) -> Session:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        ins = ", ".join(f"{t.name}{list(t.shape)}:{t.dtype}" for t in self.inputs)
        return f"<{type(self).__name__} {self.artifact.name} [{ins}]>"

    # -- validation -------------------------------------------------------------------------------
    def check_inputs(self, feed: Mapping[str, Any]) -> dict[str, np.ndarray]:
        if not isinstance(feed, Mapping):
            raise InputError(f"inputs must be a dict of name -> array, got {type(feed).__name__}")
        missing = sorted(set(self._by_name) - set(feed))
        unknown = sorted(set(feed) - set(self._by_name))
        if missing or unknown:
            raise InputError(
                f"input names: expected {sorted(self._by_name)}, got {sorted(feed)}"
                + (f" (missing {missing})" if missing else "") + (f" (unknown {unknown})" if unknown else "")
            )
        return {name: self._check(self._by_name[name], value) for name, value in feed.items()}

    def _check(self, spec: TensorInfo, value: Any) -> np.ndarray:
        if not isinstance(value, np.ndarray):
            raise InputError(f"input {spec.name!r}: expected a numpy array, got {type(value).__name__}")
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
        if not self.allow_nonfinite and value.dtype.kind == "f" and not np.isfinite(value).all():
            raise InputError(
                f"input {spec.name!r}: contains NaN or Inf (refused by default; load(..., allow_nonfinite=True) "
                "to pass them through)"
            )
        return value if value.flags.c_contiguous else np.ascontiguousarray(value)

    # -- backend hooks ------------------------------------------------------------------------------
    def _infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _infer_single(self, x: np.ndarray) -> np.ndarray:
        """The first output for the (checked) single input; backends may skip the dict plumbing."""
        return self._infer({self.inputs[0].name: x})[self.outputs[0].name]
