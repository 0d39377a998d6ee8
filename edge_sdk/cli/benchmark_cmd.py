"""`edge-sdk benchmark BUNDLE...`: latency, throughput, start cost and memory of bundles or a camera pipeline."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from edge_sdk._io import atomic_write_text
from edge_sdk.cli import checks
from edge_sdk.cli.export_cmd import PRECISION_CHOICES
from edge_sdk.cli.output import format_table, print_json
from edge_sdk.errors import EdgeSDKError

BACKENDS = ["auto", "onnxruntime", "openvino", "numpy", "tensorrt"]
BACKEND_CHOICES = [*BACKENDS, "all"]  # all: every backend above, side by side (those that cannot run are skipped)
DEFAULT_PLOT = "benchmark-latency.png"
TABLE_WIDTH = 120

HELP = "measure latency, throughput, start cost and memory of bundles (or a camera pipeline)"
DESCRIPTION = """\
Benchmark each BUNDLE with each --backend using the device runtime (no torch).

For each bundle x backend it reports the cost to start (artifact size, load time, first
inference, apart from the warm runs), warm latency statistics (count, min, mean, median, p90,
p95, p99, max, std, CoV; a warning when the CoV is high), throughput, peak RSS of the process,
and accuracy: the manifest's parity figure and, for a bundle with golden samples, those samples run
on each backend (the rule of `edge-sdk check`), so a faster backend shows what it costs in accuracy.
--backend all measures auto and every backend side by side; auto shows which backend and threads it
chose and how (measured on first load and cached: `edge-sdk doctor` lists the cache; EDGE_SDK_AUTOTUNE=0
turns the measurement off, =refresh repeats it). With --pipeline URI it runs the
bundle's camera pipeline on that source instead (an emlp bundle: white balance on a
dual-exposure source; a classifier: classification) and reports per-stage times (capture,
preprocess, infer, postprocess), achieved fps against the source's fps, and dropped frames.

Every run records provenance: CPU model, cores, thread settings and the versions of edge-sdk,
numpy, onnxruntime, OpenVINO, OpenCV and TensorRT. --json prints all of it with the raw per-iteration times
on stdout (nothing else goes there), --json-out FILE writes it to a file. The table shows the main
figures and fits in 120 columns; min, mean, p95, max, std, size and RSS are in the JSON.

With several bundles or backends, a combination that cannot run here (TensorRT without a GPU, the
numpy backend on a CNN) is skipped with the reason, and the rest is still measured and written.

BUNDLE is a bundle directory, an .onnx file, or a zoo name (exported once at --precision and
cached; that needs the host install).

