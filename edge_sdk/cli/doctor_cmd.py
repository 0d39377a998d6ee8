"""`edge-sdk doctor`: versions, backends, execution providers, GPU, OpenCV video back-ends, cameras."""

from __future__ import annotations

import argparse
from typing import Any

from edge_sdk.cli.output import format_table, print_json

HELP = "check this machine: versions, backends, GPU/TensorRT, OpenCV, cameras"
DESCRIPTION = """\
Report what this machine can run: package versions, which runtime backends load, ONNX Runtime's
execution providers, CUDA GPU and TensorRT presence, OpenCV's video back-ends (GStreamer or not),
visible camera devices, whether the cache directory is writable, and the backend and threads
that `load(..., backend="auto")` measured as fastest for each model (the last 10; --json lists all;
delete the file or set EDGE_SDK_AUTOTUNE=refresh to measure again), with advice for what is missing.
Nothing here imports torch.

examples:
  edge-sdk doctor
  edge-sdk doctor --json | jq .backends
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("doctor", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edge_sdk.doctor import diagnose

    r = diagnose()
    if args.json:
        print_json(r)
        return 0
    print(f"python {r['python']} on {r['platform']}, {r['cpu']}, {r['cpu_cores']} cores")
    isa = r["cpu_int8"]
    if isa.get("vector"):
        print(f"  SIMD {isa['vector']}; INT8 dot-product instructions: {isa['int8_dot']}")
    print(format_table(["package", "version"], [(k, v or "-") for k, v in r["versions"].items()]))
    print()
    print(format_table(["backend", "status"], list(r["backends"].items())))
    print(f"\nonnxruntime providers: {', '.join(r['onnxruntime_providers']) or 'none'}")
    g = r["gpu"]
    print(f"CUDA GPU: {g['gpu_name'] + ' (sm ' + g['compute_capability'] + ')' if g['cuda_gpu'] else 'none'}"
          f"{'  [Jetson]' if g['jetson'] else ''}")
    cv = r["opencv"]
    if cv.get("installed"):
        print(f"OpenCV {cv['version']}: GStreamer {'yes' if cv['gstreamer'] else 'no'}, GUI "
              f"{'yes' if cv['gui'] else 'no'}, video back-ends {', '.join(cv['video_backends'])}")
    print(f"cameras: {', '.join(r['cameras']) or 'none'}")
    print(f"cache: {r['cache']['path']} ({'writable' if r['cache']['writable'] else 'NOT writable'})")
    at = r["autotune"]
    print(f"auto backend choices: {at['path']} ({len(at['entries'])} models measured; EDGE_SDK_AUTOTUNE: {at['mode']})")
    for e in at["entries"][-10:]:
        best = min(e["ms"].values(), default=None)
        print(f"  {e['artifact']}: {e['choice']}" + (f", {best:.3f} ms" if best is not None else ""))
    for tip in r["advice"]:
        print(f"  - {tip}")
    return 0
