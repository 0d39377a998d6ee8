"""`edge-sdk benchmark BUNDLE...`: latency, throughput, start cost and memory of bundles or a camera pipeline."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from edge_sdk._io import atomic_write_text
from edge_sdk.cli import checks
from edge_sdk.cli.output import format_table
from edge_sdk.errors import EdgeSDKError

HELP = "measure latency, throughput, start cost and memory of bundles (or a camera pipeline)"
DESCRIPTION = """\
Benchmark each BUNDLE with each --backend using the device runtime (no torch).

For each bundle x backend it reports the cost to start (artifact size, load time, first
inference, apart from the warm runs), warm latency statistics (count, min, mean, median, p90,
p95, p99, max, std, CoV; a warning when the CoV is high), throughput, peak RSS of the process,
and the accuracy figure from the manifest's parity report. With --pipeline URI it runs the
bundle's camera pipeline on that source instead (an emlp bundle: white balance on a
dual-exposure source; a classifier: classification) and reports per-stage times (capture,
preprocess, infer, postprocess), achieved fps against the source's fps, and dropped frames.

Every run records provenance: CPU model, cores, thread settings and the versions of edge-sdk,
numpy, onnxruntime, OpenCV and TensorRT. --json FILE writes all of it with the raw per-iteration
times ("-" for stdout).

BUNDLE is a bundle directory, an .onnx file, or a zoo name (exported once at --precision and
cached; that needs the host install).

