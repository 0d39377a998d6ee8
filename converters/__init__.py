"""Host-side conversion: export PyTorch models to ONNX, quantize, validate, build TensorRT engines.

Importing ``converters`` is cheap; torch and onnx load when a function is called.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["export", "validate"]


def export(model: Any, out_dir: str | Path, **kwargs: Any) -> Path:
    """See :func:`converters.pipeline.export`."""
    from converters.pipeline import export as _export

    return _export(model, out_dir, **kwargs)


def validate(bundle: str | Path, data: str | Path | None = None) -> Any:
    """Re-run a bundle's parity check against its PyTorch source; returns a ParityReport."""
    from converters.validate import validate_bundle

    return validate_bundle(Path(bundle), Path(data) if data else None)
