"""Build progress: a :class:`Ticker` thread that logs the elapsed time while a phase runs, and TensorRT's
``IProgressMonitor`` naming the build phases (builds take minutes on a Jetson and look hung otherwise)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tensorrt as trt


class Ticker:
    """A thread that logs ``building engine ... 42 s (phase)`` every ``every`` seconds until closed.

    ``with Ticker(log) as t: ...``; ``t.phase`` (set by the progress monitor) is shown with the time.
    """

    def __init__(self, log: Callable[[str], None], every: float = 15.0, what: str = "building engine") -> None:
        self.phase = ""
        self._log, self._every, self._what = log, every, what
        self._t0 = time.perf_counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="engine-build-ticker", daemon=True)

    def elapsed(self) -> float:
        return time.perf_counter() - self._t0

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            phase = f" ({self.phase})" if self.phase else ""
            self._log(f"  {self._what} ... {self.elapsed():.0f} s{phase}")

    def __enter__(self) -> Ticker:
        self._t0 = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _progress_monitor(log: Callable[[str], None], ticker: Ticker | None = None) -> trt.IProgressMonitor:
    """An IProgressMonitor that logs the top-level build phases with the elapsed time and keeps the ticker's
    phase current (the class needs tensorrt, so it is local)."""
    import tensorrt as trt

    class Monitor(trt.IProgressMonitor):
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self._t0 = time.perf_counter()
            self._steps: dict[str, int] = {}

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            self._steps[phase_name] = num_steps
            if parent_phase is None:  # top-level phases only: a few lines, not hundreds
                log(f"  [{time.perf_counter() - self._t0:6.1f}s] {phase_name} ({num_steps} steps)")
                if ticker is not None:
                    ticker.phase = phase_name

        def step_complete(self, phase_name: str, step: int) -> bool:
            if ticker is not None and ticker.phase.split(":")[0] == phase_name:
                ticker.phase = f"{phase_name}: step {step + 1}/{self._steps.get(phase_name, '?')}"
            return True  # returning False would cancel the build

        def phase_finish(self, phase_name: str) -> None:
            self._steps.pop(phase_name, None)

    return Monitor()
