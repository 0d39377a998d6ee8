"""`edge-sdk build BUNDLE`: build a TensorRT engine (model.engine) from a bundle's ONNX."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from edge_sdk.cli import checks
from edge_sdk.cli.output import print_json
from edge_sdk.errors import EdgeSDKError
from runtimes.precisions import TENSORRT  # the precision table: what TensorRT can build

HELP = "build a TensorRT engine from a bundle (on the device that will run it)"
DESCRIPTION = """\
Build model.engine from the bundle's model.onnx with TensorRT's ONNX parser and record it in
the manifest (TensorRT version, GPU and compute capability, precision, ONNX hash). Run it on the
device that will run the engine: plans are specific to a GPU and a TensorRT version. The runtime
does the same automatically on first load when the engine is missing or stale.

INT8 comes from the bundle's Q/DQ graph (explicit quantization; export with --precision int8
first), so no calibrator runs here. The equivalent trtexec command is printed for JetPack users.

examples:
  edge-sdk build bundles/compact-cnn-int8 --precision int8
  edge-sdk build bundles/care-s0 --precision fp16 --workspace 1G --timing-cache ~/.cache/trt.cache
"""


def parse_size(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgG]?)(?:i?[bB])?\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"bad size {text!r}: use e.g. 512M or 2G")
    return int(float(m.group(1)) * {"": 1, "k": 2**10, "m": 2**20, "g": 2**30}[m.group(2).lower()])


def add_parser(sub: Any) -> None:
    p = sub.add_parser("build", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bundle", type=Path, metavar="BUNDLE", help="bundle directory (from edge-sdk export)")
    p.add_argument("--precision", choices=list(TENSORRT),
                   help="engine precision (default: the bundle's; int8 needs an int8 bundle)")
    p.add_argument("--workspace", type=parse_size, metavar="SIZE", help="builder workspace limit, e.g. 1G")
    p.add_argument("--timing-cache", type=Path, metavar="FILE", help="load/save TensorRT's timing cache here")
    p.add_argument("--version-compatible", action="store_true",
                   help="let later TensorRT releases of the same major version run the plan")
    p.add_argument("--max-batch", type=int, default=32, metavar="N", help="largest batch the engine accepts")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    p.add_argument("--json", action="store_true", help="print the engine's manifest entry as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edge_sdk._io import atomic_write_text
    from runtimes.engine_build import build_engine, check_bundle_precision
    from runtimes.manifest import MANIFEST_NAME, read_manifest, verified_artifact

    checks.number_in_range(args.max_batch, "--max-batch", 1, checks.MAX_BATCH)
    checks.writable_file(args.timing_cache, "--timing-cache")
    manifest = read_manifest(args.bundle)
    onnx_path = verified_artifact(args.bundle, manifest)
    precision = args.precision or manifest.precision
    check_bundle_precision(manifest.precision)
    if precision == "int8" and manifest.precision != "int8":
        raise EdgeSDKError(f"{args.bundle} is {manifest.precision}; INT8 engines come from an INT8 (Q/DQ) bundle: "
                           "edge-sdk export MODEL --precision int8")
    entry = build_engine(onnx_path, args.bundle / "model.engine", precision=precision, workspace=args.workspace,
                         timing_cache=args.timing_cache, version_compatible=args.version_compatible,
                         max_batch=args.max_batch,
                         log=(lambda m: None) if args.quiet or args.json else lambda m: print(m, file=sys.stderr))
    manifest.engines = [e for e in manifest.engines if e.get("file") != entry["file"]] + [entry]
    atomic_write_text(args.bundle / MANIFEST_NAME, manifest.dumps())
    if args.json:
        print_json(entry)
    else:
        print(f"{args.bundle / entry['file']}: TensorRT {entry['tensorrt_version']} {precision} engine for "
              f"{entry['gpu_name']} (sm {entry['compute_capability']})")
    return 0
