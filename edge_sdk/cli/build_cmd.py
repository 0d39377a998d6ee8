"""`edge-sdk build BUNDLE`: build a TensorRT engine (model.engine) from a bundle's ONNX."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from edge_sdk.cli import checks
from edge_sdk.cli.output import print_json
from edge_sdk.errors import EdgeSDKError, ParityError
from runtimes.precisions import TENSORRT  # the precision table: what TensorRT can build

HELP = "build a TensorRT engine from a bundle (on the device that will run it)"
DESCRIPTION = """\
Build model.engine from the bundle's model.onnx with TensorRT's ONNX parser and record it in
the manifest (TensorRT version, GPU and compute capability, precision, ONNX hash). Run it on the
device that will run the engine: plans are specific to a GPU and a TensorRT version. The runtime
does the same automatically on first load when the engine is missing or stale.

INT8 comes from the bundle's Q/DQ graph (explicit quantization; export with --precision int8
first), so no calibrator runs here. The equivalent trtexec command is printed for JetPack users.

Builds take minutes on a Jetson: the build phases and a "building engine ... 42 s" line every 15 s
show it is working. TensorRT's timing cache (its kernel measurements) is kept per GPU and TensorRT
version in ~/.cache/edge-sdk/tensorrt/ ($EDGE_SDK_CACHE) and makes rebuilds much faster; a corrupt
or foreign one is ignored with a warning.

Shapes: the engine gets one optimisation profile covering every symbolic dim. The batch ranges
1 / 1 / --max-batch; other symbolic dims (e.g. height and width of a fully convolutional model)
default to the sizes the bundle was validated at, or take min/opt/max shapes as trtexec does
(NAME:AxBxC, comma-separated for several inputs); --shapes sets one fixed size.

DLA (Jetson AGX/NX Xavier and Orin): --dla-core N runs the layers DLA supports on that core (fp16
or int8 only); --allow-gpu-fallback lets the others run on the GPU instead of failing the build.
Shapes and DLA options are recorded with the engine: loading with other options rebuilds it.

Accuracy: the new engine runs the bundle's golden samples (edge-sdk check) and is judged by the
export's metric and budget; the result is recorded in its manifest entry ("check"). An engine that
breaks the budget is removed and the exit status is 1 (--allow-accuracy-loss keeps it, --no-check
skips the check).

examples:
  edge-sdk build bundles/compact-cnn-int8
  edge-sdk build bundles/care-s0 --precision fp16 --workspace 1G --timing-cache ~/trt-timing.cache
  edge-sdk build bundles/unet --min-shapes image:1x3x128x128 --opt-shapes image:1x3x256x256 \\
      --max-shapes image:4x3x512x512
  edge-sdk build bundles/compact-cnn-int8 --dla-core 0 --allow-gpu-fallback
