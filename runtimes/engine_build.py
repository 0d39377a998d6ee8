"""Build a TensorRT engine (plan) from a bundle's ONNX file, and tell when a built engine is stale.

Written against the TensorRT 10 Python API (``tensorrt`` is imported inside the functions, never at
module import). The plan is written as a plain file, never wrapped, so ``trtexec --loadEngine`` and any
other TensorRT program can read it; what it was built from and for goes into the manifest entry this
module returns (``manifest.engines``), like jetson-inference's cached-engine naming but as data.

* fp32 / fp16: a network from the ONNX parser; ``BuilderFlag.FP16`` lets TensorRT pick FP16 kernels.
* int8: **explicit quantization**. The ONNX file carries QuantizeLinear/DequantizeLinear pairs with their
  scales (``converters`` quantizes with symmetric int8); TensorRT reads the scales from the graph, so no
  calibrator is used (the calibrator API is deprecated since TensorRT 10.1). The network is weakly typed
  with ``BuilderFlag.INT8`` set (``trtexec --int8``): quantized layers run in int8, the rest in fp32,
  which is what the ONNX graph computes and what its parity was measured on.
* A dynamic batch (dim 0 symbolic in the ONNX inputs) gets one optimisation profile: 1 / opt / max.
* ``version_compatible=True`` sets ``BuilderFlag.VERSION_COMPATIBLE``: the plan also runs on later
  TensorRT releases of the same major version; the runtime must set ``Runtime.engine_host_code_allowed``.

GPU name and compute capability come from ``runtimes.gpu`` (the CUDA driver API via ctypes), which exists
wherever a TensorRT engine can run, Jetson included; ``nvidia-smi`` is the fallback. No torch, no
cuda-python needed.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runtimes.atomic import atomic_path
from runtimes.errors import BackendUnavailableError, EdgeSDKError, ManifestError
from runtimes.gpu import gpu_info
from runtimes.manifest import sha256_file
from runtimes.precisions import NOT_FOR_TENSORRT, TENSORRT

if TYPE_CHECKING:
    import tensorrt as trt

PRECISIONS = TENSORRT  # from the precision table, with NOT_FOR_TENSORRT: why the others cannot be built
INSTALL_HINT = (
    "TensorRT's Python package is not installed. On Jetson it ships with JetPack "
    "(sudo apt install python3-libnvinfer; in a venv use --system-site-packages); "
    "on x86 with an NVIDIA GPU: pip install tensorrt"
)


class EngineBuildError(EdgeSDKError):
    """TensorRT could not parse the ONNX file or build an engine from it. The message says why."""


def check_bundle_precision(bundle_precision: str) -> None:
    """Refuse a bundle whose precision TensorRT cannot build an engine from, saying why and what to export."""
    if bundle_precision not in PRECISIONS:
        why = NOT_FOR_TENSORRT.get(bundle_precision, "not a TensorRT format")
        raise ManifestError(f"a {bundle_precision} bundle cannot become a TensorRT engine ({why}); "
                           "export fp32, fp16 or --precision int8")


def _require_tensorrt() -> None:
    """Raise BackendUnavailableError with the install hint when ``tensorrt`` cannot be imported.

    Callers then ``import tensorrt as trt`` themselves, so mypy checks their calls against the stubs.
    """
    try:
        import tensorrt  # noqa: F401
    except ImportError as e:
        raise BackendUnavailableError(f"{INSTALL_HINT} ({e})") from None


def _check_args(precision: str, max_batch: int, opt_batch: int) -> None:
    if precision not in PRECISIONS:
        raise EdgeSDKError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if not 1 <= opt_batch <= max_batch:
        raise EdgeSDKError(f"need 1 <= opt_batch <= max_batch, got opt_batch={opt_batch}, max_batch={max_batch}")


# ---------------------------------------------------------------------------------------------------
# trtexec equivalent


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


def _shape_flag(inputs: list[tuple[str, list[int | None]]], batch: int) -> str:
    parts = []
    for name, dims in inputs:
        shape = [batch if i == 0 and d is None else (d if d is not None else 1) for i, d in enumerate(dims)]
        parts.append(f"{name}:{'x'.join(str(s) for s in shape)}")
    return ",".join(parts)


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
) -> str:
    """The ``trtexec`` command line that builds the same engine as :func:`build_engine`.

    ``inputs`` (name, dims with None for the dynamic batch) is read from the ONNX file when not given;
    shape flags are emitted only for inputs with a dynamic batch dim.
    """
    _check_args(precision, max_batch, opt_batch)
    onnx_path = Path(onnx_path)
    if inputs is None:
        inputs = _onnx_input_shapes(onnx_path) if onnx_path.is_file() else []
    dynamic = [(n, d) for n, d in inputs if d and d[0] is None]
    args = ["trtexec", f"--onnx={onnx_path}", f"--saveEngine={engine_path}"]
    if precision == "fp16":
        args.append("--fp16")
    elif precision == "int8":
        args.append("--int8")  # explicit quantization: scales come from the Q/DQ nodes, no calibration cache
    if dynamic:
        args += [
            f"--minShapes={_shape_flag(dynamic, 1)}",
            f"--optShapes={_shape_flag(dynamic, opt_batch)}",
            f"--maxShapes={_shape_flag(dynamic, max_batch)}",
        ]
    if workspace is not None:
        args.append(f"--memPoolSize=workspace:{max(1, workspace // (1 << 20))}M")
    if timing_cache is not None:
        args.append(f"--timingCacheFile={timing_cache}")
    if version_compatible:
        args.append("--versionCompatible")
    return shlex.join(args)


# ---------------------------------------------------------------------------------------------------
# building


def _parse_onnx(network: trt.INetworkDefinition, logger: trt.ILogger, onnx_path: Path) -> None:
    import tensorrt as trt

    parser = trt.OnnxParser(network, logger)
    if parser.parse_from_file(str(onnx_path)):
        return
    errors = []
    for i in range(parser.num_errors):
        err: trt.ParserError = parser.get_error(i)
        where = f"node {err.node()} ({err.node_name() or '?'}, {err.node_operator() or '?'})" if err.node() >= 0 else ""
        errors.append(f"  {err.code()}: {err.desc()} {where}".rstrip())
    detail = "\n".join(errors) or "  (the parser reported no details)"
    raise EngineBuildError(
        f"TensorRT could not parse {onnx_path}:\n{detail}\n"
        "Check the model with converters.tensorrt_check.check_tensorrt_compat first."
    )


def _add_profile(
    builder: trt.Builder, network: trt.INetworkDefinition, config: trt.IBuilderConfig, max_batch: int, opt_batch: int
) -> int | None:
    """One optimisation profile for the dynamic batch; returns the static batch if there is none."""
    import tensorrt as trt

    profile = builder.create_optimization_profile()
    dynamic = False
    static_batch: int | None = None
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        dims = tensor.shape
        shape = [dims[k] for k in range(len(dims))]
        if any(d < 0 for d in shape[1:]):
            raise EngineBuildError(
                f"input {tensor.name!r} has shape {shape}: only the batch dim (0) may be dynamic; "
                "re-export with static image sizes"
            )
        if not shape or shape[0] >= 0:
            static_batch = shape[0] if shape else 1
            continue
        dynamic = True
        rest = shape[1:]
        profile.set_shape(
            tensor.name, trt.Dims([1, *rest]), trt.Dims([opt_batch, *rest]), trt.Dims([max_batch, *rest])
        )
    if dynamic:
        config.add_optimization_profile(profile)
        return None
    return static_batch


def _progress_monitor(log: Callable[[str], None]) -> trt.IProgressMonitor:
    """An IProgressMonitor that logs the top-level build phases (the class needs tensorrt, so it is local)."""
    import tensorrt as trt

    class Monitor(trt.IProgressMonitor):
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self._t0 = time.perf_counter()

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            if parent_phase is None:  # top-level phases only: a few lines, not hundreds
                log(f"  [{time.perf_counter() - self._t0:6.1f}s] {phase_name} ({num_steps} steps)")

        def step_complete(self, phase_name: str, step: int) -> bool:
            return True  # returning False would cancel the build

        def phase_finish(self, phase_name: str) -> None:
            pass

    return Monitor()


def build_engine(
    onnx_path: Path,
    engine_path: Path,
    *,
    precision: str = "fp32",
    workspace: int | None = None,
    timing_cache: Path | None = None,
    version_compatible: bool = False,
    max_batch: int = 32,
    opt_batch: int = 1,
    show_progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Build ``engine_path`` (a plain TensorRT plan) from ``onnx_path``; return its manifest entry.

    ``workspace`` caps the builder's workspace memory pool (bytes; default: TensorRT's, the device
    memory). ``timing_cache`` is loaded if it exists and saved after the build, which makes rebuilds
    much faster. Raises :class:`BackendUnavailableError` without TensorRT and :class:`EngineBuildError`
    when parsing or building fails.
    """
    _check_args(precision, max_batch, opt_batch)
    onnx_path, engine_path = Path(onnx_path), Path(engine_path)
    if not onnx_path.is_file():
        raise EdgeSDKError(f"ONNX file not found: {onnx_path}")
    _require_tensorrt()
    import tensorrt as trt

    log(f"building TensorRT {trt.__version__} {precision} engine from {onnx_path.name}, may take minutes")
    t0 = time.perf_counter()

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: explicit batch always; weakly typed
    _parse_onnx(network, logger, onnx_path)
    inputs = []
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        dims = tensor.shape
        inputs.append((tensor.name, [dims[k] if dims[k] >= 0 else None for k in range(len(dims))]))
    log("equivalent command: " + trtexec_command(
        onnx_path, engine_path, precision, workspace=workspace, timing_cache=timing_cache,
        version_compatible=version_compatible, max_batch=max_batch, opt_batch=opt_batch, inputs=inputs,
    ))
    if precision == "int8" and not any(
        network.get_layer(i).type in (trt.LayerType.QUANTIZE, trt.LayerType.DEQUANTIZE)
        for i in range(network.num_layers)
    ):
        raise EngineBuildError(
            f"{onnx_path} has no QuantizeLinear/DequantizeLinear nodes: int8 engines use explicit quantization, "
            "so quantize the model first (edge-sdk export --precision int8)"
        )

    config = builder.create_builder_config()
    static_batch = _add_profile(builder, network, config, max_batch, opt_batch)
    if precision == "fp16":
        if not builder.platform_has_fast_fp16:
            log("warning: this GPU has no fast FP16; the engine may not be faster than fp32")
        config.set_flag(trt.BuilderFlag.FP16)
    elif precision == "int8":
        config.set_flag(trt.BuilderFlag.INT8)  # explicit quantization: scales from the Q/DQ nodes
    if workspace is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace)
    if version_compatible:
        config.set_flag(trt.BuilderFlag.VERSION_COMPATIBLE)
    if show_progress:
        config.progress_monitor = _progress_monitor(log)

    cache = None
    if timing_cache is not None:
        timing_cache = Path(timing_cache)
        blob = timing_cache.read_bytes() if timing_cache.is_file() else b""
        cache = config.create_timing_cache(blob)
        if not config.set_timing_cache(cache, ignore_mismatch=False):
            log(f"warning: timing cache {timing_cache} does not match this TensorRT/GPU; starting a new one")
            cache = config.create_timing_cache(b"")
            config.set_timing_cache(cache, ignore_mismatch=False)

    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EngineBuildError(
            f"TensorRT failed to build an engine from {onnx_path} (see the TensorRT errors above); "
            f"try: {trtexec_command(onnx_path, engine_path, precision, inputs=inputs)} --verbose"
        )
    with atomic_path(engine_path) as tmp:
        with open(tmp, "wb") as f:
            f.write(serialized)
    if timing_cache is not None and cache is not None:
        with atomic_path(timing_cache) as tmp:
            with open(tmp, "wb") as f:
                f.write(config.get_timing_cache().serialize())

    from runtimes.engine_trust import remember

    remember(sha256_file(engine_path))  # built here: the runtime may load it (runtimes.engine_trust)
    seconds = round(time.perf_counter() - t0, 2)
    log(f"wrote {engine_path} ({engine_path.stat().st_size / 1e6:.1f} MB) in {seconds:.0f} s")
    return {
        "file": engine_path.name,
        "sha256": sha256_file(engine_path),
        "tensorrt_version": str(trt.__version__),
        **gpu_info(),
        "precision": precision,
        "source_sha256": sha256_file(onnx_path),
        "max_batch": max_batch if static_batch is None else static_batch,
        "version_compatible": version_compatible,
        "build_seconds": seconds,
    }


