"""One root exception, a few meaningful subclasses.

Every error the SDK raises on purpose derives from :class:`EdgeSDKError`, so an application can
catch one type, and the CLI turns it into a one-line message with exit status 1.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from runtimes.errors import (
    BackendUnavailableError,
    EdgeSDKError,
    InputError,
    ManifestError,
    ResourceError,
    SessionClosedError,
    install_hint,
)

__all__ = [
    "BackendUnavailableError", "DatasetError", "EdgeSDKError", "InputError", "ManifestError",
    "MissingDependencyError", "OutputExistsError", "ParityError", "ResourceError", "SessionClosedError",
    "SourceError", "UnknownModelError", "WeightsError", "install_hint",
]


class UnknownModelError(EdgeSDKError, KeyError):
    """A model name that is not in the zoo. The message suggests close names."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        known = sorted(known)
        close = difflib.get_close_matches(name, known, n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        super().__init__(f"unknown model {name!r}.{hint} Known models: {', '.join(known)}.")
        self.name = name

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0])


class WeightsError(EdgeSDKError):
    """Weights are missing, unsafe (pickle), or do not fit the architecture."""


class DatasetError(EdgeSDKError):
    """A dataset file or directory is missing or malformed."""


class ParityError(EdgeSDKError):
    """A converted artifact broke its accuracy budget. Carries the full parity report."""

    def __init__(self, message: str, report: object | None = None) -> None:
        super().__init__(message)
        self.report = report


class OutputExistsError(EdgeSDKError):
    """An output path holds something export must not replace (user files, the current directory)."""


class SourceError(EdgeSDKError):
    """A camera or video source cannot be opened or read."""


class MissingDependencyError(BackendUnavailableError):
    """An optional dependency (torch, onnx, matplotlib, ...) is needed for this operation."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs {package!r}, which is not installed. "
            f"Install the host tools with: {install_hint(extra)}"
        )
        self.package = package