examples:
  edge-sdk benchmark bundles/compact-cnn-int8
  edge-sdk benchmark bundles/emlp --backend numpy --backend onnxruntime --iterations 10000
  edge-sdk benchmark compact-cnn --precision int8 --batch 32 --threads 2 --json bench.json
  edge-sdk benchmark emlp --pipeline "synthetic://dual-exposure?size=1920x1080" --duration 5
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("benchmark", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bundles", nargs="+", metavar="BUNDLE", help="bundle directory, .onnx file or zoo name")
    p.add_argument("--backend", action="append", metavar="B",
                   help="auto, onnxruntime, numpy, tensorrt; repeat for several (default: auto)")
    p.add_argument("--batch", type=int, default=1, metavar="N", help="batch size (default 1)")
    p.add_argument("--warmup", type=float, default=1.0, metavar="SECONDS", help="untimed warm-up (default 1)")
    stop = p.add_mutually_exclusive_group()
    stop.add_argument("--duration", type=float, metavar="SECONDS", help="time this long (default 3)")
    stop.add_argument("--iterations", type=int, metavar="N", help="time exactly N calls (or frames)")
    p.add_argument("--threads", type=int, metavar="N", help="intra-op threads (onnxruntime)")
    p.add_argument("--precision", default="fp32", metavar="P", help="precision for zoo names (default fp32)")
    p.add_argument("--pipeline", metavar="URI", help="benchmark the camera pipeline on this source")
    p.add_argument("--json", metavar="FILE", help="write results with raw times as JSON ('-' for stdout)")
    p.add_argument("--plot", type=Path, metavar="PNG",
                   help="bar chart of warm latency per model, backend and precision (needs matplotlib)")
    p.set_defaults(func=run)


def _check(args: argparse.Namespace) -> None:
    """Everything that can be wrong with the arguments, before any model loads."""
    from edge_sdk.benchmark import MAX_SAMPLES

    checks.number_in_range(args.batch, "--batch", 1, checks.MAX_BATCH)
    checks.number_in_range(args.warmup, "--warmup", 0, 600)
    checks.number_in_range(args.duration, "--duration", 0, 3600, lo_open=True)
    checks.number_in_range(args.iterations, "--iterations", 1, MAX_SAMPLES)
    checks.number_in_range(args.threads, "--threads", 1, checks.MAX_THREADS)
    if args.pipeline and args.batch != 1:
        raise EdgeSDKError("--pipeline runs one frame at a time; drop --batch")
    checks.writable_file(args.json, "--json")
    checks.writable_file(args.plot, "--plot")


def _fmt_bytes(n: int) -> str:
    for unit, div in (("MB", 1e6), ("kB", 1e3)):
        if n >= div:
            return f"{n / div:.1f} {unit}"
    return f"{n} B"


def _accuracy(a: dict[str, Any] | None) -> str:
    if not a:
        return "-"
    if a.get("metric") and a.get("value") is not None:
        return f"{a['metric']} {a['value']:.4g}{'' if a.get('unit') in (None, 'pp') else ' ' + a['unit']}"
    return f"SQNR {a['min_sqnr_db']:.1f} dB" if a.get("min_sqnr_db") is not None else "-"


def _table(results: list[dict[str, Any]]) -> str:
    rows = []
    for r in results:
        s, st = r["latency_ms"], r["start"]
        first = st.get("first_inference_ms", st.get("first_frame_ms")) or 0.0
        rate = f"{r['fps']:.1f} fps" if r["kind"] == "pipeline" else f"{r['throughput_per_s']:.1f}/s"
        threads = r.get("effective_threads")
        rows.append([f"{r['model']} {r['precision'] or ''}".strip(),
                     r["backend"] + (f" ({threads} thr)" if threads else ""), r["batch"],
                     _fmt_bytes(st["artifact_bytes"]), f"{st['load_ms']:.1f}", f"{first:.2f}", s["count"],
                     f"{s['min']:.3f}", f"{s['mean']:.3f}", f"{s['median']:.3f}", f"{s['p90']:.3f}",
                     f"{s['p95']:.3f}", f"{s['p99']:.3f}", f"{s['max']:.3f}", f"{s['std']:.3f}",
                     f"{s['cov'] * 100:.1f}%", rate, f"{r['peak_rss_mb']:.0f}" if r["peak_rss_mb"] else "-",
                     _accuracy(r.get("accuracy"))])
    head = ["model", "backend", "batch", "size", "load ms", "first ms", "n", "min", "mean", "median", "p90",
            "p95", "p99", "max", "std", "CoV", "throughput", "RSS MiB", "accuracy"]
    return format_table(head, rows)


def _pipeline_table(r: dict[str, Any]) -> str:
    rows = [[s, v["count"], f"{v['mean']:.3f}", f"{v['median']:.3f}", f"{v['p99']:.3f}", f"{v['max']:.3f}"]
            for s, v in r["stages_ms"].items()]
    src_fps = f"{r['source_fps']:.1f}" if r["source_fps"] else "unpaced"
    return (f"{r['pipeline']} on {r['source']} ({r['model']}, {r['backend']}): {r['fps']:.1f} fps achieved, "
            f"source {src_fps}, {r['frames']} frames, {r['dropped']} dropped\n"
            + format_table(["stage", "n", "mean ms", "median ms", "p99 ms", "max ms"], rows))


def run(args: argparse.Namespace) -> int:
    from edge_sdk.benchmark import SCHEMA, benchmark_model, provenance

    _check(args)
    backends = args.backend or ["auto"]
    duration = args.duration if args.duration is not None or args.iterations is not None else 3.0
    results: list[dict[str, Any]] = []
    for bundle in args.bundles:
        for backend in backends:
            common = {"backend": backend, "warmup": args.warmup, "duration": duration,
                      "iterations": args.iterations, "threads": args.threads, "precision": args.precision}
            if args.pipeline:
                from edge_sdk.benchmark_pipeline import benchmark_pipeline

                results.append(benchmark_pipeline(bundle, args.pipeline, **common))
            else:
                results.append(benchmark_model(bundle, batch=args.batch, **common))
    report: dict[str, Any] = {"schema": SCHEMA, "provenance": provenance(args.threads),
              "settings": {"batch": args.batch, "warmup_s": args.warmup, "duration_s": duration,
                           "iterations": args.iterations, "threads": args.threads, "pipeline": args.pipeline,
                           "backends": backends},
              "results": results}
    to_stdout = args.json == "-"
    out = sys.stderr if to_stdout else sys.stdout
    prov = report["provenance"]
    v = prov["versions"]
    print(f"{prov['cpu']}, {prov['usable_cores']}/{prov['cores']} cores, threads {args.threads or 'default'}; "
          f"onnxruntime {v['onnxruntime']}, numpy {v['numpy']}, opencv {v['opencv']}, "
          f"tensorrt {v['tensorrt'] or '-'}", file=out)
    print("latency in ms (warm); load and first inference are measured apart", file=out)
    print(_table(results), file=out)
    for r in results:
        if r["kind"] == "pipeline":
            print(_pipeline_table(r), file=out)
        for w in r["warnings"]:
            print(f"warning: {r['model']} ({r['backend']}): {w}", file=out)
    if args.json:
        text = json.dumps(report, indent=1, default=str) + "\n"
        if to_stdout:
            sys.stdout.write(text)
        else:
            atomic_write_text(args.json, text)
            print(f"wrote {args.json}", file=out)
    if args.plot:
        from edge_sdk.plots import plot_latency_bars

        rows = [{"label": f"{r['model']} {r['precision']} {r['backend']}" + (" (pipeline)" if r["kind"] == "pipeline"
                                                                               else f" b{r['batch']}"),
                 "median_ms": r["latency_ms"]["median"], "p90_ms": r["latency_ms"]["p90"]} for r in results]
        plot_latency_bars(rows, args.plot, title="edge-sdk benchmark: warm latency per call")
        print(f"wrote {args.plot}", file=out)
    return 0
