"""Benchmark a bundle with the runtime: cost to start, warm latency statistics, throughput, memory.

Everything here is torch-free (it runs on the device). One result per bundle x backend::

    from edge_sdk.benchmark import benchmark_model, provenance
    r = benchmark_model("bundles/compact-cnn", backend="onnxruntime", batch=1, duration=3.0)
    r["latency_ms"]["median"], r["throughput_per_s"], r["accuracy"]

Cold cost (artifact size, load time, the first inference) is measured apart from the warm runs;
warm latency is taken after ``warmup`` seconds of untimed calls. Statistics are over per-call
wall times (``time.perf_counter``); the raw times go into the result for later analysis.
Like trtexec, a result warns when the coefficient of variation (std / mean) is high: the numbers
are then not to be trusted (other jobs on the box, frequency scaling, too few iterations).
"""

from __future__ import annotations

import math
import os
import platform
import sys
import time
from array import array
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from edge_sdk.errors import EdgeSDKError

SCHEMA = "edge-sdk-benchmark/1"
COV_WARN = 0.10  # warn above 10 % (trtexec warns above 1 % on a GPU; a shared CPU box is noisier)
STAT_KEYS = ("count", "min", "mean", "median", "p90", "p95", "p99", "max", "std", "cov")
MAX_SAMPLES = 10_000_000  # timed calls kept per result (8 bytes each)
MAX_FEED_BYTES = 1 << 30  # random inputs made for a benchmark: refuse larger before allocating
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_CORETYPE",
              "OPENBLAS_L2_SIZE", "ORT_NUM_THREADS")


def latency_stats(times_ms: list[float] | np.ndarray) -> dict[str, float]:
    """count, min, mean, median, p90, p95, p99, max, std (population) and cov = std / mean, in ms."""
    t = np.asarray(times_ms, dtype=np.float64)
    if t.size == 0:
        raise EdgeSDKError("no timed iterations: raise --duration or --iterations")
    p90, p95, p99 = np.percentile(t, [90, 95, 99])
    mean = float(t.mean())
    std = float(t.std())
    return {"count": int(t.size), "min": float(t.min()), "mean": mean, "median": float(np.median(t)),
            "p90": float(p90), "p95": float(p95), "p99": float(p99), "max": float(t.max()), "std": std,
            "cov": std / mean if mean > 0 else 0.0}


def cov_warning(stats: dict[str, float], what: str = "latency") -> str | None:
    if stats["cov"] <= COV_WARN:
        return None
    return (f"{what} is unstable, with coefficient of variation = {stats['cov'] * 100:.1f}% "
            f"(> {COV_WARN * 100:.0f}%): other load on the machine, frequency scaling or too few iterations; "
            "results may not be reliable")


