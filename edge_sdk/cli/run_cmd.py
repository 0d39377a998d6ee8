"""`edge-sdk run BUNDLE INPUT_URI [OUTPUT_URI]`: run a bundle on a camera, file or synthetic source."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np

from edge_sdk.cli import checks
from edge_sdk.cli.output import print_json
from edge_sdk.errors import EdgeSDKError, ManifestError

HELP = "run a bundle on a camera, video, image folder or synthetic source, drawing the results"
DESCRIPTION = """\
Run a bundle frame by frame: read INPUT_URI, draw the results on each frame, write them to
OUTPUT_URI (default null://), and print a summary: frames, achieved fps, mean milliseconds per
stage (capture, preprocess, infer, postprocess, render = draw + write), and the task metric when
the source knows the truth (top-1 accuracy for frames with meta['label'], angular error for
frames with meta['illuminant'], as the synthetic:// sources give).

BUNDLE is a bundle directory or a zoo name (exported once and cached; needs the host install).
The manifest's task picks the pipeline (edge_sdk.pipelines.TASK_PIPELINES):
  classification          Classifier on single frames: top-1 label, score, top-k, timings
  illuminant-estimation   WhiteBalance on (long, short) exposure pairs: before | after image,
                          gains, illuminant, angular error; the manifest's extractor picks the
                          features (emlp: DEF + statistics, ccc: log-chroma histograms, eccc: both)

INPUT_URI: v4l2:///dev/video0, csi://0, rtsp://..., http://.../stream, file://clip.mp4, dir://frames/,
synthetic://digits, synthetic://dual-exposure, dual://?long=URI&short=URI (see edge_sdk.camera).
OUTPUT_URI: null://, file://out.mp4 (.avi, .mkv), dir://frames/, display://0. A video keeps the
input's frame rate (file://out.mp4?fps=N sets another); dir:// keeps the source file names.

The drawn label is green when its score is at least --threshold (default 0.5), amber below; the
white-balance error is green up to --threshold degrees (default 3), red above.

Per-frame results (frame index, seconds since the first frame, source file, label and score or
gains and illuminant, the error when the truth is known): --output results.jsonl or results.csv
writes them as frames arrive; --json prints the summary with them (the first 10,000 frames).

examples:
  edge-sdk run compact-cnn synthetic://digits?count=200
  edge-sdk run emlp synthetic://dual-exposure?count=30 file://wb.mp4
  edge-sdk run eccc synthetic://dual-exposure?count=30 --json
  edge-sdk run bundles/compact-cnn-int8 v4l2:///dev/video0 display://0 --backend onnxruntime
  edge-sdk run care-tiny dir://photos/ dir://labelled/ --json
  edge-sdk run compact-cnn synthetic://digits?count=100 --output results.csv --threshold 0.8
"""

TASKS = ("classification", "illuminant-estimation")
BACKENDS = ["auto", "onnxruntime", "tensorrt", "numpy"]
MAX_JSON_FRAMES = 10_000  # per-frame records kept for --json (--output streams any number)
COLUMNS = {  # per-frame record fields, in CSV column order
    "classification": ["index", "timestamp", "source_file", "label", "score", "class_index", "top_k", "truth",
                       "correct", "below_threshold"],
    "illuminant-estimation": ["index", "timestamp", "source_file", "gains", "illuminant", "angular_error_deg",
                              "above_threshold", "fallback"],
}


def add_parser(sub: Any) -> None:
    p = sub.add_parser("run", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bundle", metavar="BUNDLE", help="bundle directory or zoo name")
    p.add_argument("input", metavar="INPUT_URI", help="source URI (camera, file, directory, synthetic://...)")
    p.add_argument("output", metavar="OUTPUT_URI", nargs="?", default="null://",
                   help="sink URI (default null://)")
    p.add_argument("--backend", default="auto", choices=BACKENDS)
    p.add_argument("--max-frames", type=int, metavar="N", help="stop after N frames (default: until the source ends)")
    p.add_argument("--threshold", type=float, metavar="X",
                   help="classifiers: lowest top-1 score drawn green (default 0.5); white balance: largest angular "
                        "error drawn green, degrees (default 3)")
    p.add_argument("--output", dest="output_file", metavar="FILE",
                   help="write per-frame results to FILE (.jsonl or .csv)")
    p.add_argument("--json", action="store_true", help="print the summary and per-frame results as JSON")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import edge_sdk
    from edge_sdk.bundles import resolve_bundle
    from edge_sdk.cli.results_file import results_format

    checks.number_in_range(args.max_frames, "--max-frames", 1, checks.MAX_COUNT)
    checks.number_in_range(args.threshold, "--threshold", 0, 180)
    if args.output_file:
        results_format(args.output_file)
        checks.writable_file(args.output_file, "--output")
    quiet = args.quiet or args.json
    session = edge_sdk.load(resolve_bundle(args.bundle, quiet=quiet), backend=args.backend)
    manifest = session.manifest
    if manifest is None or manifest.task not in TASKS:
        task = manifest.task if manifest else "no manifest"
        raise ManifestError(f"edge-sdk run needs a {' or '.join(TASKS)} bundle, got {args.bundle} ({task}); "
                            "export one with edge-sdk export")
    if manifest.task == "classification" and args.threshold is not None and args.threshold > 1:
        raise EdgeSDKError(f"--threshold for a classifier is a score from 0 to 1, got {args.threshold}")
    summary = _loop(session, manifest.task, args, quiet)
    from edge_sdk.camera.frames import redact  # never print a camera password

    summary = {"model": manifest.model, "task": manifest.task, "precision": manifest.precision,
               "backend": session.backend, "input": redact(args.input), "output": redact(args.output),
               **summary}
    if not args.json:
        summary.pop("per_frame", None)
    if args.json:
        print_json(summary)
    else:
        print(format_summary(summary))
    return 0


def _record(result: Any, wb: bool, index: int, t0: float, threshold: float) -> dict[str, Any]:
    """One frame's results, flat and JSON-ready (see COLUMNS)."""
    from edge_sdk.awb.metrics import angular_error_deg

    frame = result.frame
    meta = frame.meta if frame is not None else {}
    path = meta.get("path") if isinstance(meta.get("path"), str) else None
    rec: dict[str, Any] = {"index": index, "timestamp": round(frame.timestamp - t0, 6) if frame is not None else None,
                           "source_file": path.replace("\\", "/").rsplit("/", 1)[-1] if path else None}
    if wb:
        error = float(angular_error_deg(result.illuminant, meta["illuminant"])) if "illuminant" in meta else None
        rec.update(gains=[round(float(g), 5) for g in result.gains],
                   illuminant=[round(float(c), 5) for c in result.illuminant],
                   angular_error_deg=None if error is None else round(error, 4),
                   above_threshold=None if error is None else error > threshold, fallback=result.fallback)
        return rec
    rec.update(label=result.label, score=round(float(result.score), 5), class_index=int(result.indices[0]),
               top_k=[[lab, round(float(sc), 5)] for lab, sc in zip(result.labels, result.scores)],
               below_threshold=float(result.score) < threshold)
    if "label" in meta:
        truth = meta["label"]
        rec.update(truth=truth, correct=truth == (result.indices[0] if isinstance(truth, int) else result.label))
    return rec


def _loop(session: Any, task: str, args: argparse.Namespace, quiet: bool) -> dict[str, Any]:
    import contextlib

    from tqdm.auto import tqdm

    from edge_sdk.awb.metrics import summarize
    from edge_sdk.camera import open_sink
    from edge_sdk.cli.results_file import ResultsWriter
    from edge_sdk.pipelines import open_task_source, pipeline_for
    from edge_sdk.pipelines.draw import ERROR_THRESHOLD_DEG, SCORE_THRESHOLD, draw_prediction, draw_white_balance

    wb = task == "illuminant-estimation"
    threshold = args.threshold if args.threshold is not None else ERROR_THRESHOLD_DEG if wb else SCORE_THRESHOLD
    pipeline: Any = pipeline_for(session)  # the manifest's task (and extractor) pick it: one table
    stages: dict[str, float] = {}
    hits, labelled, errors, fallbacks, n = 0, 0, [], 0, 0
    per_frame: list[dict[str, Any]] = []
    t_first: float | None = None
    with contextlib.ExitStack() as stack:
        source = stack.enter_context(open_task_source(task, args.input))
        sink = stack.enter_context(open_sink(args.output, fps=source.fps))
        results = stack.enter_context(ResultsWriter(args.output_file, COLUMNS[task], rgb=("gains", "illuminant"))) \
            if args.output_file else None
        bar = stack.enter_context(tqdm(total=args.max_frames, disable=quiet or not sys.stderr.isatty(), unit="frame",
                                       file=sys.stderr, dynamic_ncols=True))
        t0 = time.perf_counter()
        for result in pipeline.stream(source):
            with result.timings.stage("render"):
                image = draw_white_balance(result, threshold_deg=threshold) if wb else \
                    draw_prediction(result.frame.image, result, threshold=threshold)
                rec = _record(result, wb, n, t_first if t_first is not None else result.frame.timestamp, threshold)
                sink.write(image, name=rec["source_file"])
            if t_first is None:
                t_first = result.frame.timestamp
            if results is not None:
                results.write(rec)
            if args.json and len(per_frame) < MAX_JSON_FRAMES:
                per_frame.append(rec)
            if wb and rec["angular_error_deg"] is not None:
                errors.append(rec["angular_error_deg"])
            if wb and result.fallback:
                fallbacks += 1
            if not wb and "truth" in rec:
                hits += int(rec["correct"])
                labelled += 1
            for k, v in result.timings.ms.items():
                stages[k] = stages.get(k, 0.0) + v
            n += 1
            bar.update()
            if args.max_frames is not None and n >= args.max_frames:
                break
        seconds = time.perf_counter() - t0
        st = source.stats
    out: dict[str, Any] = {"frames": n, "seconds": round(seconds, 3), "fps": round(n / seconds, 2) if n else 0.0,
                           "stage_ms": {k: round(v / max(n, 1), 3) for k, v in stages.items()},
                           "source": {"frames_read": st.frames_read, "dropped": st.dropped,
                                      "reconnects": st.reconnects, "skipped_corrupt": list(st.skipped_corrupt)}}
    if labelled:
        out.update(top1_accuracy=round(hits / labelled, 4), labelled_frames=labelled)
    if errors:
        out["angular_error_deg"] = {k: round(v, 3) for k, v in summarize(np.asarray(errors)).items()}
    if wb:
        out["fallbacks"] = fallbacks
    out["threshold"] = threshold
    if args.output_file:
        out["results_file"] = args.output_file
    out["per_frame"] = per_frame
    if n > len(per_frame) and args.json:
        out["per_frame_truncated"] = True
    return out


def format_summary(s: dict[str, Any]) -> str:
    lines = [f"{s['model']} ({s['precision']}, {s['backend']}) on {s['input']} -> {s['output']}: "
             f"{s['frames']} frames in {s['seconds']:.2f} s, {s['fps']:.1f} fps",
             "  mean ms: " + ", ".join(f"{k} {v:.2f}" for k, v in s["stage_ms"].items())]
    if "top1_accuracy" in s:
        lines.append(f"  top-1 accuracy {s['top1_accuracy']:.4f} on {s['labelled_frames']} labelled frames")
    if "angular_error_deg" in s:
        e = s["angular_error_deg"]
        lines.append(f"  angular error mean {e['mean']:.2f} deg, median {e['median']:.2f}, worst 25% "
                     f"{e['worst25']:.2f} (n={int(e['n'])}); fallbacks {s.get('fallbacks', 0)}")
    src = s.get("source", {})
    if src.get("dropped") or src.get("reconnects"):
        lines.append(f"  source: {src['dropped']} frames dropped (slow consumer), {src['reconnects']} reconnects")
    skipped = src.get("skipped_corrupt") or []
    if skipped:
        shown = ", ".join(skipped[:5]) + (f", ... ({len(skipped) - 5} more)" if len(skipped) > 5 else "")
        lines.append(f"  skipped {len(skipped)} corrupt input(s): {shown}")
    return "\n".join(lines)
