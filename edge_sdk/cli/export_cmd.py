"""`edge-sdk export MODEL -o BUNDLE`: convert a model into a validated deployment bundle."""

from __future__ import annotations

import argparse
import math
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

from edge_sdk.cli.output import print_json
from edge_sdk.errors import EdgeSDKError, ParityError
from edge_sdk.preprocess import COLORS, LAYOUTS, RESIZES
from runtimes.manifest import SCORES
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

Your own model: say what it is, and the bundle carries it to the app (Classifier, edge-sdk run,
the samples read it from the manifest; no JSON to edit):
  --task classification      classification (edge-sdk run, Classifier), detection, segmentation,
                             features, regression, or a name of your own (default: the zoo's, else
                             generic). Image tasks get image preprocessing by default.
  --labels labels.txt        class names, one per line; one per class of the classifier's output
  --output-names feat,logits the outputs in forward() order (default output, or output0, output1, ...)
  --task-output logits       the output holding the task's result, e.g. the logits of a model that
                             also returns features (default: the first output)
  --scores probabilities     the classifier's output already holds probabilities (it ends in softmax),
                             so Classifier uses them as they are (default: logits, softmax applied)
  image preprocessing, as the model was trained (pixels 0..255 -> (pixel * scale - mean) / std):
  --color rgb|bgr|gray       channel order (default: gray for 1 channel, rgb for 3; OpenCV frames are
                             BGR, and are converted for you)
  --scale 1/255 --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225     (defaults: 1/255, 0, 1)
  --input-range=-1,1         instead of --scale/--mean/--std: pixels 0..255 map linearly onto -1..1
  --resize center-crop       how a frame of another shape becomes the input: center-crop (default; the
                             largest centred region of the model's aspect ratio), stretch, or letterbox
                             (keep the aspect, pad with --pad-value, default 114)
  --layout NCHW|NHWC         (default NCHW)
  symbolic dims: --input-shape 1x3xHxW (names are symbolic; traced at 64) or --input-shape 1x3x96x96
  --dynamic-axes 2,3: a fully convolutional model then runs at any height and width; it is validated
  at the traced size and at twice it. The batch (first dim) is always symbolic: write it as 1.

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
  int8-dynamic  weights INT8, activations quantized at run time (good for MLPs such as emlp); one
                scale per tensor per call, so a sample's outputs depend slightly on the rest of its
                batch (run batch 1 for reproducible outputs)
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
  edge-sdk export net.py:make_model --input-shape 1x3x64x64 --task classification --labels labels.txt \\
      --color bgr --mean 0.5,0.5,0.5 --std 0.25,0.25,0.25 -o bundles/net
  edge-sdk export two_heads.py:make --input-shape 1x3x64x64 --task classification --output-names feat,logits \\
      --task-output logits --labels labels.txt -o bundles/two-heads
  edge-sdk export fcn.py:make --input-shape 1x3xHxW --task segmentation -o bundles/fcn
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("export", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL", help="zoo name, checkpoint, file.py:factory or .pt2")
    p.add_argument("-o", "--out", required=True, type=Path, metavar="BUNDLE_DIR", help="bundle directory to write")
    p.add_argument("--precision", default="fp32", choices=PRECISION_CHOICES)
    p.add_argument("--arch", metavar="ZOO_NAME", help="architecture of a checkpoint file")
    p.add_argument("--input-shape", metavar="1xCxHxW",
                   help="input shape, batch (1) first, e.g. 1x3x224x224; a name is a symbolic dim: 1x3xHxW")
    p.add_argument("--dynamic-axes", metavar="A,B",
                   help="input axes to keep symbolic besides the batch, e.g. 2,3 (or 2=height,3=width)")
    declare = p.add_argument_group("what the bundle tells the app (see above)")
    declare.add_argument("--task", metavar="NAME", help="classification, detection, segmentation, features, "
                         "regression or your own name (default: the zoo model's, else generic)")
    declare.add_argument("--labels", type=Path, metavar="FILE", help="class names, one per line")
    declare.add_argument("--output-names", metavar="A,B", help="output names in forward() order")
    declare.add_argument("--task-output", metavar="NAME", help="the output the task reads (default: the first)")
    declare.add_argument("--scores", choices=list(SCORES), help="what a classifier's output holds: logits "
                         "(default; the app applies softmax) or probabilities (a model ending in softmax)")
    image = p.add_argument_group("image preprocessing (recorded in the manifest; the runtime applies it)")
    image.add_argument("--color", choices=list(COLORS), help="channel order (default gray for 1 channel, else rgb)")
    image.add_argument("--layout", choices=list(LAYOUTS), help="NCHW (default) or NHWC")
    image.add_argument("--scale", metavar="X", help="pixel (0..255) multiplier, e.g. 1/255 (default) or 1")
    image.add_argument("--input-range", metavar="LO,HI",
                       help="pixels 0..255 map linearly onto LO..HI, e.g. --input-range=-1,1 (instead of "
                            "--scale/--mean/--std)")
    image.add_argument("--mean", metavar="A,B,C", help="subtracted after --scale, one or one per channel (default 0)")
    image.add_argument("--std", metavar="A,B,C", help="divided by after --mean, one or one per channel (default 1)")
    image.add_argument("--resize", choices=list(RESIZES), help="how frames of another shape fit: center-crop "
                       "(default), stretch or letterbox")
    image.add_argument("--pad-value", metavar="V", help="letterbox fill, a pixel value 0..255 (default 114)")
    p.add_argument("--calib", type=Path, metavar="PATH",
                   help="calibration data: a directory of images, an ImageFolder directory (one sub-folder per "
                        "class), an .npy array, or an .npz with x (and y: labels) (default: the zoo model's data)")
    p.add_argument("--calib-count", type=int, metavar="N", help="number of calibration samples (default 256)")
    p.add_argument("--calib-method", default="minmax", choices=list(CALIB_METHODS),
                   help="activation ranges: minmax (default), entropy (KL, TensorRT's method) or percentile "
                        "(99.99 %%, clips rare outliers)")
    p.add_argument("--per-tensor", action="store_true", help="per-tensor instead of per-channel INT8 weights")
    p.add_argument("--exclude-nodes", metavar="A,B", default="", help="ONNX node names to keep in float")
    p.add_argument("--opset", type=int, default=18, metavar="N", help="ONNX opset (default 18)")
    p.add_argument("--val-data", dest="data", type=Path, metavar="PATH",
                   help="validation data: a directory of images, an ImageFolder directory (one sub-folder per class: "
                        "labelled), an .npy array, or an .npz with x (and y: labels) (default: the zoo model's test "
                        "split, else every 5th --calib sample, held out of calibration)")
    p.add_argument("--data", dest="data", type=Path, help=argparse.SUPPRESS)  # the old name of --val-data
    gate = p.add_argument_group(
        "your own accuracy metric (instead of top-1 / SQNR; like NNCF's validation function)",
        "METRIC is FILE.py:FUNCTION, called as FUNCTION(outputs, labels) -> float on PyTorch's outputs and on the "
        "bundle's (outputs: dict name -> N x ... array; labels: --val-data's, e.g. an ImageFolder directory or an "
        ".npz with x and y). Without --val-data, a model outside the zoo validates on every 5th --calib sample, held "
        "out of calibration (the manifest lists them). Example: --metric metric.py:top1 --metric-budget 0.01")
    gate.add_argument("--metric", metavar="FILE.py:FUNCTION", help="judge the bundle by this metric")
    gate.add_argument("--metric-budget", type=float, metavar="B",
                      help="largest allowed drop of the metric against PyTorch FP32 (needed with --metric)")
    gate.add_argument("--metric-mode", choices=["higher", "lower"], default="higher",
                      help="higher (default: accuracy, IoU) or lower (an error) is better")
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
    from converters.input_shapes import parse_shape
    from converters.pipeline import export
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
            dynamic_axes=_dynamic_axes(args.dynamic_axes), task=args.task, labels=args.labels,
            output_names=args.output_names.split(",") if args.output_names else None, task_output=args.task_output,
            scores=args.scores,
            preprocessing=_preprocessing(args),
            calibration=args.calib, calib_count=args.calib_count, calib_method=args.calib_method,
            per_channel=not args.per_tensor, exclude_nodes=[n for n in args.exclude_nodes.split(",") if n],
            opset=args.opset, data=args.data, allow_accuracy_loss=args.allow_accuracy_loss, strict=args.strict,
            metric=args.metric, metric_budget=args.metric_budget, metric_mode=args.metric_mode,
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


def _numbers(text: str | None, flag: str, count: int | None = None) -> list[float] | None:
    """``0.5,0.5,0.5`` -> [0.5, 0.5, 0.5] (a fraction like ``1/255`` allowed); EdgeSDKError naming the flag."""
    if text is None:
        return None
    try:
        values = [float(Fraction(v.strip())) for v in text.split(",")]
    except (ValueError, ZeroDivisionError):
        values = []
    if not values or (count is not None and len(values) != count) or not all(math.isfinite(v) for v in values):
        want = f"{count} numbers" if count else "numbers"
        raise EdgeSDKError(f"{flag} {text!r}: expected {want} separated by commas, e.g. {flag} 0.5,0.5,0.5"[:300])
    return values


def _preprocessing(args: argparse.Namespace) -> dict[str, Any]:
    """The image preprocessing flags given (None for the rest: defaults come from the model's input)."""
    scale = _numbers(args.scale, "--scale", 1)
    pad = _numbers(args.pad_value, "--pad-value", 1)
    return {"color": args.color, "layout": args.layout, "scale": scale[0] if scale else None,
            "input_range": _numbers(args.input_range, "--input-range", 2), "mean": _numbers(args.mean, "--mean"),
            "std": _numbers(args.std, "--std"), "resize": args.resize, "pad_value": pad[0] if pad else None}


def _dynamic_axes(text: str | None) -> dict[int, str | None] | None:
    """``2,3`` or ``2=height,3=width`` -> {2: None, 3: None} / {2: "height", 3: "width"}."""
    if not text:
        return None
    axes: dict[int, str | None] = {}
    for item in text.split(","):
        axis, _, name = item.strip().partition("=")
        if not axis.strip().isdigit():
            raise EdgeSDKError(f"--dynamic-axes {text!r}: expected input axes, e.g. 2,3 or 2=height,3=width")
        axes[int(axis)] = name.strip() or None
    return axes


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