def peak_rss_mb() -> float | None:
    """Peak resident set size of this process so far, MiB (None where ``resource`` is missing)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def _version(*dists: str) -> str | None:
    for d in dists:
        try:
            return metadata.version(d)
        except metadata.PackageNotFoundError:
            continue
    return None


def cpu_model() -> str:
    from runtimes.cpuinfo import cpu_name  # ARM boards name their cores by code: see runtimes.cpuinfo

    return cpu_name()


def _int8_support() -> dict[str, str | None]:
    from runtimes.cpuinfo import int8_support

    return int8_support()


def provenance(threads: int | None = None) -> dict[str, Any]:
    """Where and with what a measurement was taken (read from package metadata: imports nothing heavy)."""
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count() or 1
    from edge_sdk import __version__

    return {
        "cpu": cpu_model(), "cpu_int8": _int8_support(), "machine": platform.machine(), "cores": os.cpu_count(),
        "usable_cores": usable,
        "os": platform.platform(), "python": platform.python_version(),
        "threads": {"requested": threads, **{k: os.environ.get(k) for k in THREAD_ENV}},
        "versions": {
            "edge-sdk": __version__, "numpy": np.__version__,
            "onnxruntime": _version("onnxruntime", "onnxruntime-gpu"), "openvino": _version("openvino"),
            "opencv": _version("opencv-python-headless", "opencv-python", "opencv-contrib-python"),
            "tensorrt": _version("tensorrt", "tensorrt-cu12", "tensorrt_lean"),
        },
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def timed_calls(fn: Callable[[], Any], *, warmup: float = 1.0, duration: float | None = 3.0,
                iterations: int | None = None, min_iterations: int = 10) -> list[float]:
    """Call ``fn`` untimed for ``warmup`` seconds, then time each call (ms): ``iterations`` calls, or
    as many as fit in ``duration`` seconds (at least ``min_iterations``). At most :data:`MAX_SAMPLES`
    calls are timed, so memory stays bounded however long the run (about 80 MB of samples)."""
    for name, value in (("warmup", warmup), ("duration", duration)):
        if value is not None and not math.isfinite(value):
            raise EdgeSDKError(f"{name} must be a finite number of seconds, got {value}")
    if iterations is not None and not 1 <= iterations <= MAX_SAMPLES:
        raise EdgeSDKError(f"iterations must be between 1 and {MAX_SAMPLES:,}, got {iterations}")
    end = time.perf_counter() + max(0.0, warmup)
    while time.perf_counter() < end:
        fn()
    out = array("d")
    clock = time.perf_counter
    if iterations is not None:
        for _ in range(iterations):
            t0 = clock()
            fn()
            out.append((clock() - t0) * 1e3)
        return out.tolist()
    stop = clock() + float(duration or 0.0)
    while len(out) < MAX_SAMPLES:
        t0 = clock()
        fn()
        t1 = clock()
        out.append((t1 - t0) * 1e3)
        if t1 >= stop and len(out) >= min_iterations:
            break
    return out.tolist()


def make_feed(inputs: list[Any], batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random inputs for a session's ``inputs`` (symbolic dims take ``batch``)."""
    rng = np.random.default_rng(seed)
    feed = {}
    total = 0
    for t in inputs:
        shape = []
        for axis, d in enumerate(t.shape):
            if isinstance(d, int) and d > 0:
                if axis == 0 and d != batch:
                    raise EdgeSDKError(f"input {t.name!r} has a fixed batch of {d}; --batch {batch} cannot run")
                shape.append(d)
            else:
                shape.append(batch if axis == 0 else 1)
        dtype = np.dtype(t.dtype)
        total += math.prod(shape) * dtype.itemsize
        if total > MAX_FEED_BYTES:
            raise EdgeSDKError(f"inputs of batch {batch} would take {total / 2**30:.1f} GiB (input {t.name!r} "
                               f"{shape}); the benchmark makes at most {MAX_FEED_BYTES >> 30} GiB: lower --batch")
        if dtype.kind == "f":
            feed[t.name] = rng.standard_normal(shape).astype(dtype)
        elif dtype.kind == "b":
            feed[t.name] = rng.integers(0, 2, shape).astype(dtype)
        else:
            feed[t.name] = rng.integers(0, 8, shape).astype(dtype)
    return feed


def accuracy_summary(manifest: Any) -> dict[str, Any] | None:
    """The accuracy figure from the manifest's parity report (metric, reference vs this artifact)."""
    parity = getattr(manifest, "parity", None)
    if not parity:
        return None
    metric = parity.get("metric") or {}
    outputs = parity.get("outputs") or {}
    sqnr: list[float] = [o["sqnr_db"] for o in outputs.values() if isinstance(o, dict) and o.get("sqnr_db") is not None]
    return {"metric": metric.get("name"), "unit": metric.get("unit"), "reference": metric.get("reference"),
            "value": metric.get("candidate"), "delta": metric.get("delta"), "dataset": parity.get("dataset"),
            "min_sqnr_db": min(sqnr) if sqnr else None, "passed": parity.get("passed"),
            "budget": (parity.get("budget") or {}).get("rule")}


