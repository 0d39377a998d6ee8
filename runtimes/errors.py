"""The root of every error edge-sdk raises on purpose, defined at the lowest layer (the runtime),
so the device path needs nothing else. ``edge_sdk.errors`` re-exports these and adds the rest."""

from __future__ import annotations

DISTRIBUTION = "edge-sdk-tools"  # the name pip knows; `edge-sdk` on the package index is an unrelated project


def install_hint(extra: str) -> str:
    """How to add an optional extra: from the source tree or our wheel, never a name fetched from the index."""
    return (f"pip install -e '.[{extra}]' in the edge-sdk source tree "
            f"(or pip install '{DISTRIBUTION.replace('-', '_')}-<version>-py3-none-any.whl[{extra}]')")


class EdgeSDKError(Exception):
    """Root of every error edge-sdk raises on purpose."""


class BackendUnavailableError(EdgeSDKError):
    """A backend library is not installed or cannot run here. The message says what to install."""


class ManifestError(EdgeSDKError):
    """A bundle or manifest is missing, malformed, or does not match its artifact."""


class InputError(EdgeSDKError, ValueError):
    """An input has the wrong name, dtype, shape or values. The message names the tensor."""


class ResourceError(EdgeSDKError):
    """The backend ran out of memory (host or device) for this call. Smaller batches may fit."""


class SessionClosedError(EdgeSDKError):
    """``run`` or ``__call__`` on a session after ``close()``."""


__all__ = ["BackendUnavailableError", "EdgeSDKError", "InputError", "ManifestError", "ResourceError",
           "SessionClosedError"]
