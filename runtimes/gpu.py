"""GPU identity without torch: name and compute capability of CUDA device 0.

From the CUDA driver API (``libcuda``, via ctypes), which exists wherever a TensorRT engine can run,
Jetson included; ``nvidia-smi`` is the fallback. Used to key TensorRT engines and by ``edge-sdk doctor``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import subprocess


def _gpu_from_libcuda() -> tuple[str, str] | None:
    """(name, "major.minor") of device 0 via the CUDA driver API, or None."""
    for name in ("libcuda.so.1", "libcuda.so", ctypes.util.find_library("cuda"), "nvcuda.dll"):
        if not name:
            continue
        try:
            cuda = ctypes.CDLL(name)
        except OSError:
            continue
        dev = ctypes.c_int()
        major, minor = ctypes.c_int(), ctypes.c_int()
        buf = ctypes.create_string_buffer(256)
        # CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75, _MINOR = 76 (cuda.h)
        if (
            cuda.cuInit(0) != 0
            or cuda.cuDeviceGet(ctypes.byref(dev), 0) != 0
            or cuda.cuDeviceGetName(buf, len(buf), dev) != 0
            or cuda.cuDeviceGetAttribute(ctypes.byref(major), 75, dev) != 0
            or cuda.cuDeviceGetAttribute(ctypes.byref(minor), 76, dev) != 0
        ):
            return None
        return buf.value.decode(errors="replace"), f"{major.value}.{minor.value}"
    return None


def _gpu_from_nvidia_smi() -> tuple[str, str] | None:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,compute_cap", "--format=csv,noheader", "--id=0"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    name, _, cap = out.strip().partition(",")
    return (name.strip(), cap.strip()) if name and cap.strip() else None


def gpu_info() -> dict[str, str]:
    """{"gpu_name", "compute_capability"} of CUDA device 0 ("unknown" where it cannot be found)."""
    found = _gpu_from_libcuda() or _gpu_from_nvidia_smi()
    name, cap = found if found else ("unknown", "unknown")
    return {"gpu_name": name, "compute_capability": cap}
