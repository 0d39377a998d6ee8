"""Size bounds a user may raise in their own environment (``EDGE_SDK_MAX_...=N``), read one way by every
converter step (the input-element bound, data files, ``.pt2`` archives): a bad value is a clear error."""

from __future__ import annotations

import os

from edge_sdk.errors import EdgeSDKError


def env_limit(name: str, default: int) -> int:
    """A size bound the user may raise in their own environment (``name=N``), else ``default``."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise EdgeSDKError(f"{name}={text!r} is not an integer") from None
    if value < 1:
        raise EdgeSDKError(f"{name}={text!r} must be at least 1")
    return value
