"""`edge-sdk demo`: convert, validate and run the shipped models end to end."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from edge_sdk.cli import checks
from edge_sdk.cli.output import print_json

HELP = "convert the shipped models and run them on synthetic cameras (about a minute on 2 CPU cores)"
DESCRIPTION = """\
The main job, with no arguments: converts emlp, compact-cnn and care-tiny to FP32 and INT8
bundles (each validated against PyTorch within its accuracy budget), runs white balance on a
synthetic dual-exposure camera whose true illuminant is known, runs the classifiers on a digits
camera stream, and prints a summary table. It writes to the output directory:

  bundles/                        the six validated bundles (model.onnx + manifest.json + report.md)
  white_balance.mp4               the white-balanced stream, before | after
  white_balance_before_after.png  the first frame, before | after
  report.json                     every number in the summary, and more

It takes about a minute on a 2-core CPU machine (measured: 60 s wall on an idle 2-core box; up to
4 minutes when other jobs share the cores); report.json records the time it took.

examples:
  edge-sdk demo
  edge-sdk demo --out /tmp/demo --frames 100
  edge-sdk demo --json | jq .white_balance.angular_error_deg
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("demo", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", "-o", type=Path, default=Path("edge-sdk-demo"), metavar="DIR",
                   help="output directory (default: ./edge-sdk-demo)")
    p.add_argument("--frames", type=int, default=40, metavar="N", help="dual-exposure frames (default 40)")
    p.add_argument("--digits", type=int, default=300, metavar="N", help="digit frames per classifier (default 300)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edge_sdk.demo import run_demo, summary_table

    checks.number_in_range(args.frames, "--frames", 1, 100_000)
    checks.number_in_range(args.digits, "--digits", 1, 100_000)
    checks.writable_dir(args.out, "--out")
    quiet = args.quiet or args.json

    def log(msg: str) -> None:
        if not quiet:
            print(msg, file=sys.stderr)

    report = run_demo(args.out, frames=args.frames, digits=args.digits, show_progress=not quiet, log=log)
    if args.json:
        print_json(report)
        return 0
    print()
    print(summary_table(report))
    print(f"\nwrote {args.out}/: bundles/, white_balance.mp4, white_balance_before_after.png, report.json "
          f"({report['seconds']:.0f} s)")
    return 0
