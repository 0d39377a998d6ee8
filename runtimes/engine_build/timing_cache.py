"""The TensorRT timing cache (measured kernel timings that make rebuilds much faster): one file per GPU and
TensorRT version beside the engine-trust file, read with a size bound, attached to a build (a corrupt or
mismatched one is replaced by a new cache) and saved atomically."""

from __future__ import annotations

import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from runtimes.atomic import atomic_path
from runtimes.engine_trust import cache_dir

if TYPE_CHECKING:
    import tensorrt as trt

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
