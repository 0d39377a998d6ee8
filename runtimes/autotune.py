"""``load(path)`` with ``backend="auto"``: the fastest backend and thread setting for this model on this
machine, chosen by measurement and remembered.

The first load of an ONNX artifact loads each candidate (:func:`candidates`): ONNX Runtime at 1 and
N intra-op threads (N with and without spin-waiting), the numpy backend (MLP graphs only; it refuses
others at once) and, for models ONNX Runtime does not run in under :data:`OPENVINO_FROM_MS`, OpenVINO
at N and 1 threads where it is installed. It then times a few dozen calls of each on a random batch-1
input, interleaved round-robin (:data:`ROUNDS` blocks each, at most :data:`MAX_CALLS` calls and about
:data:`TIMING_BUDGET_S` seconds in all), keeps the session with the lowest median and closes the rest.
A winner from a backend other than the one the bundle's parity report was measured with (OpenVINO)
must first show its outputs are within the precision's budget (:func:`_accuracy_problem`); if not,
the next fastest is taken and the reason recorded.
For a model of a few thousand parameters that costs milliseconds; for care-s0 about a second of timing
plus each candidate's load (OpenVINO compiles INT8 graphs for seconds, once: it caches them).

The decision and its figures go into ``$EDGE_SDK_CACHE/autotune.json`` (atomic write), keyed by the
artifact's sha256 (and its external-data files'), the onnxruntime / openvino / numpy versions, the
CPU model and the usable cores. A later load of the same artifact on the same machine loads the
chosen candidate directly: no probe. ``session.choice`` says what was chosen and how ("probe",
"cache", "request", "default"), ``session.probe`` holds the figures; ``edge-sdk doctor`` lists the cache.

The cache file is read defensively: unreadable, oversized, malformed or foreign content is ignored
(and re-probed); an entry can only select one of the candidates this module builds, compared as
data (a backend name from the table, a thread count, a spin flag), never a module, a path or a
thread count outside them.

Not probed: an explicit ``backend=`` or any backend option (``threads=``, ``providers=`` ...) from the
caller, engines (``.engine``: TensorRT), artifacts over :data:`MAX_PROBE_ARTIFACT_BYTES` or inputs over
:data:`MAX_PROBE_INPUT_BYTES`. ``EDGE_SDK_AUTOTUNE=0`` turns probing off (ONNX Runtime with its fixed
policy: one thread for small models, every core for large ones), ``EDGE_SDK_AUTOTUNE=refresh``
re-probes and overwrites the cached decision.

A probe measures the machine as it is at that moment. Probed on a quiet machine, the winner for a
small model is often every core with spin-waiting, which is the worst setting on a machine busy with
other work: there, pass ``threads=1`` (or set ``EDGE_SDK_AUTOTUNE=0``), or re-probe under the real load
with ``EDGE_SDK_AUTOTUNE=refresh``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata, util
from pathlib import Path
from typing import Any

import numpy as np

from runtimes.atomic import atomic_write_text
from runtimes.engine_trust import cache_dir
from runtimes.errors import BackendUnavailableError, EdgeSDKError
from runtimes.manifest import Manifest, sha256_file
from runtimes.session import Session, TensorInfo

ENV = "EDGE_SDK_AUTOTUNE"
CACHE_FILE = "autotune.json"
SCHEMA = "edge-sdk-autotune/1"
TIMING_BUDGET_S = 1.0  # timed calls, all candidates together (each gets at least ROUNDS calls)
ROUNDS = 5  # round-robin blocks per candidate
MAX_CALLS = 200  # timed calls per candidate at most (plus two to size the blocks): 25 ms for a 125 us model
SETTLE_BELOW_S = 1e-3  # a block of calls this short starts with one untimed call
LOAD_BUDGET_S = 30.0  # candidates not loaded once loading has taken this long are skipped
OPENVINO_FROM_MS = 1.0  # OpenVINO is tried for models ONNX Runtime runs in at least this long (see BENCHMARKS.md)
MAX_PROBE_ARTIFACT_BYTES = 64 << 20  # every candidate is loaded at once: bigger models are not probed
MAX_PROBE_INPUT_BYTES = 64 << 20
MAX_ENTRIES = 512  # the newest decisions are kept
MAX_FILE_BYTES = 1 << 20
CHOICE_KEYS = ("backend", "threads", "spin")
REFERENCE_BACKENDS = ("onnxruntime", "numpy")  # compute what the bundle's parity report measured; others are checked


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


def candidates() -> list[Candidate]:
    """Every candidate, in probe order: ONNX Runtime, numpy, then OpenVINO (tried only for slower models)."""
    out: list[Candidate] = []
    for t in sorted(thread_counts()):
        out += [Candidate("onnxruntime", 1)] if t == 1 else [Candidate("onnxruntime", t, True),
                                                              Candidate("onnxruntime", t, False)]
    out.append(Candidate("numpy"))
    out += [Candidate("openvino", t) for t in thread_counts()]
    return out


def _dist_version(*names: str) -> str | None:
    for name in names:
        try:
            return f"{name} {metadata.version(name)}"
        except metadata.PackageNotFoundError:
            continue
    return None


@functools.cache
def versions() -> dict[str, str | None]:
    """The versions a decision depends on (package metadata: imports nothing)."""
    return {"onnxruntime": _dist_version("onnxruntime", "onnxruntime-gpu"), "openvino": _dist_version("openvino"),
            "numpy": np.__version__}


@functools.cache
def _cpu() -> str:
    from runtimes.cpuinfo import cpu_name

    return cpu_name()


def cache_file() -> Path:
    return cache_dir() / CACHE_FILE


def cache_key(artifact: Path, manifest: Manifest | None) -> str:
    """sha256 over the artifact's hash (and its external files'), backend versions, CPU model and cores."""
    digest = manifest.artifact_sha256 if manifest is not None and manifest.artifact_sha256 else sha256_file(artifact)
    files = sorted((manifest.artifact_files or {}).items()) if manifest is not None else []
    ident = {"schema": SCHEMA, "artifact": digest, "files": files, "cpu": _cpu(), "cores": usable_cores(),
             "versions": versions()}
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()


# -- the cache file: read defensively, written atomically ------------------------------------------
def read_entries(path: Path | None = None) -> dict[str, dict[str, Any]]:
    """The cache's entries (key -> record); {} for a missing, oversized, malformed or foreign file."""
    path = path or cache_file()
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return {}
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    entries = data.get("entries") if isinstance(data, dict) and data.get("schema") == SCHEMA else None
    if not isinstance(entries, dict):
        return {}
    return {k: v for k, v in entries.items() if isinstance(k, str) and isinstance(v, dict)}


