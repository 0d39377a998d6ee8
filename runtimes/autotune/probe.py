"""The probe: load each candidate, time a few dozen batch-1 calls of each, interleaved round-robin within a
bounded budget, keep the first in the decision rule's ranking (:mod:`~runtimes.autotune.decision`: ONNX
Runtime's defaults unless another candidate is clearly faster) that passes the accuracy gate, and remember
the decision; and :func:`choose`, which takes a cached decision instead where there is one."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from importlib import util
from pathlib import Path
from typing import Any

import numpy as np

from runtimes.autotune.accuracy import REFERENCE_BACKENDS, _accuracy_problem
from runtimes.autotune.cache import cache_key, cached_choice, figures, read_entries, remember
from runtimes.autotune.candidates import BASELINE, Candidate, candidates, mode
from runtimes.autotune.decision import ranking, round_medians
from runtimes.errors import BackendUnavailableError, EdgeSDKError
from runtimes.manifest import Manifest
from runtimes.session import Session, TensorInfo

TIMING_BUDGET_S = 1.0  # timed calls, all candidates together (each gets at least ROUNDS calls)
ROUNDS = 5  # round-robin blocks per candidate
MAX_CALLS = 200  # timed calls per candidate at most (plus two to size the blocks): 25 ms for a 125 us model
SETTLE_BELOW_S = 1e-3  # a block of calls this short starts with one untimed call
LOAD_BUDGET_S = 30.0  # candidates not loaded once loading has taken this long are skipped
OPENVINO_FROM_MS = 1.0  # OpenVINO is tried for models ONNX Runtime runs in at least this long (see BENCHMARKS.md)
MAX_PROBE_ARTIFACT_BYTES = 64 << 20  # every candidate is loaded at once: bigger models are not probed
MAX_PROBE_INPUT_BYTES = 64 << 20


def probe_feed(inputs: list[TensorInfo]) -> dict[str, np.ndarray] | None:
    """Random batch-1 inputs (symbolic dims 1); None where they would exceed MAX_PROBE_INPUT_BYTES."""
    rng = np.random.default_rng(0)
    feed: dict[str, np.ndarray] = {}
    total = 0
    for t in inputs:
        shape = [d if isinstance(d, int) and d > 0 else 1 for d in t.shape]
        dtype = np.dtype(t.dtype)
        total += math.prod(shape) * dtype.itemsize
        if total > MAX_PROBE_INPUT_BYTES:
            return None
        feed[t.name] = rng.standard_normal(shape).astype(dtype) if dtype.kind == "f" else np.zeros(shape, dtype)
    return feed


def _time_calls(fn: Callable[[], Any], n: int) -> list[float]:
    out = []
    clock = time.perf_counter
    for _ in range(n):
        t0 = clock()
        fn()
        out.append(clock() - t0)
    return out


def _caller(session: Session, feed: dict[str, np.ndarray]) -> Callable[[], Any]:
    """The call users make: ``session(x)`` for single-input, single-output models, else ``session.run(feed)``
    (the first output)."""
    if len(feed) == 1 and len(session.outputs) == 1:
        x = next(iter(feed.values()))
        return lambda: session(x)
    first = session.outputs[0].name
    return lambda: session.run(feed)[first]


Loader = Callable[[Candidate], Session]


def choose(artifact: Path, manifest: Manifest | None, load_one: Loader) -> Session:
    """The fastest candidate's session (``session.choice`` / ``session.probe`` set), from the cache or a probe.
    Errors of the first candidate that loads nothing (a broken file) propagate as they are."""
    cands = candidates()
    key = cache_key(artifact, manifest)
    if mode() != "refresh":
        entry = read_entries().get(key)
        chosen = cached_choice(entry, cands)
        if entry is not None and chosen is not None:
            try:
                session = load_one(chosen)
            except BackendUnavailableError:
                pass  # installed differently since: probe again
            else:
                session.choice = {**chosen.as_json(), "by": "cache"}
                session.probe = {"ms": figures(entry), "cached": True, "key": key}
                return session
    return _probe(artifact, key, cands, load_one)


def _probe(artifact: Path, key: str, cands: list[Candidate], load_one: Loader) -> Session:
    t_start = time.perf_counter()
    sessions: dict[Candidate, Session] = {}
    skipped: dict[str, str] = {}
    estimate: dict[Candidate, float] = {}
    first: dict[Candidate, list[float]] = {}  # the first two timed calls: counted with the rest
    feed: dict[str, np.ndarray] | None = None
    first_error: BackendUnavailableError | None = None
    big = artifact.stat().st_size > MAX_PROBE_ARTIFACT_BYTES
    for c in cands:
        if c.backend == "openvino":
            fast = min(estimate.values(), default=math.inf) * 1e3
            if util.find_spec("openvino") is None:
                skipped[c.label] = "not installed"
                continue
            if fast < OPENVINO_FROM_MS:
                skipped[c.label] = f"not tried: {fast:.3f} ms is under the {OPENVINO_FROM_MS:g} ms from which " \
                                   "OpenVINO's per-call cost can pay off"
                continue
        if sessions and time.perf_counter() - t_start > LOAD_BUDGET_S:
            skipped[c.label] = f"not tried: loading the candidates took over {LOAD_BUDGET_S:g} s"
            continue
        try:
            session = load_one(c)
        except BackendUnavailableError as e:
            skipped[c.label] = str(e)[:200]
            first_error = first_error or e
            continue
        except EdgeSDKError as e:
            if not sessions:
                raise  # the first backend that can read the file refuses it: the file is the problem
            skipped[c.label] = str(e)[:200]
            continue
        if not sessions:
            feed = probe_feed(session.inputs)
            if feed is None or big:
                why = "model too large to load every candidate" if big else "inputs too large for a probe"
                session.choice = {**c.as_json(), "by": "default"}
                session.probe = {"not_probed": why}
                return session
        assert feed is not None
        try:
            call = _caller(session, feed)
            call()  # warm: first-call allocations, lazy initialisation
            first[c] = _time_calls(call, 2)
            estimate[c] = min(first[c])
        except Exception as e:  # a candidate that cannot run the probe input is not a candidate
            skipped[c.label] = f"cannot run a probe input: {type(e).__name__}: {str(e)[:160]}"
            if not sessions:
                session.choice = {**c.as_json(), "by": "default"}
                session.probe = {"not_probed": skipped[c.label]}
                return session
            session.close()
            continue
        sessions[c] = session
    if not sessions:
        raise BackendUnavailableError(f"no backend can run {artifact}: " + "; ".join(
            f"{k}: {v}" for k, v in skipped.items())) from first_error
    assert feed is not None
    load_s = time.perf_counter() - t_start
    per_block = TIMING_BUDGET_S / (len(sessions) * ROUNDS)
    calls = {c: max(1, min(MAX_CALLS // ROUNDS, int(per_block / max(estimate[c], 1e-7)))) for c in sessions}
    blocks: dict[Candidate, list[list[float]]] = {c: [] for c in sessions}
    callers = {c: _caller(s, feed) for c, s in sessions.items()}
    for _ in range(ROUNDS):
        for c, call in callers.items():
            if estimate[c] < SETTLE_BELOW_S:
                call()  # untimed: the previous candidate's threads stop spinning, this one's data comes back
            blocks[c].append(_time_calls(call, calls[c]))
    times = {c: first[c] + [t for b in blocks[c] for t in b] for c in sessions}
    medians = {c: statistics.median(v) * 1e3 for c, v in times.items()}
    rounds = {c: [m * 1e3 for m in round_medians(b)] for c, b in blocks.items()}
    reference = next(iter(sessions))
    for best in ranking(medians, rounds):
        problem = None if best.backend in REFERENCE_BACKENDS else _accuracy_problem(
            sessions[best], sessions[reference], callers[best], callers[reference])
        if problem is None:
            break
        skipped[best.label] = problem
    else:  # pragma: no cover - the reference backend always passes
        best = reference
    for c, s in sessions.items():
        if c != best:
            s.close()
    record = {"choice": best.as_json(), "ms": {c.label: round(v, 6) for c, v in medians.items()},
              "round_ms": {c.label: [round(v, 6) for v in r] for c, r in rounds.items()}, "baseline": BASELINE.label,
              "calls": {c.label: len(v) for c, v in times.items()}, "skipped": skipped,
              "artifact": str(artifact)[-120:], "load_s": round(load_s, 3),
              "probe_s": round(time.perf_counter() - t_start, 3), "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    remember(key, record)
    session = sessions[best]
    session.choice = {**best.as_json(), "by": "probe"}
    session.probe = {**record, "cached": False, "key": key}
    return session
