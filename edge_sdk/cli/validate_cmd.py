"""`edge-sdk validate BUNDLE`: parity against PyTorch, or a TensorRT compatibility check."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from edge_sdk.cli.output import format_table, print_json

HELP = "check a bundle against PyTorch FP32 (or its TensorRT compatibility)"
DESCRIPTION = """\
Re-run a bundle in ONNX Runtime and its PyTorch FP32 source on validation data and report,
per output, max/mean absolute error, cosine similarity, argmax agreement, and the task metric
(top-1 delta for classifiers, mean angular-error delta for emlp) against the budget.
Exit status 1 when the budget is broken.

--target tensorrt needs no TensorRT: it checks the ONNX against the TensorRT ONNX parser's
operator support, QDQ symmetry (zero points 0) and shapes an optimisation profile can cover.

examples:
  edge-sdk validate bundles/compact-cnn-int8
  edge-sdk validate bundles/mine --data val-images/ --json
  edge-sdk validate bundles/compact-cnn-int8 --target tensorrt
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("validate", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bundle", type=Path, metavar="BUNDLE", help="bundle directory")
    p.add_argument("--data", type=Path, metavar="PATH", help="validation data: image directory or .npy")
    p.add_argument("--target", choices=["onnxruntime", "tensorrt"], default="onnxruntime")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.target == "tensorrt":
        return _tensorrt(args)
    from converters.validate import validate_bundle

    report = validate_bundle(args.bundle, args.data)
    if args.json:
        print_json(report.to_json())
    else:
        rows = [(name, f"{s['max_abs']:.3g}", f"{s['mean_abs']:.3g}", f"{s['cosine']:.6f}",
                 f"{100 * s['argmax_agreement']:.2f} %" if "argmax_agreement" in s else "-")
                for name, s in report.outputs.items()]
        print(f"{args.bundle}: {report.dataset}, {report.samples} samples")
        print(format_table(["output", "max abs", "mean abs", "cosine", "argmax agree"], rows))
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
