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

The package holds one idea a module, and this module re-exports their public names (import from here):

* :mod:`~runtimes.engine_build.options`: the precisions TensorRT builds and the checks on build arguments;
* :mod:`~runtimes.engine_build.profiles`: optimisation profiles (trtexec-style min / opt / max shapes);
* :mod:`~runtimes.engine_build.timing_cache`: the timing cache file, and attaching it to a build;
* :mod:`~runtimes.engine_build.progress`: build progress (the ticker thread, TensorRT's progress monitor);
* :mod:`~runtimes.engine_build.trtexec`: the ``trtexec`` command line that builds the same engine;
* :mod:`~runtimes.engine_build.build`: the build itself (:func:`build_engine`);
* :mod:`~runtimes.engine_build.staleness`: whether a built engine still fits (the engine key).
"""

from __future__ import annotations

from runtimes.engine_build.build import INSTALL_HINT, EngineBuildError, build_engine
from runtimes.engine_build.options import PRECISIONS, check_bundle_precision
from runtimes.engine_build.profiles import (
    MAX_DIM,
    Profile,
    Shape,
    manifest_sizes,
    parse_shapes,
    profile_shapes,
    profiles_json,
)
from runtimes.engine_build.progress import Ticker
from runtimes.engine_build.staleness import engine_key_matches, wanted_options
from runtimes.engine_build.timing_cache import (
    AUTO,
    MAX_TIMING_CACHE_BYTES,
    default_timing_cache,
    read_timing_cache,
    save_timing_cache,
)
from runtimes.engine_build.trtexec import trtexec_command

__all__ = [
    "AUTO", "INSTALL_HINT", "MAX_DIM", "MAX_TIMING_CACHE_BYTES", "PRECISIONS", "EngineBuildError", "Profile", "Shape",
    "Ticker", "build_engine", "check_bundle_precision", "default_timing_cache", "engine_key_matches",
    "manifest_sizes", "parse_shapes", "profile_shapes", "profiles_json", "read_timing_cache", "save_timing_cache",
    "trtexec_command", "wanted_options",
]
