"""What ``backend="auto"`` chooses among: each :class:`Candidate` is a backend from the table and its thread
settings (ONNX Runtime with its own defaults, at 1 and N threads, with and without spin-waiting; numpy;
OpenVINO), the :data:`BASELINE` the others must clearly beat, and :func:`mode`, which reads
``EDGE_SDK_AUTOTUNE`` (on, off, refresh)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

ENV = "EDGE_SDK_AUTOTUNE"


@dataclass(frozen=True)
class Candidate:
    """One way to run the model: a backend from the table and its thread settings."""

    backend: str
    threads: int | None = None
    spin: bool | None = None

    @property
    def label(self) -> str:
        if self.threads is None:
            return self.backend
        if self.threads == 0:
            return f"{self.backend} defaults"
        spin = "" if self.spin is None else ", spin" if self.spin else ", no spin"
        return f"{self.backend} {self.threads} thread{'s' if self.threads > 1 else ''}{spin}"

    def options(self) -> dict[str, Any]:
        return {k: v for k, v in (("threads", self.threads), ("spin", self.spin)) if v is not None}

    def as_json(self) -> dict[str, Any]:
        return {"backend": self.backend, "threads": self.threads, "spin": self.spin}


def mode() -> str:
    """``on`` (default), ``off`` (``EDGE_SDK_AUTOTUNE=0``/off/false/no) or ``refresh``."""
    value = os.environ.get(ENV, "").strip().lower()
    return "off" if value in ("0", "off", "false", "no") else "refresh" if value == "refresh" else "on"


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def thread_counts() -> list[int]:
    """1, half the usable cores and all of them (at most 8), largest first."""
    top = max(1, min(8, usable_cores()))
    return sorted({1, max(1, top // 2), top}, reverse=True)


# What a bare ``onnxruntime.InferenceSession(path)`` runs with: one intra-op thread per physical core, pinned,
# spin-waiting. Every other candidate must beat it clearly to be chosen (runtimes.autotune.decision).
BASELINE = Candidate("onnxruntime", 0)


def candidates() -> list[Candidate]:
    """Every candidate, in probe order: ONNX Runtime (one thread first: the smallest load; then its defaults,
    then N threads), numpy, then OpenVINO (tried only for slower models)."""
    out: list[Candidate] = []
    for t in sorted(thread_counts()):
        out += [Candidate("onnxruntime", 1), BASELINE] if t == 1 else [Candidate("onnxruntime", t, True),
                                                                        Candidate("onnxruntime", t, False)]
    out.append(Candidate("numpy"))
    out += [Candidate("openvino", t) for t in thread_counts()]
    return out
