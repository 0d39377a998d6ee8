"""What TensorRT may be asked to build: the precisions it builds engines from, and the checks on the build
arguments (precision, batch sizes, DLA core, GPU fallback) made before any build or ``trtexec`` command."""

from __future__ import annotations

from runtimes.errors import EdgeSDKError, ManifestError
from runtimes.precisions import NOT_FOR_TENSORRT, TENSORRT

PRECISIONS = TENSORRT  # from the precision table, with NOT_FOR_TENSORRT: why the others cannot be built


def check_bundle_precision(bundle_precision: str) -> None:
    """Refuse a bundle whose precision TensorRT cannot build an engine from, saying why and what to export."""
    if bundle_precision not in PRECISIONS:
        why = NOT_FOR_TENSORRT.get(bundle_precision, "not a TensorRT format")
        raise ManifestError(f"a {bundle_precision} bundle cannot become a TensorRT engine ({why}); "
                           "export fp32, fp16 or --precision int8")


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