def cached_choice(entry: dict[str, Any] | None, cands: list[Candidate]) -> Candidate | None:
    """The candidate an entry names, compared as data with the candidates built here; else None."""
    choice = entry.get("choice") if entry is not None else None
    if not isinstance(choice, dict) or set(choice) != set(CHOICE_KEYS):
        return None
    return next((c for c in cands if c.as_json() == choice and all(type(choice[k]) is type(v) for k, v in
                                                                    c.as_json().items())), None)


def figures(entry: dict[str, Any]) -> dict[str, float]:
    """An entry's median ms per candidate label, keeping only plain finite numbers (at most 32)."""
    ms = entry.get("ms")
    if not isinstance(ms, dict):
        return {}
    out = {k[:80]: float(v) for k, v in ms.items()
           if isinstance(k, str) and type(v) in (int, float) and math.isfinite(v) and v >= 0}
    return dict(list(out.items())[:32])


def summary(path: Path | None = None) -> dict[str, Any]:
    """For ``edge-sdk doctor``: the cache file, its entries and each one's choice and figures."""
    path = path or cache_file()
    rows = []
    for key, entry in read_entries(path).items():
        choice = cached_choice(entry, candidates())
        name = entry.get("artifact")
        rows.append({"key": key[:16], "artifact": name[:120] if isinstance(name, str) else "?",
                     "choice": choice.label if choice else "(not usable here)", "ms": figures(entry)})
    return {"path": str(path), "exists": path.is_file(), "mode": mode(), "entries": rows}


def remember(key: str, record: dict[str, Any]) -> None:
    """Add one decision (atomic write; the newest MAX_ENTRIES kept). A failure only costs a probe later."""
    path = cache_file()
    entries = read_entries(path)
    entries.pop(key, None)
    entries[key] = record
    kept = dict(list(entries.items())[-MAX_ENTRIES:])
    try:
        atomic_write_text(path, json.dumps({"schema": SCHEMA, "entries": kept}, indent=1) + "\n")
    except OSError:
        pass


# -- the probe --------------------------------------------------------------------------------------
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


def _accuracy_problem(session: Session, reference: Session, call: Callable[[], Any],
                      ref_call: Callable[[], Any]) -> str | None:
    """Why a candidate's outputs are not good enough to run this bundle, or None.

    The bundle's parity report was measured with ONNX Runtime, so another backend (OpenVINO: its INT8
    kernels round and saturate in their own way) must show it stays within the precision's budget: on the
    bundle's golden samples where it has them (the device self-check, :mod:`runtimes.selfcheck`), else as
    the SQNR of its output against ONNX Runtime's on the probe input, at least the precision's SQNR budget.
    """
    from runtimes.golden import NoGoldenSamplesError

    if session.manifest is not None and session.manifest.golden is not None:
        from runtimes.selfcheck import check

        try:
            report = check(session)
        except NoGoldenSamplesError:
            pass
        except EdgeSDKError as e:
            return f"its golden-sample check could not run: {str(e)[:160]}"
        else:
            return None if report.passed else "outside the accuracy budget on the bundle's golden samples: " + \
                "; ".join(report.failures)[:200]
    from runtimes.precisions import TABLE

    budget = TABLE[session.manifest.precision].sqnr_db if session.manifest is not None and \
        session.manifest.precision in TABLE else min(p.sqnr_db for p in TABLE.values())
    got, want = (np.asarray(v, np.float64) for v in (call(), ref_call()))
    noise = float(np.sum((got - want) ** 2)) if got.shape == want.shape else math.inf
    sqnr = 10 * math.log10(max(float(np.sum(want ** 2)), 1e-30) / max(noise, 1e-30))
    if sqnr < budget:
        return (f"output SQNR {sqnr:.1f} dB against {reference.backend} on the probe input, under the {budget:g} dB "
                "budget")
    return None


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
    times = {c: list(first[c]) for c in sessions}
    callers = {c: _caller(s, feed) for c, s in sessions.items()}
    for _ in range(ROUNDS):
        for c, call in callers.items():
            if estimate[c] < SETTLE_BELOW_S:
                call()  # untimed: the previous candidate's threads stop spinning, this one's data comes back
            times[c] += _time_calls(call, calls[c])
    medians = {c: statistics.median(v) * 1e3 for c, v in times.items()}
    reference = next(iter(sessions))
    for best in sorted(medians, key=lambda c: medians[c]):
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
              "calls": {c.label: len(v) for c, v in times.items()}, "skipped": skipped,
              "artifact": str(artifact)[-120:], "load_s": round(load_s, 3),
              "probe_s": round(time.perf_counter() - t_start, 3), "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    remember(key, record)
    session = sessions[best]
    session.choice = {**best.as_json(), "by": "probe"}
    session.probe = {**record, "cached": False, "key": key}
    return session
