"""Per-stage timings carried by every pipeline result: capture, preprocess, infer, postprocess."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

STAGES = ("capture", "preprocess", "infer", "postprocess")


@dataclass
class Timings:
    """Milliseconds per stage. ``capture`` is the time the source took to deliver the frame (set by
    ``Pipeline.stream``; 0 when a frame is passed in directly)."""

    ms: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.ms[name] = self.ms.get(name, 0.0) + (time.perf_counter() - t0) * 1e3

    @property
    def total_ms(self) -> float:
        return sum(self.ms.values())

    def __str__(self) -> str:
        return " ".join(f"{k} {v:.2f} ms" for k, v in self.ms.items())
