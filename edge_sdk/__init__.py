"""edge-sdk: from a PyTorch checkpoint to a camera-fed program on an edge device.

The public face. Importing it never imports torch (zoo models load torch when created), and
OpenCV loads only when a camera source or sink is opened.

    import edge_sdk
    sess = edge_sdk.load("bundles/compact-cnn")           # runtime (torch-free)
    with edge_sdk.open_source("synthetic://digits") as cam:
        frame = cam.read()
"""

from __future__ import annotations

import os
from typing import Any

# OpenCV reads its decode limit once, when cv2 is imported: set it before any edge-sdk module can import
# cv2, so every decode (camera sources, calibration folders, datasets) refuses images declaring more than
# 64 MP unless the user set the variable. Equal to edge_sdk.camera.imagesize.DEFAULT_MAX_PIXELS (tested).
OPENCV_MAX_PIXELS = 64_000_000
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(OPENCV_MAX_PIXELS))

from edge_sdk.errors import EdgeSDKError  # noqa: E402
from edge_sdk.zoo import create_model, get_spec, list_models  # noqa: E402
from runtimes import Session, load  # noqa: E402

__version__ = "0.1.0"
__all__ = [
    "EdgeSDKError", "Session", "__version__", "create_model", "get_spec", "list_models", "load",
    "open_dual_source", "open_sink", "open_source",
]

_CAMERA = ("open_source", "open_dual_source", "open_sink")


def __getattr__(name: str) -> Any:  # lazy: edge_sdk.camera pulls in OpenCV
    if name in _CAMERA:
        from edge_sdk import camera

        return getattr(camera, name)
    raise AttributeError(f"module 'edge_sdk' has no attribute {name!r}")
