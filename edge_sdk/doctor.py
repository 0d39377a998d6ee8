"""``edge-sdk doctor``: what this machine can run, and what is missing, without importing torch."""

from __future__ import annotations

import glob
import os
import platform
import shutil
import tempfile
from importlib import metadata
from typing import Any

from runtimes.errors import DISTRIBUTION, install_hint

PACKAGES = (DISTRIBUTION, "numpy", "onnx", "onnxruntime", "onnxruntime-gpu", "opencv-python-headless", "opencv-python",
            "torch", "tensorrt", "polygraphy", "colour-science", "safetensors")


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _providers() -> list[str]:
    try:
        import onnxruntime as ort

        return list(ort.get_available_providers())
    except ImportError:
        return []


def _opencv() -> dict[str, Any]:
    try:
        import cv2
    except ImportError:
        return {"installed": False}
    from edge_sdk.camera.capture import has_gstreamer
    from edge_sdk.camera.sinks import has_gui

    return {"installed": True, "version": cv2.__version__, "gstreamer": has_gstreamer(), "gui": has_gui(),
            "video_backends": sorted({cv2.videoio_registry.getBackendName(b)
                                      for b in cv2.videoio_registry.getStreamBackends()
                                      if cv2.videoio_registry.hasBackend(b)})}


def _cache_writable() -> dict[str, Any]:
    from edge_sdk.bundles import cache_dir

    path = cache_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path):
            pass
        return {"path": str(path), "writable": True}
    except OSError as e:
        return {"path": str(path), "writable": False, "error": e.strerror or str(e)}


def _autotune() -> dict[str, Any]:
    """backend="auto"'s measured decisions (runtimes.autotune): the cache file and what it chose per model."""
    from runtimes.autotune import summary

    return summary()


def _gpu() -> dict[str, Any]:
    from runtimes.gpu import gpu_info

    info = gpu_info()
    return {"cuda_gpu": info["gpu_name"] != "unknown", **info, "nvidia_smi": shutil.which("nvidia-smi") is not None,
            "jetson": os.path.exists("/etc/nv_tegra_release")}


def diagnose() -> dict[str, Any]:
    from runtimes import available_backends
    from runtimes.cpuinfo import cpu_name, int8_support

    providers = _providers()
    report: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "cpu": cpu_name(),
        "cpu_cores": os.cpu_count(),
        "cpu_int8": int8_support(),
        "versions": {p: _version(p) for p in PACKAGES},
        "backends": available_backends(),
        "onnxruntime_providers": providers,
        "gpu": _gpu(),
        "opencv": _opencv(),
        "cameras": sorted(glob.glob("/dev/video*")),
        "cache": _cache_writable(),
        "autotune": _autotune(),
    }
    report["advice"] = advice(report)
    return report


def advice(r: dict[str, Any]) -> list[str]:
    tips = []
    if r["backends"].get("tensorrt") != "ok":
        tips.append("native TensorRT backend unavailable: on Jetson use JetPack's python3-libnvinfer "
                    "(venv with --system-site-packages) and " + install_hint("tensorrt"))
    gpu_providers = {"CUDAExecutionProvider", "TensorrtExecutionProvider"} & set(r["onnxruntime_providers"])
    if r["gpu"]["cuda_gpu"] and not gpu_providers:
        tips.append("a CUDA GPU is present but onnxruntime is CPU-only: install onnxruntime-gpu")
    if r["opencv"].get("installed") and not r["opencv"].get("gstreamer"):
        tips.append("OpenCV has no GStreamer: csi:// cameras need the system OpenCV (JetPack's), not pip's")
    if not r["cameras"]:
        tips.append("no /dev/video* devices: use file://, a directory, http:// MJPEG or synthetic:// sources")
    if r["versions"].get("torch") is None:
        tips.append("torch not installed: fine for running bundles; exporting needs " + install_hint("host"))
    if r["cpu_int8"].get("int8_dot") == "none":
        tips.append(f"this CPU has no INT8 dot-product instructions ({r['cpu_int8']['vector'] or 'SIMD'} only: no "
                    "VNNI / SDOT): INT8 bundles run at about FP32 speed on it (smaller, not faster); measure with "
                    "edge-sdk benchmark --precision auto")
    if not r["cache"]["writable"]:
        tips.append(f"cache directory {r['cache']['path']} is not writable: set EDGE_SDK_CACHE")
    return tips
