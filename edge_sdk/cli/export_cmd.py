"""`edge-sdk export MODEL -o BUNDLE`: convert a model into a validated deployment bundle."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from edge_sdk.cli.output import print_json
from edge_sdk.errors import EdgeSDKError, ParityError
from runtimes.precisions import CALIB_METHODS, CHOICES  # the precision table: torch-free, so --help stays light

PRECISION_CHOICES = list(CHOICES)

HELP = "convert a zoo model or your checkpoint to a validated ONNX bundle"
DESCRIPTION = """\
Export a model to a bundle directory (model.onnx + manifest.json + report.md), convert it to
the requested precision, and check it against the PyTorch FP32 model on held-out data. If the
accuracy budget is broken, nothing is written and the exit status is 1.

MODEL is one of:
  a zoo name                 compact-cnn, emlp, care-tiny, care-s0, ... (edge-sdk models)
  a checkpoint + --arch      my-weights.safetensors --arch compact-cnn  (or a torch.save state dict)
  a Python factory           path/to/net.py:make_model --input-shape 1x3x64x64
  a torch.export program     model.pt2

BUNDLE_DIR must be new, empty, or an earlier bundle (which is replaced in one atomic step); a
directory holding other files is refused (--force replaces a bundle that also holds other files).

precisions:
  fp32          plain export
  fp16          FP16 weights/compute, FP32 I/O; normalisations and divisions kept in FP32
  int8          static INT8 QDQ, symmetric (zero point 0), per-channel weights: runs in ONNX
                Runtime and converts to a TensorRT engine with explicit quantization
  int8-cpu      static INT8 the way ONNX Runtime's CPU kernels run fastest: uint8 activations
                with zero points, int8 per-channel weights, every quantizable op in QDQ (so
                they fuse into QLinear* kernels). For CPU boxes; TensorRT cannot build it
  int8-dynamic  weights INT8, activations quantized at run time (good for MLPs such as emlp)
  auto          build each, measure latency here and accuracy, keep the fastest within budget

INT8 that breaks the budget keeps its most sensitive nodes in float (measured one by one on
the validation data) until it fits, and the manifest and report.md list them; --strict refuses
it instead. edge-sdk debug-quant shows where INT8 loses accuracy, node by node.

budgets (drop vs PyTorch FP32): top-1 0.1 pp (fp16) / 0.5 pp (any int8); emlp mean angular
error 0.05 deg (fp16) / 0.15 deg (any int8); models without labels: output SQNR >= 40 / 25 dB.

examples:
  edge-sdk export compact-cnn -o bundles/compact-cnn-int8 --precision int8
  edge-sdk export care-s0 -o bundles/care-s0-cpu --precision int8-cpu
  edge-sdk export emlp -o bundles/emlp --precision auto
  edge-sdk export my.safetensors --arch compact-cnn -o bundles/mine --precision fp16
  edge-sdk export net.py:make_model --input-shape 1x3x64x64 -o bundles/net --precision int8 --calib images/
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("export", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL", help="zoo name, checkpoint, file.py:factory or .pt2")
    p.add_argument("-o", "--out", required=True, type=Path, metavar="BUNDLE_DIR", help="bundle directory to write")
    p.add_argument("--precision", default="fp32", choices=PRECISION_CHOICES)
    p.add_argument("--arch", metavar="ZOO_NAME", help="architecture of a checkpoint file")
    p.add_argument("--input-shape", metavar="NxCxHxW", help="input shape with batch, e.g. 1x3x224x224")
    p.add_argument("--calib", type=Path, metavar="PATH",
                   help="calibration data: a directory of images or an .npy array (default: the model's data)")
    p.add_argument("--calib-count", type=int, metavar="N", help="number of calibration samples (default 256)")
    p.add_argument("--calib-method", default="minmax", choices=list(CALIB_METHODS),
                   help="activation ranges: minmax (default), entropy (KL, TensorRT's method) or percentile "
                        "(99.99 %%, clips rare outliers)")
    p.add_argument("--per-tensor", action="store_true", help="per-tensor instead of per-channel INT8 weights")
    p.add_argument("--exclude-nodes", metavar="A,B", default="", help="ONNX node names to keep in float")
    p.add_argument("--opset", type=int, default=18, metavar="N", help="ONNX opset (default 18)")
    p.add_argument("--val-data", dest="data", type=Path, metavar="PATH",
                   help="validation data: image directory or .npy (default: the model's test split)")
    p.add_argument("--data", dest="data", type=Path, help=argparse.SUPPRESS)  # the old name of --val-data
    p.add_argument("--allow-accuracy-loss", action="store_true",
                   help="write the bundle even if the budget is broken (recorded in the manifest)")
    p.add_argument("--strict", action="store_true",
                   help="refuse INT8 that breaks the budget instead of keeping its most sensitive nodes in float")
    p.add_argument("--force", action="store_true",
                   help="replace BUNDLE_DIR even if it is a bundle that also holds other files (they are deleted); "
                        "never the current directory or a parent of it, nor a directory that is not a bundle")
    p.add_argument("--format", default="onnx", choices=["onnx", "c"],
                   help="onnx (default): a bundle; c: the EMLP white balance as dependency-free C99 source "
                        "(MODEL: emlp or an emlp bundle; --precision fp32 or int8)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    p.add_argument("--json", action="store_true", help="print the manifest as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from converters.pipeline import export
    from converters.sources import parse_shape
    from runtimes.manifest import read_manifest

    if args.calib_count is not None and args.calib_count < 1:
        raise EdgeSDKError("--calib-count must be at least 1")
    quiet = args.quiet or args.json

    def log(msg: str) -> None:
        if not quiet:
            print(msg, file=sys.stderr)

    if args.format == "c":
        return _export_c(args, log)
    try:
        out = export(
            args.model, args.out, precision=args.precision, arch=args.arch,
            input_shape=parse_shape(args.input_shape) if args.input_shape else None,
            calibration=args.calib, calib_count=args.calib_count, calib_method=args.calib_method,
            per_channel=not args.per_tensor, exclude_nodes=[n for n in args.exclude_nodes.split(",") if n],
            opset=args.opset, data=args.data, allow_accuracy_loss=args.allow_accuracy_loss, strict=args.strict,
            force=args.force,
            show_progress=not quiet, log=log,
        )
    except ParityError:
        raise  # with --json, the CLI prints {"error": {..., "parity": REPORT}}
    manifest = read_manifest(out)
    if args.json:
        print_json({"ok": True, "bundle": str(out), "manifest": manifest.to_json()})
    else:
        parity = manifest.parity or {}
        verdict = "within budget" if parity.get("passed") else "OVER BUDGET (--allow-accuracy-loss)"
        print(f"{out}: {manifest.model} {manifest.precision}, {verdict}: {parity.get('budget', {}).get('rule')}")
        mixed = manifest.extra.get("mixed_precision")
        if isinstance(mixed, dict):
            from converters.mixed_precision import summary_line

            print(f"{out}: {summary_line(mixed)}")
    return 0


def _export_c(args: argparse.Namespace, log: Any) -> int:
    from converters.c_awb import export_c

    if args.precision not in ("fp32", "int8"):
        raise EdgeSDKError(f"--format c builds --precision fp32 or int8, not {args.precision}")
    out = export_c(args.model, args.out, args.precision, log=log)
    if args.json:
        print_json({"ok": True, "format": "c", "out": str(out), "files": sorted(p.name for p in out.iterdir())})
    else:
        print(f"{out}: C99 white balance ({args.precision}); build and test with: make -C {out} test")
    return 0
