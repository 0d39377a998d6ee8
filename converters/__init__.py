"""Host-side conversion: export PyTorch models to ONNX, quantize, validate, build TensorRT engines.

Importing ``converters`` is cheap; torch and onnx load when a function is called.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["export", "validate"]


def export(model: Any, out_dir: str | Path, **kwargs: Any) -> Path:
    """See :func:`converters.pipeline.export`; ``format="c"``: :func:`converters.c_awb.export_c`
    (the EMLP white balance as C99 source, ``precision`` fp32 or int8)."""
    if kwargs.pop("format", "onnx") == "c":
        from converters.c_awb import export_c

        return export_c(model, out_dir, kwargs.pop("precision", "fp32"), log=kwargs.get("log"))
    from converters.pipeline import export as _export

    return _export(model, out_dir, **kwargs)


def validate(
    bundle: str | Path, data: str | Path | None = None, *, model: Any = None, arch: str | None = None,
    input_shape: tuple[int, ...] | None = None,
) -> Any:
    """Re-run a bundle's parity check against its PyTorch source; returns a ParityReport.

    Bundles from the zoo are checked against the zoo model. For any other bundle pass ``model``,
    the source it was exported from (``"net.py:make"``, a checkpoint with ``arch``, a ``.pt2``, an
    ``nn.Module``): code or files named in a bundle's manifest are never run or loaded.
    """
    from converters.validate import validate_bundle

    return validate_bundle(Path(bundle), Path(data) if data else None, model=model, arch=arch,
                           input_shape=input_shape)