examples:
  edge-sdk benchmark bundles/compact-cnn-int8
  edge-sdk benchmark bundles/emlp --backend numpy --backend onnxruntime --iterations 10000
  edge-sdk benchmark bundles/care-s0-int8-cpu --backend all --threads 2
  edge-sdk benchmark compact-cnn --precision int8 --batch 32 --threads 2 --json-out bench.json
  edge-sdk benchmark emlp --backend numpy --backend onnxruntime --json | jq '.results[].latency_ms.median'
  edge-sdk benchmark emlp --pipeline "synthetic://dual-exposure?size=1920x1080" --duration 5
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("benchmark", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bundles", nargs="+", metavar="BUNDLE", help="bundle directory, .onnx file or zoo name")
    p.add_argument("--backend", action="append", metavar="B", choices=BACKEND_CHOICES,
                   help=f"{', '.join(BACKEND_CHOICES)}; repeat for several, or all (default: auto)")
    p.add_argument("--batch", type=int, default=1, metavar="N", help="batch size (default 1)")
    p.add_argument("--warmup", type=float, default=1.0, metavar="SECONDS", help="untimed warm-up (default 1)")
    stop = p.add_mutually_exclusive_group()
    stop.add_argument("--duration", type=float, metavar="SECONDS", help="time this long (default 3)")
    stop.add_argument("--iterations", type=int, metavar="N", help="time exactly N calls (or frames)")
    p.add_argument("--threads", type=int, metavar="N",
                   help="intra-op threads (onnxruntime, openvino; with auto it skips the measurement)")
    p.add_argument("--precision", default="fp32", metavar="P", choices=PRECISION_CHOICES,
                   help=f"precision for zoo names: {', '.join(PRECISION_CHOICES)} (default fp32)")
    p.add_argument("--pipeline", metavar="URI", help="benchmark the camera pipeline on this source")
    p.add_argument("--json", action="store_true", help="print the results with raw times as JSON on stdout")
    p.add_argument("--json-out", "-o", metavar="FILE", help="write the results with raw times as JSON to FILE")
    p.add_argument("--plot", type=Path, metavar="PNG", nargs="?", const=Path(DEFAULT_PLOT),
                   help=f"bar chart of warm latency per model, backend and precision (default file: {DEFAULT_PLOT}; "
                        "needs matplotlib)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
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
    if args.json and any(str(b).endswith(".json") for b in args.bundles):
        raise EdgeSDKError("--json is a switch (JSON on stdout); write a file with --json-out FILE")
    checks.writable_file(args.json_out, "--json-out")
    checks.writable_file(args.plot, "--plot")


SHORT_METRICS = {"top1": "top-1", "mean_angular_error": "AE", "output_sqnr": "SQNR"}  # the table's column is narrow


def _accuracy(a: dict[str, Any] | None) -> str:
    if not a:
        return "-"
    if a.get("metric") and a.get("value") is not None:
        unit = {"pp": " %", None: ""}.get(a.get("unit"), " " + str(a.get("unit")))
        return f"{SHORT_METRICS.get(a['metric'], a['metric'])} {a['value']:.4g}{unit}"
    return f"SQNR {a['min_sqnr_db']:.1f} dB" if a.get("min_sqnr_db") is not None else "-"


def row_name(r: dict[str, Any]) -> str:
    """The row a result is shown as: model, precision, backend and batch (or pipeline)."""
    kind = "pipeline" if r["kind"] == "pipeline" else f"batch {r['batch']}"
    backend = f"auto: {r['backend']}" if r.get("requested_backend") == "auto" else r["backend"]
    return f"{r['model']} {r['precision'] or ''}".strip() + f", {backend}, {kind}"


def warning_lines(results: list[dict[str, Any]]) -> list[str]:
    """Each result's warnings, naming its row, each shown once."""
    return list(dict.fromkeys(f"warning: {row_name(r)}: {w}" for r in results for w in r["warnings"]))


def _table(results: list[dict[str, Any]]) -> str:
    rows = []
    for r in results:
        s, st = r["latency_ms"], r["start"]
        first = st.get("first_inference_ms", st.get("first_frame_ms")) or 0.0
        rate = f"{r['fps']:.1f} fps" if r["kind"] == "pipeline" else f"{r['throughput_per_s']:.1f}/s"
        threads = r.get("effective_threads")
        auto = "auto: " if r.get("requested_backend") == "auto" else ""
        rows.append([f"{r['model']} {r['precision'] or ''}".strip(),
                     auto + r["backend"] + (f" ({threads} thr)" if threads else ""), r["batch"],
                     f"{st['load_ms']:.1f}", f"{first:.2f}", f"{s['median']:.3f}", f"{s['p90']:.3f}",
                     f"{s['p99']:.3f}", f"{s['cov'] * 100:.1f}%", rate,
                     _accuracy(r.get("device_accuracy") or r.get("accuracy"))])
    head = ["model", "backend", "batch", "load ms", "first ms", "median", "p90", "p99", "CoV", "throughput",
            "accuracy"]
    return format_table(head, rows, max_width=TABLE_WIDTH, shrink=(0, 1, 10))


def choice_lines(results: list[dict[str, Any]]) -> list[str]:
    """How auto chose, per auto result: from the cache or by measuring, and the candidates' figures."""
    from runtimes.autotune import Candidate  # here: the CLI's --help imports no numpy

    out = []
    for r in results:
        choice, probe = r.get("choice") or {}, r.get("probe") or {}
        if r.get("requested_backend") != "auto" or choice.get("by") not in ("probe", "cache"):
            continue
        ms = probe.get("ms") or {}
        figures = ", ".join(f"{k} {v:.3f}" for k, v in sorted(ms.items(), key=lambda kv: kv[1]))
        how = "measured now" if choice["by"] == "probe" else "measured earlier, from the cache"
        chosen = Candidate(r["backend"], choice.get("threads"), choice.get("spin")).label  # as doctor names it
        out.append(f"auto ({row_name(r)}): chose {chosen} ({how}; median ms: {figures})")
        out += [f"  not used, although faster: {k}: {str(v)[:160]}" for k, v in (probe.get("skipped") or {}).items()
                if "budget" in str(v) or "golden" in str(v)]  # the accuracy check turned it down
    return out


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
    backends = list(dict.fromkeys(b for name in args.backend or ["auto"]
                                  for b in (BACKENDS if name == "all" else [name])))
    duration = args.duration if args.duration is not None or args.iterations is not None else 3.0
    quiet = args.quiet or args.json
    combos = [(bundle, backend) for bundle in args.bundles for backend in backends]
    results: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    for bundle, backend in combos:
        common = {"backend": backend, "warmup": args.warmup, "duration": duration,
                  "iterations": args.iterations, "threads": args.threads, "precision": args.precision}
        if not quiet and len(combos) > 1:
            print(f"benchmarking {bundle} with {backend}" + (f" on {args.pipeline}" if args.pipeline else ""),
                  file=sys.stderr)
        try:
            if args.pipeline:
                from edge_sdk.benchmark_pipeline import benchmark_pipeline

                results.append(benchmark_pipeline(bundle, args.pipeline, **common))
            else:
                results.append(benchmark_model(bundle, batch=args.batch, **common))
            results[-1]["requested_backend"] = backend
        except EdgeSDKError as e:
            if len(combos) == 1:
                raise
            skipped.append({"bundle": str(bundle), "backend": backend, "reason": str(e)})
    if not results:
        raise EdgeSDKError("no combination could run: " + "; ".join(f"{s['bundle']} with {s['backend']}: "
                                                                      f"{s['reason']}" for s in skipped))
    report: dict[str, Any] = {"schema": SCHEMA, "provenance": provenance(args.threads),
              "settings": {"batch": args.batch, "warmup_s": args.warmup, "duration_s": duration,
                           "iterations": args.iterations, "threads": args.threads, "pipeline": args.pipeline,
                           "backends": backends},
              "results": results, "skipped": skipped}
    if args.json_out:
        atomic_write_text(args.json_out, json.dumps(report, indent=1, default=str) + "\n")
    if args.plot:
        from edge_sdk.plots import plot_latency_bars

        rows = [{"label": f"{r['model']} {r['precision']} {r['backend']}" + (" (pipeline)" if r["kind"] == "pipeline"
                                                                               else f" b{r['batch']}"),
                 "median_ms": r["latency_ms"]["median"], "p90_ms": r["latency_ms"]["p90"]} for r in results]
        plot_latency_bars(rows, args.plot, title="edge-sdk benchmark: warm latency per call")
    warnings = warning_lines(results)
    if args.json:
        print_json(report)
        if args.quiet:
            for w in warnings:
                print(w, file=sys.stderr)
            return 0
    out = sys.stderr if args.json else sys.stdout  # with --json, stdout holds the JSON alone
    prov = report["provenance"]
    v = prov["versions"]
    print(f"{prov['cpu']}, {prov['usable_cores']}/{prov['cores']} cores, threads {args.threads or 'default'}; "
          f"onnxruntime {v['onnxruntime']}, openvino {v.get('openvino') or '-'}, numpy {v['numpy']}, "
          f"opencv {v['opencv']}, tensorrt {v['tensorrt'] or '-'}", file=out)
    print("latency in ms (warm); load and first inference are measured apart; accuracy: the bundle's golden samples "
          "on each backend where it has them, else its parity check (AE: mean angular error)", file=out)
    print(_table(results), file=out)
    for line in choice_lines(results):
        print(line, file=out)
    for r in results:
        if r["kind"] == "pipeline":
            print(_pipeline_table(r), file=out)
    for w in warnings:
        print(w, file=out)
    for s in skipped:
        print(f"skipped {s['bundle']} with {s['backend']}: {s['reason']}", file=out)
    for path in (args.json_out, args.plot):
        if path:
            print(f"wrote {path}", file=out)
    return 0
