"""`edge-sdk check BUNDLE`: the bundle's golden samples through the runtime on this machine, judged with
the export's metric and budget (runtimes.selfcheck). Needs no torch."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from edge_sdk.cli.output import format_table, print_json
from runtimes.backends import BACKENDS

HELP = "check a bundle on this device against its golden samples (no torch needed)"
DESCRIPTION = """\
Run the golden samples stored in the bundle at export (a few dozen held-out inputs with their
labels or true illuminants, the PyTorch FP32 outputs and this artifact's outputs on the export
host) through the runtime on this machine, and judge the result with the export's metric and
the budget of the bundle's precision: top-1 for classifiers, mean angular error for white
balance, output SQNR otherwise. Run it where the model runs: a Jetson, an ARM board, a TensorRT
engine, a new onnxruntime.

The rule. A few dozen samples cannot re-measure a budget of 0.5 pp (with 48 samples one changed
prediction is 2.1 pp), so the device is judged on its drift from the export host, on the same
samples, added to what the export measured on the whole validation set:
  Δ = Δ_export (manifest parity) + (metric on this device - metric on the export host)
  classification      top-1 drop Δ <= budget + one golden sample (100/N pp): one changed
                      prediction is within what N samples resolve, two are not
  white balance       mean angular error increase Δ <= budget (deg)
  no labels           worst output SQNR against FP32 on the golden samples >= budget (dB)
A device that computes what the export host computed passes exactly when the export passed.
Beside it: per output SQNR, max abs error and argmax agreement against FP32 and the host.

Exit status: 0 within budget, 1 budget broken (the message names output, metric, figures and
budget) or the golden samples were changed after export, 2 the bundle has no golden samples
(exported by an older edge-sdk: re-export it).

examples:
  edge-sdk check bundles/compact-cnn-int8
  edge-sdk check bundles/emlp --backend numpy
  edge-sdk check bundles/compact-cnn-int8 --backend tensorrt --json
Python: runtimes.check("bundles/compact-cnn-int8", backend="onnxruntime").passed
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("check", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bundle", type=Path, metavar="BUNDLE", help="bundle directory (from edge-sdk export)")
    p.add_argument("--backend", choices=["auto", *BACKENDS], default="auto",
                   help="runtime to check (default auto: TensorRT for engines, else ONNX Runtime)")
    p.add_argument("--json", action="store_true", help="print the check report as one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from runtimes.golden import NoGoldenSamplesError
    from runtimes.selfcheck import check

    try:
        report = check(args.bundle, backend=args.backend)
    except NoGoldenSamplesError as e:  # not a failed check: there is nothing to check against (exit 2)
        if args.json:
            print_json({"error": {"type": type(e).__name__, "message": str(e), "exit_code": 2}})
        print(f"edge-sdk: error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print_json(report.to_json())
        return 0 if report.passed else 1
    rows = [(name, _db(s["vs_reference"]), _db(s["vs_host"]), f"{s['vs_host']['max_abs']:.3g}",
             _agree(s["vs_reference"]), _agree(s["vs_host"])) for name, s in report.outputs.items()]
    print(f"{args.bundle}: {report.samples} golden samples ({report.dataset}) on {report.backend}, {report.machine}")
    print(format_table(["output", "SQNR vs FP32", "SQNR vs host", "max abs vs host", "argmax = FP32",
                        "argmax = host"], rows))
    print(report.summary())
    for f in report.failures:
        print(f"  FAIL {f}")
    return 0 if report.passed else 1


def _db(stats: dict[str, float]) -> str:
    return f"{stats['sqnr_db']:.1f} dB"


def _agree(stats: dict[str, float]) -> str:
    return f"{100 * stats['argmax_agreement']:.1f} %" if "argmax_agreement" in stats else "-"