"""


def parse_size(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgG]?)(?:i?[bB])?\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"bad size {text!r}: use e.g. 512M or 2G")
    return int(float(m.group(1)) * {"": 1, "k": 2**10, "m": 2**20, "g": 2**30}[m.group(2).lower()])


def _shapes(text: str) -> dict[str, tuple[int, ...]]:
    from runtimes.engine_build import parse_shapes

    try:
        return parse_shapes(text)
    except EdgeSDKError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_parser(sub: Any) -> None:
    p = sub.add_parser("build", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bundle", type=Path, metavar="BUNDLE", help="bundle directory (from edge-sdk export)")
    p.add_argument("--precision", choices=list(TENSORRT),
                   help="engine precision (default: the bundle's; int8 needs an int8 bundle)")
    p.add_argument("--workspace", type=parse_size, metavar="SIZE", help="builder workspace limit, e.g. 1G")
    cache = p.add_mutually_exclusive_group()
    cache.add_argument("--timing-cache", type=Path, metavar="FILE",
                       help="load/save TensorRT's timing cache here (default: one per GPU and TensorRT version "
                            "in ~/.cache/edge-sdk/tensorrt)")
    cache.add_argument("--no-timing-cache", action="store_true", help="build without a timing cache")
    p.add_argument("--version-compatible", action="store_true",
                   help="let later TensorRT releases of the same major version run the plan")
    p.add_argument("--max-batch", type=int, default=32, metavar="N", help="largest batch the engine accepts")
    p.add_argument("--opt-batch", type=int, default=1, metavar="N", help="batch TensorRT tunes for (default 1)")
    for kind, what in (("min", "smallest"), ("opt", "tuned-for"), ("max", "largest")):
        p.add_argument(f"--{kind}-shapes", type=_shapes, metavar="SPEC",
                       help=f"{what} input shapes, e.g. image:1x3x224x224 (like trtexec --{kind}Shapes)")
    p.add_argument("--shapes", type=_shapes, metavar="SPEC",
                   help="one fixed size for symbolic dims (min = opt = max), e.g. image:1x3x224x224")
    p.add_argument("--dla-core", type=int, metavar="N", help="run on DLA core N (Jetson Xavier/Orin; fp16/int8)")
    p.add_argument("--allow-gpu-fallback", action="store_true",
                   help="with --dla-core: layers DLA cannot run go to the GPU instead of failing the build")
    p.add_argument("--no-check", action="store_true",
                   help="skip the accuracy check of the new engine on the bundle's golden samples (edge-sdk check)")
    p.add_argument("--allow-accuracy-loss", action="store_true",
                   help="keep an engine that breaks the accuracy budget (the manifest records the failed check)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    p.add_argument("--json", action="store_true", help="print the engine's manifest entry as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edge_sdk._io import atomic_write_text
    from runtimes.engine_build import AUTO, build_engine, check_bundle_precision, manifest_sizes
    from runtimes.manifest import MANIFEST_NAME, read_manifest, verified_artifact

    checks.number_in_range(args.max_batch, "--max-batch", 1, checks.MAX_BATCH)
    checks.number_in_range(args.opt_batch, "--opt-batch", 1, args.max_batch)
    if args.dla_core is not None:
        checks.number_in_range(args.dla_core, "--dla-core", 0, 15)
    elif args.allow_gpu_fallback:
        raise EdgeSDKError("--allow-gpu-fallback goes with --dla-core N (it lets DLA layers fall back to the GPU)")
    if args.shapes and (args.min_shapes or args.opt_shapes or args.max_shapes):
        raise EdgeSDKError("--shapes sets min = opt = max; give it alone, or --min-shapes/--opt-shapes/--max-shapes")
    checks.writable_file(args.timing_cache, "--timing-cache")
    manifest = read_manifest(args.bundle)
    onnx_path = verified_artifact(args.bundle, manifest)
    precision = args.precision or manifest.precision
    check_bundle_precision(manifest.precision)
    if precision == "int8" and manifest.precision != "int8":
        raise EdgeSDKError(f"{args.bundle} is {manifest.precision}; INT8 engines come from an INT8 (Q/DQ) bundle: "
                           "edge-sdk export MODEL --precision int8")
    timing_cache = None if args.no_timing_cache else args.timing_cache or AUTO
    entry = build_engine(onnx_path, args.bundle / "model.engine", precision=precision, workspace=args.workspace,
                         timing_cache=timing_cache, version_compatible=args.version_compatible,
                         max_batch=args.max_batch, opt_batch=args.opt_batch, min_shapes=args.min_shapes,
                         opt_shapes=args.shapes or args.opt_shapes, max_shapes=args.max_shapes,
                         sizes=manifest_sizes(manifest), dla_core=args.dla_core, gpu_fallback=args.allow_gpu_fallback,
                         log=(lambda m: None) if args.quiet or args.json else lambda m: print(m, file=sys.stderr))
    others = [e for e in manifest.engines if e.get("file") != entry["file"]]
    if not args.no_check:  # the engine is judged on this device, by the metric and budget of the export
        from runtimes.selfcheck import engine_check

        entry["check"] = engine_check(args.bundle, args.bundle / entry["file"])
        if entry["check"].get("passed") is False and not args.allow_accuracy_loss:
            (args.bundle / entry["file"]).unlink(missing_ok=True)  # our own output: never leave a refused engine
            manifest.engines = others
            atomic_write_text(args.bundle / MANIFEST_NAME, manifest.dumps())
            raise ParityError(f"the {precision} engine breaks the accuracy budget on this device: "
                              f"{'; '.join(entry['check'].get('failures', []))}. It was removed (use "
                              "--allow-accuracy-loss to keep it, or build another precision)")
    manifest.engines = others + [entry]
    atomic_write_text(args.bundle / MANIFEST_NAME, manifest.dumps())
    if args.json:
        print_json(entry)
    else:
        dla = f", DLA core {entry['dla_core']}" if entry.get("dla_core") is not None else ""
        print(f"{args.bundle / entry['file']}: TensorRT {entry['tensorrt_version']} {precision} engine for "
              f"{entry['gpu_name']} (sm {entry['compute_capability']}{dla})")
        check = entry.get("check")
        if check is not None:
            verdict = {None: f"not checked: {check.get('error')}", True: "PASS",
                       False: "FAIL (kept: --allow-accuracy-loss)"}[check.get("passed")]
            print(f"accuracy on this device: {verdict}")
    return 0
