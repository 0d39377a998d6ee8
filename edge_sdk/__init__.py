"""edge-sdk: from a PyTorch checkpoint to a camera-fed program on an edge device.

The public face. Importing it never imports torch; torch is loaded only when a zoo model is
created or trained.
"""

from __future__ import annotations

from edge_sdk.errors import EdgeSDKError
from edge_sdk.zoo import create_model, get_spec, list_models
from runtimes import Session, load

__version__ = "0.1.0"

__all__ = ["EdgeSDKError", "Session", "__version__", "create_model", "get_spec", "list_models", "load"]
