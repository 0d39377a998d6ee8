"""The runtime's errors are the SDK's errors: one root, importable without edge_sdk's extras."""

from edge_sdk.errors import (
    BackendUnavailableError,
    EdgeSDKError,
    InputError,
    ManifestError,
)

__all__ = ["BackendUnavailableError", "EdgeSDKError", "InputError", "ManifestError"]
