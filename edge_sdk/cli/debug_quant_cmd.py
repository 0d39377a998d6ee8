"""`edge-sdk debug-quant BUNDLE_OR_MODEL`: per-node SQNR between FP32 and INT8 activations."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from edge_sdk.cli.output import format_table, print_json
from edge_sdk.errors import EdgeSDKError

HELP = "show, node by node, where INT8 loses accuracy (SQNR vs FP32)"
DESCRIPTION = """\
Quantize a model (a bundle's recorded precision, calibration method and float nodes, or
--precision for a zoo name, checkpoint, file.py:factory or .pt2), run it and its FP32 graph on
validation data with every intermediate tensor saved (ONNX Runtime's qdq_loss_debug), and print
per node, in graph order:

  sqnr      the node's output in INT8 vs FP32 (dB; error accumulated up to this node)
  in-qdq    SQNR of its activation input across its own Q/DQ pair (this layer's quantization step)
  weight    SQNR of its INT8 weight
  int8      whether the node reads INT8 (dequantized) inputs

A sharp drop at one node marks a layer to keep in float (export --exclude-nodes NAME; export does
this itself when INT8 breaks the budget).

examples:
  edge-sdk debug-quant compact-cnn
  edge-sdk debug-quant bundles/compact-cnn-int8 --plot sqnr.png
  edge-sdk debug-quant care-tiny --precision int8-cpu --calib-method percentile --json
"""


def add_parser(sub: Any) -> None:
    from runtimes.precisions import CALIB_METHODS, STATIC_INT8

    p = sub.add_parser("debug-quant", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="BUNDLE_OR_MODEL", help="bundle directory, zoo name, checkpoint, file.py:factory")
    p.add_argument("--precision", choices=list(STATIC_INT8), help="default: the bundle's, else int8")
    p.add_argument("--model", dest="source", metavar="SOURCE",
                   help="a non-zoo bundle's source (file.py:factory, checkpoint, .pt2)")
    p.add_argument("--arch", metavar="ZOO_NAME", help="architecture of a checkpoint")
    p.add_argument("--input-shape", metavar="NxCxHxW", help="input shape with batch, e.g. 1x3x224x224")
    p.add_argument("--calib", type=Path, metavar="PATH", help="calibration data: image directory or .npy")
    p.add_argument("--calib-count", type=int, metavar="N", help="number of calibration samples (default 256)")
    p.add_argument("--calib-method", choices=list(CALIB_METHODS), help="default: the bundle's, else minmax")
    p.add_argument("--data", type=Path, metavar="PATH", help="validation data (default: the model's test split)")
    p.add_argument("--count", type=int, default=64, metavar="N", help="validation samples to compare (default 64)")
    p.add_argument("--plot", type=Path, metavar="PNG", help="also write a bar chart (needs matplotlib)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def _db(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f}"


def run(args: argparse.Namespace) -> int:
    from converters.debug_quant import debug_quant, plot
    from converters.input_shapes import parse_shape

    if args.count < 1 or args.count > 100_000:
        raise EdgeSDKError("--count must be between 1 and 100000")
    if args.calib_count is not None and args.calib_count < 1:
        raise EdgeSDKError("--calib-count must be at least 1")
    if args.plot is not None and args.plot.suffix.lower() != ".png":
        raise EdgeSDKError(f"--plot writes a PNG: give a path ending in .png, not {args.plot}")

    def log(msg: str) -> None:
        if not (args.json or args.quiet):
            print(msg, file=sys.stderr)

    result = debug_quant(args.model, precision=args.precision, arch=args.arch, source=args.source,
                         input_shape=parse_shape(args.input_shape) if args.input_shape else None,
                         calibration=args.calib, calib_count=args.calib_count, calib_method=args.calib_method,
                         data=args.data, count=args.count, log=log)
    if args.plot is not None:
        result["plot"] = str(plot(result, args.plot))
    if args.json:
        print_json(result)
        return 0
    rows = [(r["node"], r["op_type"], "yes" if r["int8"] else "no", _db(r["sqnr_db"]), _db(r["input_qdq_db"]),
             _db(r["weight_db"])) for r in result["nodes"]]
    print(f"{result['model']} {result['precision']} ({result['calib_method']}) on {result['data']}, "
          f"{result['samples']} samples")
    print(format_table(["node", "op", "int8", "sqnr (dB)", "in-qdq (dB)", "weight (dB)"], rows))
    compute = [r for r in result["nodes"] if r["int8"] and r["input_qdq_db"] is not None]
    if compute:
        worst = min(compute, key=lambda r: r["input_qdq_db"])
        print(f"weakest INT8 input: {worst['node']} ({worst['op_type']}, {worst['input_qdq_db']:.1f} dB)")
    if args.plot is not None:
        print(f"wrote {args.plot}")
    return 0
