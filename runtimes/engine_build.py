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
* One optimisation profile covers EVERY symbolic dim of every input (:func:`profile_shapes`): min / opt /
  max like ``trtexec --minShapes/--optShapes/--maxShapes``, from the caller's shapes, else for the batch
  1 / ``opt_batch`` / ``max_batch`` and for other dims the sizes the manifest records as validated
  (``extra.input_shape``, ``extra.parity_at_sizes``); a dim with neither is refused, saying which flag to pass.
* A timing cache (TensorRT's measured kernel timings, which make rebuilds much faster) is kept per GPU and
  TensorRT version beside the engine-trust file (:func:`default_timing_cache`), loaded if present (a corrupt
  or mismatched one is ignored with a warning) and saved atomically after the build.
* Progress: TensorRT's ``IProgressMonitor`` names the build phases and a :class:`Ticker` thread prints
  ``building engine ... 42 s`` while a phase runs (builds take minutes on a Jetson and look hung otherwise).
* DLA (Jetson Xavier / Orin): ``dla_core=N`` runs the layers DLA supports on DLA core N; ``gpu_fallback=True``
  lets the rest run on the GPU (else such a layer fails the build). DLA needs fp16 or int8.
* The build options that change the plan (precision, profiles, DLA core, GPU fallback) are recorded in the
  manifest entry, and :func:`engine_key_matches` rebuilds an engine whose options differ from those asked for.
* ``version_compatible=True`` sets ``BuilderFlag.VERSION_COMPATIBLE``: the plan also runs on later
  TensorRT releases of the same major version; the runtime must set ``Runtime.engine_host_code_allowed``.

GPU name and compute capability come from ``runtimes.gpu`` (the CUDA driver API via ctypes), which exists
wherever a TensorRT engine can run, Jetson included; ``nvidia-smi`` is the fallback. No torch, no
cuda-python needed.
"""

from __future__ import annotations

import re
import shlex
import stat
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runtimes.atomic import atomic_path
from runtimes.engine_trust import cache_dir
from runtimes.errors import BackendUnavailableError, EdgeSDKError, ManifestError
from runtimes.gpu import gpu_info
from runtimes.manifest import Manifest, sha256_file
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


def _check_args(
    precision: str, max_batch: int, opt_batch: int, dla_core: int | None = None, gpu_fallback: bool = False
) -> None:
    if precision not in PRECISIONS:
        raise EdgeSDKError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if not 1 <= opt_batch <= max_batch:
        raise EdgeSDKError(f"need 1 <= opt_batch <= max_batch, got opt_batch={opt_batch}, max_batch={max_batch}")
    if dla_core is not None:
        if dla_core < 0:
            raise EdgeSDKError(f"dla_core must be 0 or more (a DLA core index), got {dla_core}")
        if precision == "fp32":
            raise EdgeSDKError("DLA runs fp16 or int8 layers only: build with precision fp16 or int8, or drop dla_core")
    elif gpu_fallback:
        raise EdgeSDKError("gpu_fallback applies to DLA builds: give dla_core too")


# ---------------------------------------------------------------------------------------------------
# optimisation profiles

Shape = tuple[int, ...]
Profile = tuple[Shape, Shape, Shape]  # min, opt, max
MAX_DIM = 1 << 20  # a profile dim beyond this is a typo, not a model
_SHAPE_ITEM = re.compile(r"(?P<name>.+):(?P<dims>\d+(?:x\d+)*)")


def parse_shapes(text: str) -> dict[str, Shape]:
    """``"image:1x3x224x224,mask:1x1x224x224"`` (trtexec's ``--shapes`` syntax) -> {name: shape}."""
    out: dict[str, Shape] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        m = _SHAPE_ITEM.fullmatch(item)
        if not m:
            raise EdgeSDKError(f"bad shape {item!r}: use NAME:AxBxC, e.g. image:1x3x224x224 (comma-separated)")
        dims = tuple(int(d) for d in m.group("dims").split("x"))
        if not all(1 <= d <= MAX_DIM for d in dims):
            raise EdgeSDKError(f"bad shape {item!r}: every dim must be 1..{MAX_DIM}")
        out[m.group("name").strip("'\"")] = dims
    if not out:
        raise EdgeSDKError(f"no shapes in {text!r}: use NAME:AxBxC, e.g. image:1x3x224x224")
    return out


def manifest_sizes(manifest: Manifest) -> dict[str, list[Shape]]:
    """The full input shapes a bundle was validated at (single-input bundles): the example size
    (``extra.input_shape``) first, then ``extra.parity_at_sizes``; {} when the manifest records none."""
    if len(manifest.inputs) != 1:
        return {}
    shapes: list[Shape] = []
    example = manifest.extra.get("input_shape")
    candidates: list[Any] = [[1, *example]] if isinstance(example, list) else []
    sizes = manifest.extra.get("parity_at_sizes")
    if isinstance(sizes, list):
        candidates += [s.get("input_shape") for s in sizes if isinstance(s, dict)]
    rank = len(manifest.inputs[0].shape)
    for c in candidates:
        if (isinstance(c, list) and len(c) == rank
                and all(isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= MAX_DIM for d in c)):
            if tuple(c) not in shapes:
                shapes.append(tuple(c))
    return {manifest.inputs[0].name: shapes} if shapes else {}


def profile_shapes(
    inputs: Sequence[tuple[str, Sequence[int | None]]],
    *,
    max_batch: int = 32,
    opt_batch: int = 1,
    min_shapes: Mapping[str, Shape] | None = None,
    opt_shapes: Mapping[str, Shape] | None = None,
    max_shapes: Mapping[str, Shape] | None = None,
    sizes: Mapping[str, Sequence[Shape]] | None = None,
) -> dict[str, Profile]:
    """min / opt / max shapes for every input with a symbolic dim (None); static inputs need none.

    Per dim, first match wins: the shape given for that input (``opt_shapes`` alone also serves as min
    and max, like trtexec's ``--shapes``; ``min_shapes`` / ``max_shapes`` alone fall back to it); for
    dim 0 (the batch) 1 / ``opt_batch`` / ``max_batch``; for the others the smallest / first / largest
    of ``sizes`` (shapes the bundle was validated at). Raises :class:`EdgeSDKError` for a shape naming
    no input, of the wrong rank, contradicting a static dim, with min > opt > max, or for a symbolic dim
    nothing gives a size for (naming the flag to pass).
    """
    given = {"min": dict(min_shapes or {}), "opt": dict(opt_shapes or {}), "max": dict(max_shapes or {})}
    names = [name for name, _ in inputs]
    for kind, shapes in given.items():
        for name in shapes:
            if name not in names:
                raise EdgeSDKError(f"{kind} shape for {name!r}: the model has no such input (inputs: "
                                   f"{', '.join(names)})")
    profiles: dict[str, Profile] = {}
    for name, dims in inputs:
        for kind, shapes in given.items():
            shape = shapes.get(name)
            if shape is None:
                continue
            if len(shape) != len(dims) or any(d is not None and d != s for d, s in zip(dims, shape)):
                want = "x".join("?" if d is None else str(d) for d in dims)
                raise EdgeSDKError(f"{kind} shape {name}:{'x'.join(map(str, shape))} does not fit the input's "
                                   f"shape {want} (? = symbolic)")
        if all(d is not None for d in dims):
            continue
        known = list((sizes or {}).get(name, ()))
        ranges: list[tuple[int, int, int]] = []
        for k, d in enumerate(dims):
            if d is not None:
                ranges.append((d, d, d))
                continue
            opt = given["opt"].get(name)
            lo, hi = given["min"].get(name, opt), given["max"].get(name, opt)
            if lo is not None and hi is not None:
                ranges.append((lo[k], opt[k] if opt is not None else lo[k], hi[k]))
            elif k == 0:
                ranges.append((1, opt_batch, max_batch))
            elif known:
                values = [s[k] for s in known]
                ranges.append((min(values), values[0], max(values)))
            else:
                example = "x".join(str(v) if v is not None else "1" if i == 0 else "224" for i, v in enumerate(dims))
                raise EdgeSDKError(
                    f"input {name!r} dim {k} is symbolic and the manifest records no size for it: give its "
                    f"range, e.g. --min-shapes {name}:{example} --opt-shapes {name}:{example} "
                    f"--max-shapes {name}:{example} (or --shapes {name}:{example} for one size)"
                )
        lo_s, opt_s, hi_s = (tuple(r[i] for r in ranges) for i in range(3))
        if not all(a <= b <= c for a, b, c in ranges):
            raise EdgeSDKError(f"input {name!r}: need min <= opt <= max in every dim, got min {list(lo_s)}, "
                               f"opt {list(opt_s)}, max {list(hi_s)}")
        profiles[name] = (lo_s, opt_s, hi_s)
    return profiles


def profiles_json(profiles: Mapping[str, Profile]) -> dict[str, dict[str, list[int]]]:
    """The manifest form of :func:`profile_shapes`' result (and what the engine key compares)."""
    return {name: {"min": list(p[0]), "opt": list(p[1]), "max": list(p[2])} for name, p in sorted(profiles.items())}


# ---------------------------------------------------------------------------------------------------
# timing cache

MAX_TIMING_CACHE_BYTES = 256 << 20
AUTO = "auto"  # timing_cache=AUTO: the per-GPU, per-TensorRT-version file from default_timing_cache()


def default_timing_cache(tensorrt_version: str, compute_capability: str) -> Path:
    """``$EDGE_SDK_CACHE/tensorrt/timing-trt<version>-sm<cc>.cache``: one per GPU and TensorRT version."""
    def safe(text: str) -> str:
        return re.sub(r"[^0-9A-Za-z.]+", "_", text) or "unknown"

    return cache_dir() / "tensorrt" / f"timing-trt{safe(tensorrt_version)}-sm{safe(compute_capability)}.cache"


def read_timing_cache(path: Path, log: Callable[[str], None] = print) -> bytes:
    """The cache's bytes, or b"" (a new cache) when it is missing, unreadable or too large (with a warning)."""
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            log(f"warning: timing cache {path} is not a regular file; starting a new one")
            return b""
        size = st.st_size
        if size > MAX_TIMING_CACHE_BYTES:
            log(f"warning: timing cache {path} is {size} bytes (over {MAX_TIMING_CACHE_BYTES}); starting a new one")
            return b""
        return path.read_bytes()
    except FileNotFoundError:
        return b""
    except OSError as e:
        log(f"warning: cannot read timing cache {path} ({e.strerror or e}); starting a new one")
        return b""


def save_timing_cache(path: Path, blob: bytes | bytearray | memoryview, log: Callable[[str], None] = print) -> None:
    """Write the cache atomically (readers see the old or the new file); a failure only costs speed later."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                f.write(blob)
    except OSError as e:
        log(f"warning: could not save timing cache {path} ({e.strerror or e})")


# ---------------------------------------------------------------------------------------------------
# progress


class Ticker:
    """A thread that logs ``building engine ... 42 s (phase)`` every ``every`` seconds until closed.

    ``with Ticker(log) as t: ...``; ``t.phase`` (set by the progress monitor) is shown with the time.
    """

    def __init__(self, log: Callable[[str], None], every: float = 15.0, what: str = "building engine") -> None:
        self.phase = ""
        self._log, self._every, self._what = log, every, what
        self._t0 = time.perf_counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="engine-build-ticker", daemon=True)

    def elapsed(self) -> float:
        return time.perf_counter() - self._t0

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            phase = f" ({self.phase})" if self.phase else ""
            self._log(f"  {self._what} ... {self.elapsed():.0f} s{phase}")

    def __enter__(self) -> Ticker:
        self._t0 = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


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


def _progress_monitor(log: Callable[[str], None], ticker: Ticker | None = None) -> trt.IProgressMonitor:
    """An IProgressMonitor that logs the top-level build phases with the elapsed time and keeps the ticker's
    phase current (the class needs tensorrt, so it is local)."""
    import tensorrt as trt

    class Monitor(trt.IProgressMonitor):
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self._t0 = time.perf_counter()
            self._steps: dict[str, int] = {}

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            self._steps[phase_name] = num_steps
            if parent_phase is None:  # top-level phases only: a few lines, not hundreds
                log(f"  [{time.perf_counter() - self._t0:6.1f}s] {phase_name} ({num_steps} steps)")
                if ticker is not None:
                    ticker.phase = phase_name

        def step_complete(self, phase_name: str, step: int) -> bool:
            if ticker is not None and ticker.phase.split(":")[0] == phase_name:
                ticker.phase = f"{phase_name}: step {step + 1}/{self._steps.get(phase_name, '?')}"
            return True  # returning False would cancel the build

        def phase_finish(self, phase_name: str) -> None:
            self._steps.pop(phase_name, None)

    return Monitor()


def _timing_cache_config(
    config: trt.IBuilderConfig, path: Path, log: Callable[[str], None]
) -> trt.ITimingCache:
    """Attach the cache at ``path`` to ``config``; a corrupt or mismatched one is replaced by a new cache."""
    blob = read_timing_cache(path, log)
    try:
        cache = config.create_timing_cache(blob)
    except Exception as e:  # noqa: BLE001 - TensorRT raises its own types (or RuntimeError) on a bad blob
        log(f"warning: timing cache {path} is unreadable ({type(e).__name__}: {e}); starting a new one")
        cache = None
    if cache is not None and config.set_timing_cache(cache, ignore_mismatch=False):
        return cache
    if cache is not None:
        log(f"warning: timing cache {path} does not match this TensorRT/GPU; starting a new one")
    cache = config.create_timing_cache(b"")
    config.set_timing_cache(cache, ignore_mismatch=False)
    return cache


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
    wanted: Mapping[str, Any] | None = None,
) -> tuple[bool, str]:
    """Whether a manifest engine entry still fits this ONNX file, TensorRT version and GPU, and the
    build options in ``wanted`` (only those given: e.g. ``{"dla_core": 0, "profiles": ...}``, see
    :func:`wanted_options`), so an engine built with other options is rebuilt rather than used.

    Returns ``(True, "")`` or ``(False, reason)``. The TensorRT version and compute capability are only
    compared where TensorRT is importable / a GPU is found (a host without them can still check the hash).
    A version-compatible plan is accepted by any TensorRT of the same major version at least as new.
    ``tensorrt_version`` / ``compute_capability`` default to what this machine has.
    """
    name = entry.get("file", "engine")
    if entry.get("source_sha256") != onnx_sha256:
        return False, f"{name} was built from a different ONNX file (source sha256 differs): rebuild it"
    for key, value in (wanted or {}).items():
        if entry.get(key) != value:
            return False, f"{name} was built with {key}={entry.get(key)!r}, {value!r} is asked for: rebuild it"
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


def wanted_options(
    manifest: Manifest,
    *,
    precision: str | None = None,
    max_batch: int | None = None,
    opt_batch: int | None = None,
    min_shapes: Mapping[str, Shape] | None = None,
    opt_shapes: Mapping[str, Shape] | None = None,
    max_shapes: Mapping[str, Shape] | None = None,
    dla_core: int | None = None,
    gpu_fallback: bool | None = None,
) -> dict[str, Any]:
    """The engine-key fields a caller asked for (None: not asked, any built value will do), in the form
    :func:`build_engine` records them; profiles are computed from the manifest's inputs, without TensorRT."""
    out: dict[str, Any] = {}
    if precision is not None:
        out["precision"] = precision
    if any(v is not None for v in (max_batch, opt_batch, min_shapes, opt_shapes, max_shapes)):
        inputs = [(t.name, [d if isinstance(d, int) else None for d in t.shape]) for t in manifest.inputs]
        out["profiles"] = profiles_json(profile_shapes(
            inputs, max_batch=max_batch or 32, opt_batch=opt_batch or 1, min_shapes=min_shapes,
            opt_shapes=opt_shapes, max_shapes=max_shapes, sizes=manifest_sizes(manifest)))
    if dla_core is not None:
        out["dla_core"] = dla_core
    if gpu_fallback is not None:
        out["gpu_fallback"] = gpu_fallback
    return out
