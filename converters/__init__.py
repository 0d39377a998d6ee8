"""Host-side conversion: export PyTorch models to ONNX, quantize, validate, build TensorRT engines.

Importing ``converters`` is cheap; torch and onnx load when a function is called.

``converters.validate`` is always the function below, also after the submodule of the same name
(``converters/validate.py``, where its work is done) has been imported: Python's import system would
otherwise rebind the package attribute to the module on that first import. Import from the submodule
with ``from converters.validate import validate_bundle`` (``import converters.validate as m`` gives the
function).
"""

from __future__ import annotations

import sys
import types
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
    bundle: str | Path, data: Any = None, *, model: Any = None, arch: str | None = None,
    input_shape: tuple[int | str, ...] | None = None, metric: Any = None, metric_budget: float | None = None,
    metric_mode: str | None = None,
) -> Any:
    """Re-run a bundle's parity check against its PyTorch source; returns a ParityReport.

    Bundles from the zoo are checked against the zoo model. For any other bundle pass ``model``,
    the source it was exported from (``"net.py:make"``, a checkpoint with ``arch``, a ``.pt2``, an
    ``nn.Module``): code or files named in a bundle's manifest are never run or loaded. ``data``
    (a path, an array or ``(x, y)``) defaults to the validation data the manifest records, when it is
    reachable. ``metric(outputs, labels) -> float`` with ``metric_budget``/``metric_mode``: see
    :mod:`converters.user_metric`.
    """
    from converters.validate import validate_bundle

    return validate_bundle(Path(bundle), Path(data) if isinstance(data, str) else data, model=model, arch=arch,
                           input_shape=input_shape, metric=metric, metric_budget=metric_budget,
                           metric_mode=metric_mode)


class _Package(types.ModuleType):
    """Keeps the public ``validate`` function when the import system binds the ``validate`` submodule."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "validate" and isinstance(value, types.ModuleType):
            return  # the submodule stays reachable as sys.modules["converters.validate"]
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