# ---------------------------------------------------------------------------------------------------
# staleness


def _version_tuple(version: str) -> tuple[int, ...]:
    out = []
    for part in version.split(".")[:3]:
        digits = "".join(ch for ch in part if ch.isdigit())
        out.append(int(digits) if digits else 0)
    return tuple(out)


def engine_key_matches(
    entry: dict[str, Any],
    *,
    onnx_sha256: str,
    tensorrt_version: str | None = None,
    compute_capability: str | None = None,
) -> tuple[bool, str]:
    """Whether a manifest engine entry still fits this ONNX file, TensorRT version and GPU.

    Returns ``(True, "")`` or ``(False, reason)``. The TensorRT version and compute capability are only
    compared where TensorRT is importable / a GPU is found (a host without them can still check the hash).
    A version-compatible plan is accepted by any TensorRT of the same major version at least as new.
    ``tensorrt_version`` / ``compute_capability`` default to what this machine has.
    """
    name = entry.get("file", "engine")
    if entry.get("source_sha256") != onnx_sha256:
        return False, f"{name} was built from a different ONNX file (source sha256 differs): rebuild it"
    if tensorrt_version is None:
        try:
            import tensorrt
        except ImportError:
            return True, ""
        tensorrt_version = str(tensorrt.__version__)
    built, here = str(entry.get("tensorrt_version", "")), tensorrt_version
    if entry.get("version_compatible"):
        b, h = _version_tuple(built), _version_tuple(here)
        if not b or b[0] != h[0] or h < b:
            return False, (
                f"{name} is version-compatible from TensorRT {built or '?'}, which does not cover TensorRT {here}: "
                "rebuild it"
            )
    elif _version_tuple(built) != _version_tuple(here):
        return False, f"{name} was built with TensorRT {built or '?'}, this machine has {here}: rebuild it"
    cap = compute_capability or gpu_info()["compute_capability"]
    if cap != "unknown" and entry.get("compute_capability") != cap:
        return False, (
            f"{name} was built for compute capability {entry.get('compute_capability', '?')} "
            f"({entry.get('gpu_name', '?')}), this GPU is {cap}: rebuild it"
        )
    return True, ""
