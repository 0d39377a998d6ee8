"""`edge-sdk eval NAME|BUNDLE`: measure a zoo model, or a bundle, on held-out data."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from edge_sdk.cli import checks
from edge_sdk.cli.output import format_table, print_json
from edge_sdk.errors import EdgeSDKError
from edge_sdk.zoo import create_model
from edge_sdk.zoo.registry import get_spec

HELP = "evaluate a zoo model or a bundle on held-out data"
DESCRIPTION = """\
Evaluate a model on the test split of its data, or a bundle (a directory written by edge-sdk
export) through the runtime (ONNX Runtime, CPU).

  classifiers  top-1 accuracy (digits-28 by default, or the dataset found in --data DIR)
  emlp         angular error in degrees (mean, median, tri-mean, best 25 %, worst 25 %) on the
               synthetic dual-exposure test split, beside a same-size MLP without the
               dual-exposure feature and four classical baselines (gray world, white patch,
               shades of gray, gray edge); --sensor renders the test split through another
               sensor's curves (white balance is learned per sensor: pass --weights trained for
               it with `edge-sdk train emlp --sensor ...`; the shipped Nikon-trained EMLP is then
               listed too, as emlp-shipped)
  eccc, ccc    the same table: EMLP, ECCC, CCC, the no-DEF MLP and the baselines on the same
               scenes (on another --sensor, the models not given by --weights are trained
               there for it by their recipes, seed 0)
  bundles      on the zoo's test split when the bundle came from the zoo, or on --data: an
               ImageFolder directory (one sub-folder per class), an .npz with x and y, or an
               IDX / CIFAR directory for digit-sized classifiers; without either, on the validation
               data the manifest records, if it is reachable here. Classifiers report top-1,
               white balance the angular error; --metric FILE.py:FUNCTION (called as
               FUNCTION(outputs, labels) -> float, outputs a dict name -> array) any other metric

examples:
  edge-sdk eval compact-cnn
  edge-sdk eval emlp --json
  edge-sdk eval emlp --plot cdf.png
  edge-sdk eval emlp --sensor "Sigma SDMerill (NPL)" --weights emlp-sigma.safetensors
  edge-sdk eval compact-cnn --weights my-compact-cnn.safetensors --data ~/data/mnist
  edge-sdk eval bundles/compact-cnn-int8
  edge-sdk eval bundles/mine --data val/ --json
  edge-sdk eval bundles/detector --data val.npz --metric metric.py:box_iou
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("eval", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", metavar="NAME|BUNDLE", help="zoo model name (see: edge-sdk models) or a bundle directory")
    p.add_argument("--weights", type=Path, metavar="FILE",
                   help="evaluate these weights instead of the shipped ones (safetensors or state dict)")
    p.add_argument("--data", type=Path, metavar="PATH",
                   help="test data: IDX or CIFAR binary directory; for a bundle also ImageFolder or .npz (x, y)")
    p.add_argument("--metric", metavar="FILE.py:FUNCTION", help="a bundle: report this metric(outputs, labels)")
    p.add_argument("--sensor", metavar="NAME_OR_CSV",
                   help="emlp: evaluate on test scenes rendered for this sensor, a colour-science camera name or "
                        "a wavelength_nm,r,g,b CSV (default: Nikon 5100 (NPL), the shipped weights' sensor)")
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
    if Path(args.name).is_dir():
        from edge_sdk.cli.eval_bundle import eval_bundle

        return eval_bundle(args)
    if args.metric:
        raise EdgeSDKError("--metric evaluates a bundle (edge-sdk eval BUNDLE --metric FILE.py:FUNCTION)")
    spec = get_spec(args.name)
    checks.writable_file(args.plot, "--plot")
    if args.sensor is not None and spec.task != "illuminant-estimation":
        raise EdgeSDKError(f"--sensor applies to white balance (emlp), not {spec.name}")
    model = load_model(spec.name, args.weights)
    if spec.task == "illuminant-estimation":
        return _eval_white_balance(args, spec.name, model)
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


def _eval_white_balance(args: argparse.Namespace, name: str, model: Any) -> int:
    from edge_sdk.awb.metrics import summarize
    from edge_sdk.data.sensors import load_sensor, sensor_of_weights
    from edge_sdk.training.evaluate import white_balance_errors

    sensor = load_sensor(args.sensor)
    references = {}
    if args.weights is not None and sensor != load_sensor(None):
        references[f"{name}-shipped"] = create_model(name)  # the shipped (Nikon-trained) weights, for comparison
    trained_for = sensor_of_weights(args.weights) if args.weights is not None else load_sensor(None).describe()
    if trained_for["sha256"] and trained_for["sha256"] != sensor.sha256:
        print(f"edge-sdk: note: the weights were trained for {trained_for['name']}, evaluated on {sensor.name}",
              file=sys.stderr)
    errors = white_balance_errors(name, model, sensor=sensor, references=references)  # emlp, eccc, ccc side by side
    results: dict[str, Any] = {k: summarize(v) for k, v in errors.items()}
    where = f"the synthetic dual-exposure test split, sensor {sensor.name}"
    if args.plot:
        from edge_sdk.plots import plot_error_cdf

        plot_error_cdf(errors, args.plot, title=f"{name} vs baselines, {where}")
        if not args.json:
            print(f"wrote {args.plot}")
    if args.json:
        print_json({"model": name, "split": "test", "sensor": sensor.describe(), "trained_for": trained_for,
                    "angular_error_deg": results})
        return 0
    keys = ["mean", "median", "trimean", "best25", "worst25"]
    rows = [(m, *(f"{s[k]:.2f}" for k in keys)) for m, s in results.items()]
    print(f"{name}: angular error (degrees) on {where} (weights trained for {trained_for['name']})")
    print(format_table(["method", *keys], rows))
    return 0
