"""Export the EMLP white balance as dependency-free C99 (float or int8 fixed point) with golden vectors.

``export_c(bundle, out_dir, precision)`` writes ``awb_emlp.[ch]``, ``awb_cli.c``, ``awb_test.c``,
``Makefile``, ``README.md``, ``test_vectors/`` and the marker ``awb_emlp.json``. The directory is
written atomically (staged beside it, then renamed); an existing non-empty directory is replaced
only if it holds a previous C export (the marker).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from converters.c_awb.model import CExportError, MLPWeights, read_mlp

__all__ = ["CExportError", "PRECISIONS", "export_c"]

PRECISIONS = ("fp32", "int8")


def _is_ours(path: Path) -> bool:
    from converters.c_awb.generator import FORMAT, MARKER

    try:
        return json.loads((path / MARKER).read_text()).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def _check_out(out: Path) -> None:
    from edge_sdk.errors import OutputExistsError

    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out} exists and is not a directory; choose another output directory")
    if out.is_dir() and any(out.iterdir()) and not _is_ours(out):
        raise OutputExistsError(f"{out} is not empty and is not a previous C export (no awb_emlp.json); "
                                "choose an empty or new output directory")


def _source(bundle_or_model: str | os.PathLike[str]) -> Path:
    path = Path(bundle_or_model)
    if path.exists():
        return path
    from edge_sdk.bundles import resolve_bundle

    return Path(resolve_bundle(str(bundle_or_model)))


def export_c(bundle_or_model: str | os.PathLike[str], out_dir: str | os.PathLike[str], precision: str = "fp32",
             *, vectors: bool = True, log: Callable[[str], None] | None = None) -> Path:
    """Write the C white balance of an EMLP bundle (or .onnx file, or zoo name) into ``out_dir``."""
    if precision not in PRECISIONS:
        raise CExportError(f"precision {precision!r}: the C export builds {' or '.join(PRECISIONS)}")
    out = Path(out_dir)
    _check_out(out)
    mlp: MLPWeights = read_mlp(_source(bundle_or_model))
    from converters.c_awb.generator import write_all
    from converters.c_awb.quantize import calibration_features, quantize

    say = log or (lambda m: None)
    q = None
    if precision == "int8":
        say("calibrating the int8 fixed-point scheme on the synthetic training split")
        q = quantize(mlp, calibration_features())
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        write_all(stage, mlp, precision, q, vectors=vectors)
        _check_out(out)  # again: it may have appeared meanwhile
        old = None
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            os.replace(out, old / "x")
        os.replace(stage, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    say(f"wrote the {precision} C white balance to {out}")
    return out