def resolve(bundle: str | os.PathLike[str], precision: str = "fp32") -> Path:
    """A bundle directory / model file, or a zoo name (exported once at ``precision`` and cached; that
    needs the host install)."""
    from edge_sdk.bundles import resolve_bundle

    return resolve_bundle(bundle, precision)


def artifact_path(path: Path, manifest: Any) -> Path:
    return path / manifest.artifact if path.is_dir() and manifest is not None else path


def benchmark_model(bundle: str | os.PathLike[str], *, backend: str = "auto", batch: int = 1,
                    warmup: float = 1.0, duration: float | None = 3.0, iterations: int | None = None,
                    threads: int | None = None, precision: str = "fp32", keep_times: bool = True,
                    check_accuracy: bool = True) -> dict[str, Any]:
    """Load ``bundle`` with ``backend`` and measure it; returns one JSON-ready result (see module doc).
    With ``check_accuracy`` a bundle's golden samples are also run on this backend (``device_accuracy``)."""
    from runtimes import load

    if batch < 1:
        raise EdgeSDKError("--batch must be at least 1")
    path = resolve(bundle, precision)
    options: dict[str, Any] = {}
    if threads is not None and backend in THREADED_BACKENDS:
        options["threads"] = threads
    t0 = time.perf_counter()
    session = load(path, backend=backend, **options)
    load_ms = (time.perf_counter() - t0) * 1e3
    with session:
        feed = make_feed(session.inputs, batch)
        t0 = time.perf_counter()
        session.run(feed)
        first_ms = (time.perf_counter() - t0) * 1e3
        times = timed_calls(lambda: session.run(feed), warmup=warmup, duration=duration, iterations=iterations)
        device_accuracy = backend_accuracy(session) if check_accuracy else None
    stats = latency_stats(times)
    manifest = session.manifest
    artifact = artifact_path(path, manifest)
    warn = cov_warning(stats)
    result: dict[str, Any] = {
        "kind": "model", "bundle": str(path), "model": manifest.model if manifest else artifact.stem,
        "precision": manifest.precision if manifest else None, "backend": session.backend, "batch": batch,
        "threads": threads, "effective_threads": session.threads,
        "start": {"artifact_bytes": artifact.stat().st_size, "load_ms": load_ms, "first_inference_ms": first_ms},
        "latency_ms": stats,
        "throughput_per_s": batch * stats["count"] / (sum(times) / 1e3),
        "peak_rss_mb": peak_rss_mb(),
        "accuracy": accuracy_summary(manifest), "device_accuracy": device_accuracy,
        "choice": session.choice, "probe": probe_summary(session.probe),
        "warnings": [warn] if warn else [],
    }
    if keep_times:
        result["times_ms"] = times
    return result


THREADED_BACKENDS = ("auto", "onnxruntime", "openvino")  # the backends that take threads=


def probe_summary(probe: dict[str, Any] | None) -> dict[str, Any] | None:
    """What ``backend="auto"`` measured to choose (runtimes.autotune): median ms per candidate and why others
    were not tried."""
    if not probe:
        return None
    return {k: probe[k] for k in ("ms", "skipped", "cached", "probe_s", "not_probed") if k in probe}


def backend_accuracy(session: Any) -> dict[str, Any] | None:
    """The bundle's golden samples run on this session (``edge-sdk check``'s rule): the accuracy of *this*
    backend on this machine, beside the export's parity figure. None for a bundle without golden samples."""
    if session.manifest is None or session.manifest.golden is None:
        return None
    from runtimes.selfcheck import check

    try:
        r = check(session)
    except EdgeSDKError as e:
        return {"error": str(e)[:200]}
    return {"metric": r.metric.get("name"), "unit": r.metric.get("unit"), "value": r.metric.get("device"),
            "delta": r.metric.get("delta"), "samples": r.samples, "passed": r.passed,
            "source": "golden samples on this backend"}
