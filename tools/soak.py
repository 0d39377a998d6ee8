"""Soak test: 100,000 inferences + 10,000 camera frames; RSS, file descriptors and threads must stay flat.

    python tools/soak.py                         # the emlp bundle (exported once, in a subprocess)
    python tools/soak.py --bundle DIR --json     # any 1-input bundle; JSON figures on stdout

Phase 1 runs ``session(x)`` on the bundle (batch 1, inputs cycled). Phase 2 reads a
``synthetic://dual-exposure`` source (small frames) through the WhiteBalance pipeline into a
``null://`` sink. Each phase samples RSS (``/proc/self/statm``), open file descriptors
(``/proc/self/fd``) and threads; growth is measured from the end of warm-up (the first 10 % of the
phase) to the end. Exit status 1 if RSS grows by 5 % or more, or fds/threads are not back where they
started. Linux only (reads /proc). The soak process itself never imports torch.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
PAGE = os.sysconf("SC_PAGE_SIZE")
LIMIT_PCT = 5.0


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def sample() -> dict[str, float]:
    gc.collect()
    return {"rss_mib": round(rss_mib(), 2), "fds": fds(), "threads": threading.active_count()}


def export_bundle(out: Path) -> Path:
    code = ("from converters import export; "
            f"export('emlp', {str(out)!r}, show_progress=False, log=lambda m: None)")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=900)
    return out


def phase(name: str, n: int, step: Any, every: int) -> dict[str, Any]:
    warm = max(1, n // 10)
    samples: list[dict[str, float]] = []
    start = sample()
    t0 = time.perf_counter()
    for i in range(n):
        step(i)
        if i + 1 == warm or (i + 1) % every == 0 or i + 1 == n:
            samples.append({"i": i + 1, **sample()})
    seconds = time.perf_counter() - t0
    after_warm = next(s for s in samples if s["i"] >= warm)
    end = samples[-1]
    growth = 100.0 * (end["rss_mib"] - after_warm["rss_mib"]) / after_warm["rss_mib"]
    peak = max(s["rss_mib"] for s in samples if s["i"] >= warm)
    return {"phase": name, "count": n, "seconds": round(seconds, 2), "per_second": round(n / seconds, 1),
            "start": start, "after_warmup": after_warm, "end": end, "peak_rss_mib_after_warmup": peak,
            "rss_growth_pct": round(growth, 3), "fds_delta": end["fds"] - after_warm["fds"],
            "threads_delta": end["threads"] - after_warm["threads"], "samples": samples}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", type=Path, help="bundle for both phases (default: emlp, exported here)")
    ap.add_argument("--inferences", type=int, default=100_000)
    ap.add_argument("--frames", type=int, default=10_000)
    ap.add_argument("--size", default="64x36", help="synthetic frame size (default 64x36)")
    ap.add_argument("--backend", default="onnxruntime")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="edge-sdk-soak-") as tmp:
        bundle = args.bundle or export_bundle(Path(tmp) / "emlp")
        import edge_sdk
        from edge_sdk.pipelines import WhiteBalance

        assert "torch" not in sys.modules, "the soak process must stay torch-free"
        session = edge_sdk.load(bundle, backend=args.backend)
        spec = session.inputs[0]
        shape = tuple(1 if isinstance(d, str) else d for d in spec.shape)
        rng = np.random.default_rng(0)
        xs = [rng.random(shape).astype(spec.dtype) for _ in range(64)]
        checks = {i: session(xs[i]) for i in range(len(xs))}
        mismatches = [0]

        def infer(i: int) -> None:
            y = session(xs[i % 64])
            if i % 997 == 0 and not np.array_equal(y, checks[i % 64]):
                mismatches[0] += 1

        baseline = sample()
        results = [phase("inference", args.inferences, infer, every=max(1, args.inferences // 20))]

        wb = WhiteBalance(session)
        source = edge_sdk.open_dual_source(f"synthetic://dual-exposure?size={args.size}&seed=0&count={args.frames}")
        sink = edge_sdk.open_sink("null://")
        stats = {"fallbacks": 0, "nonfinite": 0}

        def frame(i: int) -> None:
            pair = source.read()
            if pair is None:
                raise RuntimeError(f"the synthetic source ended after {i} frames")
            r = wb(pair)
            stats["fallbacks"] += r.fallback is not None
            stats["nonfinite"] += not np.isfinite(r.illuminant).all()
            sink.write(r.corrected if r.corrected is not None else pair.long)

        try:
            results.append(phase("camera+white-balance", args.frames, frame, every=max(1, args.frames // 20)))
        finally:
            source.close()
            sink.close()
        session.close()
        final = sample()

    ok = all(r["rss_growth_pct"] < LIMIT_PCT and r["fds_delta"] == 0 and r["threads_delta"] == 0 for r in results)
    ok = ok and mismatches[0] == 0 and stats["nonfinite"] == 0
    report = {"ok": ok, "limit_rss_growth_pct": LIMIT_PCT, "baseline": baseline, "final": final,
              "inference_mismatches": mismatches[0], **stats, "phases": results}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for r in results:
            print(f"{r['phase']:>22}: {r['count']:>7} in {r['seconds']:7.1f} s ({r['per_second']:.0f}/s); "
                  f"RSS {r['after_warmup']['rss_mib']:.1f} -> {r['end']['rss_mib']:.1f} MiB "
                  f"({r['rss_growth_pct']:+.2f} %, peak {r['peak_rss_mib_after_warmup']:.1f}); "
                  f"fds {r['after_warmup']['fds']} -> {r['end']['fds']}; "
                  f"threads {r['after_warmup']['threads']} -> {r['end']['threads']}")
        print(f"fallbacks {stats['fallbacks']}, non-finite {stats['nonfinite']}, "
              f"mismatches {mismatches[0]}: {'OK' if ok else 'FAILED'} (limit {LIMIT_PCT} % RSS growth)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
