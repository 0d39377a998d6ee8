"""`edge-sdk validate BUNDLE`: parity against PyTorch, or a TensorRT compatibility check."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from edge_sdk.cli.output import format_table, print_json

HELP = "check a bundle against PyTorch FP32 (or its TensorRT compatibility)"
DESCRIPTION = """\
Re-run a bundle in ONNX Runtime and its PyTorch FP32 source on validation data and report,
per output, SQNR, max/mean absolute error, argmax agreement, and the task metric
(top-1 delta for classifiers, mean angular-error delta for emlp) against the budget.
Exit status 1 when the budget is broken.

A zoo bundle is checked against the zoo model. Any other bundle needs its source named with
--model (file.py:factory, a checkpoint with --arch, a .pt2): validate never imports, runs or
loads code or files named in a bundle's manifest, since a bundle may come from anyone. The
source must be the one the bundle was exported from (its sha256 is in the manifest).

Data: --val-data, else the validation data the manifest records when it is reachable here (the
export's --val-data, or the --calib samples it held out), else the zoo model's test split, else
seeded random inputs (warned). --metric FILE.py:FUNCTION judges by your own metric (see edge-sdk
export --help); it is never imported from the manifest, so pass it again (its budget and mode
default to what the export recorded). The output dtypes must be PyTorch's (FP32 I/O).

--target tensorrt needs no TensorRT: it checks the ONNX against the TensorRT ONNX parser's
operator support, QDQ symmetry (zero points 0) and shapes an optimisation profile can cover.

examples:
  edge-sdk validate bundles/compact-cnn-int8
  edge-sdk validate bundles/mine --val-data val-images/ --json
  edge-sdk validate bundles/net --model net.py:make_model
  edge-sdk validate bundles/net --model net.py:make_model --metric metric.py:top1 --metric-budget 0.01
  edge-sdk validate bundles/mine --model my-weights.safetensors --arch compact-cnn
  edge-sdk validate bundles/compact-cnn-int8 --target tensorrt
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("validate", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bundle", type=Path, metavar="BUNDLE", help="bundle directory")
    p.add_argument("--val-data", dest="data", type=Path, metavar="PATH",
                   help="validation data: images, an ImageFolder directory, .npy, or .npz with x and y "
                        "(default: what the manifest records, if reachable)")
    p.add_argument("--data", dest="data", type=Path, help=argparse.SUPPRESS)  # the old name of --val-data
    p.add_argument("--model", metavar="SOURCE",
                   help="the bundle's source (file.py:factory, checkpoint, .pt2); needed unless it is a zoo bundle")
    p.add_argument("--arch", metavar="ZOO_NAME", help="architecture of a --model checkpoint")
    p.add_argument("--input-shape", metavar="NxCxHxW", help="input shape with batch (default: the manifest's)")
    p.add_argument("--metric", metavar="FILE.py:FUNCTION", help="judge by this metric(outputs, labels) -> float")
    p.add_argument("--metric-budget", type=float, metavar="B",
                   help="largest allowed drop against PyTorch FP32 (default: the export's)")
    p.add_argument("--metric-mode", choices=["higher", "lower"], help="which is better (default: the export's, "
                   "else higher)")
    p.add_argument("--target", choices=["onnxruntime", "tensorrt"], default="onnxruntime")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.target == "tensorrt":
        return _tensorrt(args)
    from converters.input_shapes import parse_shape
    from converters.validate import validate_bundle

    report = validate_bundle(args.bundle, args.data, model=args.model, arch=args.arch,
                             input_shape=parse_shape(args.input_shape) if args.input_shape else None,
                             metric=args.metric, metric_budget=args.metric_budget, metric_mode=args.metric_mode,
                             log=None if args.json else lambda msg: print(f"note: {msg}"))
    if args.json:
        print_json(report.to_json())
    else:
        rows = [(name, f"{s['max_abs']:.3g}", f"{s['mean_abs']:.3g}",
                 f"{s['sqnr_db']:.1f}" if s.get("sqnr_db") is not None else "-",
                 f"{100 * s['argmax_agreement']:.2f} %" if "argmax_agreement" in s else "-")
                for name, s in report.outputs.items()]
        print(f"{args.bundle}: {report.dataset}, {report.samples} samples")
        print(format_table(["output", "max abs", "mean abs", "SQNR dB", "argmax agree"], rows))
        print(report.summary())
        for f in report.failures:
            print(f"  FAIL {f}")
    return 0 if report.passed else 1


def _tensorrt(args: argparse.Namespace) -> int:
    from converters.tensorrt_check import check_tensorrt_compat
    from runtimes.manifest import read_manifest, verified_artifact

    artifact = verified_artifact(args.bundle, read_manifest(args.bundle))
    report = check_tensorrt_compat(artifact)
    if args.json:
        print_json(report)
    else:
        print(f"{artifact}: TensorRT compatibility {'OK' if report['ok'] else 'FAILED'}")
        for e in report["errors"]:
            print(f"  error: {e}")
        for w in report["warnings"]:
            print(f"  warning: {w}")
    return 0 if report["ok"] else 1
