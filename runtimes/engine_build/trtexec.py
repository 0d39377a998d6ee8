"""The ``trtexec`` command line that builds the same engine as :func:`runtimes.engine_build.build_engine`
(logged before each build, and suggested with ``--verbose`` when a build fails)."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path

from runtimes.engine_build.options import _check_args
from runtimes.engine_build.profiles import Profile, profile_shapes


def _onnx_input_shapes(onnx_path: Path) -> list[tuple[str, list[int | None]]]:
    """Input names and shapes from the ONNX file (None for a symbolic dim); [] if onnx is missing."""
    try:
        import onnx
    except ImportError:
        return []
    model = onnx.load(str(onnx_path), load_external_data=False)
    inits = {i.name for i in model.graph.initializer}
    shapes = []
    for inp in model.graph.input:
        if inp.name in inits:
            continue
        dims = inp.type.tensor_type.shape.dim
        shapes.append((inp.name, [d.dim_value if d.HasField("dim_value") else None for d in dims]))
    return shapes


def _shape_flag(profiles: Mapping[str, Profile], which: int) -> str:
    return ",".join(f"{name}:{'x'.join(str(d) for d in p[which])}" for name, p in profiles.items())


def trtexec_command(
    onnx_path: str | Path,
    engine_path: str | Path,
    precision: str = "fp32",
    *,
    workspace: int | None = None,
    timing_cache: str | Path | None = None,
    version_compatible: bool = False,
    max_batch: int = 32,
    opt_batch: int = 1,
    inputs: list[tuple[str, list[int | None]]] | None = None,
    profiles: Mapping[str, Profile] | None = None,
    dla_core: int | None = None,
    gpu_fallback: bool = False,
) -> str:
    """The ``trtexec`` command line that builds the same engine as :func:`build_engine`.

    ``profiles`` (from :func:`profile_shapes`) default to the batch-only profile of ``inputs`` (name, dims
    with None for a symbolic dim), read from the ONNX file when not given; shape flags are emitted only
    for inputs with a symbolic dim.
    """
    _check_args(precision, max_batch, opt_batch, dla_core, gpu_fallback)
    onnx_path = Path(onnx_path)
    if profiles is None:
        if inputs is None:
            inputs = _onnx_input_shapes(onnx_path) if onnx_path.is_file() else []
        batch_only = [(n, d) for n, d in inputs if d and d[0] is None and all(x is not None for x in d[1:])]
        profiles = profile_shapes(batch_only, max_batch=max_batch, opt_batch=opt_batch)
    args = ["trtexec", f"--onnx={onnx_path}", f"--saveEngine={engine_path}"]
    if precision == "fp16":
        args.append("--fp16")
    elif precision == "int8":
        args.append("--int8")  # explicit quantization: scales come from the Q/DQ nodes, no calibration cache
    if profiles:
        args += [f"--minShapes={_shape_flag(profiles, 0)}", f"--optShapes={_shape_flag(profiles, 1)}",
                 f"--maxShapes={_shape_flag(profiles, 2)}"]
    if workspace is not None:
        args.append(f"--memPoolSize=workspace:{max(1, workspace // (1 << 20))}M")
    if timing_cache is not None:
        args.append(f"--timingCacheFile={timing_cache}")
    if version_compatible:
        args.append("--versionCompatible")
    if dla_core is not None:
        args.append(f"--useDLACore={dla_core}")
        if gpu_fallback:
            args.append("--allowGPUFallback")
    return shlex.join(args)
