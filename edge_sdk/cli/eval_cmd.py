"""`edge-sdk eval NAME`: measure a zoo model on its held-out test split."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from edge_sdk.cli import checks
from edge_sdk.cli.output import format_table, print_json
from edge_sdk.errors import EdgeSDKError
from edge_sdk.zoo import create_model
from edge_sdk.zoo.registry import get_spec

HELP = "evaluate a zoo model on its held-out test split"
DESCRIPTION = """\
Evaluate a model on the test split of its data.

  classifiers  top-1 accuracy (digits-28 by default, or the dataset found in --data DIR)
  emlp         angular error in degrees (mean, median, tri-mean, best 25 %, worst 25 %) on the
               synthetic dual-exposure test split, beside a same-size MLP without the
               dual-exposure feature and four classical baselines (gray world, white patch,
               shades of gray, gray edge)

examples:
  edge-sdk eval compact-cnn
  edge-sdk eval emlp --json
  edge-sdk eval emlp --plot cdf.png
  edge-sdk eval compact-cnn --weights my-compact-cnn.safetensors --data ~/data/mnist
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("eval", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", metavar="NAME", help="zoo model name (see: edge-sdk models)")
    p.add_argument("--weights", type=Path, metavar="FILE",
                   help="evaluate these weights instead of the shipped ones (safetensors or state dict)")
    p.add_argument("--data", type=Path, metavar="DIR", help="classifier test data directory (IDX or CIFAR binary)")
    p.add_argument("--plot", type=Path, metavar="PNG", nargs="?", const=Path("emlp-angular-error-cdf.png"),
                   help="emlp: draw the angular-error CDF against the baselines (default file: "
                        "emlp-angular-error-cdf.png; needs matplotlib)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def load_model(name: str, weights: Path | None) -> Any:
    if weights is None:
        return create_model(name)
    from edge_sdk.zoo.weights import load_into, read_state_dict

    model = create_model(name, pretrained=False)
    load_into(model, read_state_dict(weights), source=str(weights))
    return model.eval()


def run(args: argparse.Namespace) -> int:
    spec = get_spec(args.name)
    checks.writable_file(args.plot, "--plot")
    model = load_model(spec.name, args.weights)
    if spec.task == "illuminant-estimation":
        from edge_sdk.awb.metrics import summarize
        from edge_sdk.training.emlp import angular_errors

        errors = angular_errors(model)
        results: dict[str, Any] = {k: summarize(v) for k, v in errors.items()}
        if args.plot:
            from edge_sdk.plots import plot_error_cdf

            plot_error_cdf(errors, args.plot, title="emlp vs baselines, synthetic dual-exposure test split")
            if not args.json:
                print(f"wrote {args.plot}")
        if args.json:
            print_json({"model": spec.name, "split": "test", "angular_error_deg": results})
            return 0
        keys = ["mean", "median", "trimean", "best25", "worst25"]
        rows = [(m, *(f"{s[k]:.2f}" for k in keys)) for m, s in results.items()]
        print(f"{spec.name}: angular error (degrees) on the synthetic dual-exposure test split")
        print(format_table(["method", *keys], rows))
        return 0
    if args.plot:
        raise EdgeSDKError("--plot draws the angular-error CDF of illuminant estimation (edge-sdk eval emlp --plot)")
    if spec.task == "classification":
        from edge_sdk.data.classification import detect_dataset
        from edge_sdk.training.evaluate import evaluate_classifier

        dataset = detect_dataset(args.data) if args.data else "digits-28"
        pre = spec.preprocessing
        res = evaluate_classifier(model, dataset=dataset, split="test", data_dir=args.data,
                                  mean=pre.get("mean"), std=pre.get("std"))
        if args.json:
            print_json({"model": spec.name, "dataset": dataset, "split": "test", **res})
        else:
            print(f"{spec.name}: top-1 {100 * res['top1']:.2f} % on {dataset} test ({res['n']} images)")
        return 0
    raise EdgeSDKError(f"no evaluation defined for task {spec.task!r}")
