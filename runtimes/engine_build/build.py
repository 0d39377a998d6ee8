"""The build itself: parse the ONNX file, set precision, optimisation profile, DLA, workspace and timing
cache on the builder config, build with progress, write the plan atomically, and return the manifest entry
recording what it was built from and for."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runtimes.atomic import atomic_path
from runtimes.engine_build.options import _check_args
from runtimes.engine_build.profiles import Profile, Shape, profile_shapes, profiles_json
from runtimes.engine_build.progress import Ticker, _progress_monitor
from runtimes.engine_build.timing_cache import AUTO, _timing_cache_config, default_timing_cache, save_timing_cache
from runtimes.engine_build.trtexec import trtexec_command
from runtimes.errors import BackendUnavailableError, EdgeSDKError
from runtimes.gpu import gpu_info
from runtimes.manifest import sha256_file

if TYPE_CHECKING:
    import tensorrt as trt

INSTALL_HINT = (
    "TensorRT's Python package is not installed. On Jetson it ships with JetPack "
    "(sudo apt install python3-libnvinfer; in a venv use --system-site-packages); "
    "on x86 with an NVIDIA GPU: pip install tensorrt"
)


class EngineBuildError(EdgeSDKError):
    """TensorRT could not parse the ONNX file or build an engine from it. The message says why."""


def _require_tensorrt() -> None:
    """Raise BackendUnavailableError with the install hint when ``tensorrt`` cannot be imported.

    Callers then ``import tensorrt as trt`` themselves, so mypy checks their calls against the stubs.
    """
    try:
        import tensorrt  # noqa: F401
    except ImportError as e:
        raise BackendUnavailableError(f"{INSTALL_HINT} ({e})") from None


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


def _network_inputs(network: trt.INetworkDefinition) -> list[tuple[str, list[int | None]]]:
    inputs = []
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        dims = tensor.shape
        inputs.append((tensor.name, [dims[k] if dims[k] >= 0 else None for k in range(len(dims))]))
    return inputs


def _add_profile(builder: trt.Builder, config: trt.IBuilderConfig, profiles: Mapping[str, Profile]) -> None:
    """One optimisation profile holding every input with a symbolic dim (none: a static network)."""
    import tensorrt as trt

    if not profiles:
        return
    profile = builder.create_optimization_profile()
    for name, (lo, opt, hi) in profiles.items():
        profile.set_shape(name, trt.Dims(list(lo)), trt.Dims(list(opt)), trt.Dims(list(hi)))
    if config.add_optimization_profile(profile) < 0:
        raise EngineBuildError(f"TensorRT refused the optimisation profile {profiles_json(profiles)}")


def build_engine(
    onnx_path: Path,
    engine_path: Path,
    *,
    precision: str = "fp32",
    workspace: int | None = None,
    timing_cache: str | Path | None = AUTO,
    version_compatible: bool = False,
    max_batch: int = 32,
    opt_batch: int = 1,
    min_shapes: Mapping[str, Shape] | None = None,
    opt_shapes: Mapping[str, Shape] | None = None,
    max_shapes: Mapping[str, Shape] | None = None,
    sizes: Mapping[str, Sequence[Shape]] | None = None,
    dla_core: int | None = None,
    gpu_fallback: bool = False,
    show_progress: bool = True,
    tick_seconds: float = 15.0,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Build ``engine_path`` (a plain TensorRT plan) from ``onnx_path``; return its manifest entry.

    ``workspace`` caps the builder's workspace memory pool (bytes; default: TensorRT's, the device
    memory). ``timing_cache``: a file loaded if it exists and saved after the build (rebuilds become much
    faster), :data:`AUTO` (default) for :func:`default_timing_cache`, None for none. ``min_shapes`` /
    ``opt_shapes`` / ``max_shapes`` / ``sizes``: the optimisation profile (:func:`profile_shapes`).
    ``dla_core`` / ``gpu_fallback``: DLA on Jetson. Raises :class:`BackendUnavailableError` without
    TensorRT and :class:`EngineBuildError` when parsing or building fails.
    """
    _check_args(precision, max_batch, opt_batch, dla_core, gpu_fallback)
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
    inputs = _network_inputs(network)
    profiles = profile_shapes(inputs, max_batch=max_batch, opt_batch=opt_batch, min_shapes=min_shapes,
                              opt_shapes=opt_shapes, max_shapes=max_shapes, sizes=sizes)
    gpu = gpu_info()
    cache_path: Path | None = None
    if isinstance(timing_cache, str) and timing_cache == AUTO:
        cache_path = default_timing_cache(str(trt.__version__), gpu["compute_capability"])
    elif timing_cache is not None:
        cache_path = Path(timing_cache)
    log("equivalent command: " + trtexec_command(
        onnx_path, engine_path, precision, workspace=workspace, timing_cache=cache_path,
        version_compatible=version_compatible, profiles=profiles, dla_core=dla_core, gpu_fallback=gpu_fallback,
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
    _add_profile(builder, config, profiles)
    if precision == "fp16":
        if not builder.platform_has_fast_fp16:
            log("warning: this GPU has no fast FP16; the engine may not be faster than fp32")
        config.set_flag(trt.BuilderFlag.FP16)
    elif precision == "int8":
        config.set_flag(trt.BuilderFlag.INT8)  # explicit quantization: scales from the Q/DQ nodes
    if dla_core is not None:
        cores = builder.num_DLA_cores
        if dla_core >= cores:
            raise EngineBuildError(
                f"DLA core {dla_core} requested, this device has {cores} DLA core(s)"
                + (" (DLA exists on Jetson AGX/NX Xavier and Orin): drop --dla-core" if cores == 0 else "")
            )
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = dla_core
        if gpu_fallback:
            config.set_flag(trt.BuilderFlag.GPU_FALLBACK)
    if workspace is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace)
    if version_compatible:
        config.set_flag(trt.BuilderFlag.VERSION_COMPATIBLE)
    cache = _timing_cache_config(config, cache_path, log) if cache_path is not None else None

    with Ticker(log if show_progress else (lambda m: None), every=tick_seconds) as ticker:
        if show_progress:
            config.progress_monitor = _progress_monitor(log, ticker)
        serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        hint = " (or add --allow-gpu-fallback for layers DLA cannot run)" if dla_core is not None else ""
        raise EngineBuildError(
            f"TensorRT failed to build an engine from {onnx_path} (see the TensorRT errors above){hint}; try: "
            + trtexec_command(onnx_path, engine_path, precision, profiles=profiles, dla_core=dla_core,
                              gpu_fallback=gpu_fallback) + " --verbose"
        )
    with atomic_path(engine_path) as tmp:
        with open(tmp, "wb") as f:
            f.write(serialized)
    if cache_path is not None and cache is not None:
        save_timing_cache(cache_path, memoryview(config.get_timing_cache().serialize()), log)

    from runtimes.engine_trust import remember

    remember(sha256_file(engine_path))  # built here: the runtime may load it (runtimes.engine_trust)
    seconds = round(time.perf_counter() - t0, 2)
    log(f"wrote {engine_path} ({engine_path.stat().st_size / 1e6:.1f} MB) in {seconds:.0f} s")
    batch = [p[2][0] for name, p in profiles.items() if dict(inputs)[name][0] is None]
    static_batch = next((d[0] for _, d in inputs if d and d[0] is not None), 1)
    return {
        "file": engine_path.name,
        "sha256": sha256_file(engine_path),
        "tensorrt_version": str(trt.__version__),
        **gpu,
        "precision": precision,
        "source_sha256": sha256_file(onnx_path),
        "max_batch": min(batch) if batch else static_batch,
        "profiles": profiles_json(profiles),
        "dla_core": dla_core,
        "gpu_fallback": gpu_fallback,
        "version_compatible": version_compatible,
        "timing_cache": str(cache_path) if cache_path is not None else None,
        "build_seconds": seconds,
    }
