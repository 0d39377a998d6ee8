"""`edge-sdk train NAME`: reproduce a zoo model's weights from a seed."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from edge_sdk.cli import checks
from edge_sdk.cli.output import format_table, print_json
from edge_sdk.errors import EdgeSDKError
from edge_sdk.zoo.registry import REGISTRY, get_spec, resolve

HELP = "train a zoo model from a seed (reproduces the shipped weights)"
DESCRIPTION = """\
Train a zoo model with its documented recipe and write safetensors weights.

With no --data, each model trains on the data behind its shipped weights: emlp, eccc and ccc
on the physically based synthetic dual-exposure set (the same scenes; eccc and ccc train in
seconds once the scenes are rendered), compact-cnn and care-tiny on digits-28
(scikit-learn's real handwritten digits). With --data DIR, compact-cnn trains on the
MNIST / Fashion-MNIST IDX files or CIFAR-10 binary batches found in DIR.

White balance is learned per sensor. --sensor NAME_OR_CSV (emlp, eccc, ccc) renders the
synthetic scenes through that sensor's spectral sensitivities: a colour-science camera
("Nikon 5100 (NPL)", the default, or "Sigma SDMerill (NPL)") or a CSV file with the header
wavelength_nm,r,g,b (any wavelength grid covering 400-700 nm; optional '# black_level=64',
'# white_level=4095', '# name=...' lines give the raw levels). The weights record the sensor's
name, curve hash and levels; edge-sdk export puts them in the manifest, and the WhiteBalance
pipeline uses its levels.

emlp --data DIR trains on captured dual-exposure pairs: DIR/pairs.csv with the header
long,short,r,g,b[,pattern][,split] (frame paths relative to DIR; r,g,b the illuminant's raw
colour, e.g. from a grey card; pattern RGGB/BGGR/GRBG/GBRG for 2-D Bayer frames; split train/val,
default: the last 10 % validate) and the frames as 16-bit PNG/TIFF or .npy. '# black_level=...',
'# white_level=...' and '# name=...' lines in pairs.csv set the levels (default: --sensor's, or
12-bit with black level 64). An .npz with arrays X (n x 15 features) and y (n x 3) also works.

The same seed gives the same weights on the same machine and library versions.

examples:
  edge-sdk train compact-cnn                      # writes ./compact-cnn.safetensors
  edge-sdk train emlp --seed 1 --out emlp.safetensors
  edge-sdk train emlp --sensor "Sigma SDMerill (NPL)" --out emlp-sigma.safetensors
  edge-sdk train eccc                             # ECCC: histograms + DEF-steered bias (6,192 params)
  edge-sdk train ccc --sensor "Sigma SDMerill (NPL)" --out ccc-sigma.safetensors
  edge-sdk train emlp --sensor my-sensor.csv --out emlp-mine.safetensors
  edge-sdk train emlp --data ~/captures/awb --out emlp-captured.safetensors
  edge-sdk train compact-cnn --data ~/data/mnist  # the paper's MNIST setting
  edge-sdk train compact-cnn-cifar --data ~/data/cifar-10-batches-bin
"""


def add_parser(sub: Any) -> None:
    trainable = [n for n, s in REGISTRY.items() if s.trainer]
    p = sub.add_parser("train", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", metavar="NAME", help=f"model to train: {', '.join(trainable)}")
    p.add_argument("--data", type=Path, metavar="DIR",
                   help="dataset directory (default: the model's own data); emlp: a captured-pairs folder "
                        "with pairs.csv (see above) or an .npz of features")
    p.add_argument("--sensor", metavar="NAME_OR_CSV",
                   help="emlp, eccc, ccc: train for this sensor, a colour-science camera name or a wavelength_nm,r,g,b "
                        "CSV (default: Nikon 5100 (NPL), the shipped weights' sensor)")
    p.add_argument("--out", "-o", type=Path, metavar="FILE",
                   help="output weights (default: ./NAME.safetensors)")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default: 0)")
    p.add_argument("--epochs", type=int, metavar="N", help="override the recipe's epoch count (quick runs)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="print the final metrics as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    spec = get_spec(args.name)
    if not spec.trainer:
        raise EdgeSDKError(
            f"{spec.name!r} has no training recipe here ({spec.description}); "
            f"trainable models: {', '.join(n for n, s in REGISTRY.items() if s.trainer)}"
        )
    checks.number_in_range(args.epochs, "--epochs", 1, 100_000)
    out = args.out or Path(f"{spec.name}.safetensors")
    checks.writable_file(out, "--out")  # now, not after the training
    kwargs: dict[str, Any] = {"out": out, "seed": args.seed, "data": args.data, "epochs": args.epochs,
                              "show_progress": not (args.quiet or args.json)}
    if args.sensor is not None:
        if spec.task != "illuminant-estimation":
            raise EdgeSDKError(f"--sensor applies to white balance (emlp, eccc, ccc), not {spec.name}")
        from edge_sdk.data.sensors import load_sensor

        kwargs["sensor"] = load_sensor(args.sensor)  # checked now, not after rendering the data
    if spec.name.startswith("compact-cnn"):
        kwargs["model_name"] = spec.name
    t0 = time.perf_counter()
    metrics = resolve(spec.trainer)(**kwargs)
    elapsed = time.perf_counter() - t0
    result: dict[str, Any] = {"model": spec.name, "weights": str(out), "seed": args.seed,
                              "seconds": round(elapsed, 1), "metrics": metrics}
    if spec.task == "illuminant-estimation":
        from edge_sdk.data.sensors import sensor_of_weights

        result["sensor"] = sensor_of_weights(out)
    if args.json:
        print_json(result)
    else:
        print(f"trained {spec.name} (seed {args.seed}) in {elapsed:.0f} s -> {out}")
        if "sensor" in result:
            print(f"sensor: {result['sensor']['name']} (curves sha256 {result['sensor']['sha256'][:12] or '-'}, "
                  f"black {result['sensor']['black_level']}, white {result['sensor']['white_level']})")
        print(format_table(["metric", "value"], [(k, _fmt(v)) for k, v in metrics.items()]))
    return 0


def _fmt(v: Any) -> Any:
    return f"{v:.4g}" if isinstance(v, float) else v
