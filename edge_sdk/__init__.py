"""edge-sdk: from a PyTorch checkpoint to a camera-fed program on an edge device.

The public face. Importing it never imports torch (zoo models load torch when created), and
OpenCV loads only when a camera source or sink is opened.

    import edge_sdk
    sess = edge_sdk.load("bundles/compact-cnn")           # runtime (torch-free)
    with edge_sdk.open_source("synthetic://digits") as cam:
        frame = cam.read()
"""

from __future__ import annotations

from typing import Any

from edge_sdk.errors import EdgeSDKError
from edge_sdk.zoo import create_model, get_spec, list_models
from runtimes import Session, load

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
