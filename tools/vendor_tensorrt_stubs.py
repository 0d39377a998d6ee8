"""Vendor the TensorRT type stubs into ``typings/`` so mypy checks our TensorRT calls.

Source: the ``tensorrt-stubs`` wheel on PyPI (https://github.com/sync-dev-org/tensorrt-stubs, MIT licence,
generated with pybind11-stubgen from the real ``tensorrt`` 10.13 bindings). It ships ``tensorrt/__init__.pyi``
and ``tensorrt_bindings/{__init__,tensorrt}.pyi``. As generated they do not parse or name-resolve in mypy, so
this script applies a few mechanical fixes:

* parameters named ``in`` (a keyword) -> ``in_``;
* ``add_scale_nd(..., power=None, channel_axis)``: a required parameter after defaulted ones -> ``= ...``;
* ``import tensorrt_libs`` (the CUDA libraries wheel, not typed) removed;
* the module defines ``bool: DataType`` (``trt.bool``), which shadows the builtin in annotations ->
  annotations use ``builtins.bool``;
* pybind11-stubgen's placeholders ``...`` / ``capsule`` as types -> ``typing.Any``; ``typing_extensions`` imported.

Remaining stub-internal inconsistencies (overrides, ``self`` types) are silenced per module in
``[[tool.mypy.overrides]]`` (``ignore_errors``); they do not affect checking of our code against the API.

Re-vendor (needs network, TensorRT itself is not needed)::

    pip download --no-deps tensorrt-stubs==10.13.0.35.1 -d /tmp/trt-stubs
    python tools/vendor_tensorrt_stubs.py /tmp/trt-stubs/tensorrt_stubs-10.13.0.35.1-py3-none-any.whl

The script is idempotent: it always starts from the wheel and rewrites ``typings/`` completely.
"""

from __future__ import annotations

import re
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TYPINGS = REPO / "typings"
FILES = ("tensorrt/__init__.pyi", "tensorrt_bindings/__init__.pyi", "tensorrt_bindings/tensorrt.pyi")
LICENSE_SUFFIX = "licenses/LICENSE"

# An annotation position: after ": " or "-> " or inside brackets/unions of an annotation.
_ANNOTATION_LINE = re.compile(r"^\s*(def |@|[A-Za-z_]\w*: )")
_BOOL_IN_TYPE = re.compile(r"(?<=-> )bool\b|(?<=: )bool\b|(?<=\[)bool\b|(?<=, )bool\b|(?<=\| )bool\b")
_ELLIPSIS_TYPE = re.compile(r"(?<=-> )\.\.\.(?=:)|(?<=: )\.\.\.(?=[,)]|$)")


def fix(name: str, text: str) -> str:
    text = text.replace("\r\n", "\n")  # the wheel ships CRLF line endings
    text = text.replace("import tensorrt_libs as tensorrt_libs\n", "")
    text = text.replace("'tensorrt_libs', ", "")
    if name != "tensorrt_bindings/tensorrt.pyi":
        return text
    text = re.sub(r"(\(self(?:: \w+)?, )in: ", r"\1in_: ", text)
    text = text.replace("power: Weights = None, channel_axis: int)", "power: Weights = None, channel_axis: int = ...)")
    out = []
    for line in text.splitlines(keepends=True):
        if _ANNOTATION_LINE.match(line) and not line.startswith("bool:"):
            line = _BOOL_IN_TYPE.sub("builtins.bool", line)
            line = _ELLIPSIS_TYPE.sub("typing.Any", line)
            line = re.sub(r"\bcapsule\b", "typing.Any", line)
        out.append(line)
    text = "".join(out)
    header = "import builtins\nimport typing_extensions\n"
    return text.replace("import typing\n", "import typing\n" + header, 1)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__)
        return 2
    with zipfile.ZipFile(argv[0]) as wheel:
        names = wheel.namelist()
        for name in FILES:
            target = TYPINGS / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(fix(name, wheel.read(name).decode("utf-8")), encoding="utf-8")
        licence = next(n for n in names if n.endswith(LICENSE_SUFFIX))
        dist = licence.split("/")[0]
        (TYPINGS / "LICENSE.tensorrt-stubs").write_bytes(wheel.read(licence))
    (TYPINGS / "README.md").write_text(
        "# Vendored type stubs\n\n"
        f"`tensorrt/` and `tensorrt_bindings/` come from the `{dist.removesuffix('.dist-info')}` wheel\n"
        "(https://github.com/sync-dev-org/tensorrt-stubs, MIT licence, see `LICENSE.tensorrt-stubs`),\n"
        "generated from the real TensorRT Python bindings. They are patched mechanically by\n"
        "`tools/vendor_tensorrt_stubs.py` (see its docstring for the fixes and how to re-vendor).\n"
        "mypy finds them through `mypy_path` in pyproject.toml's [tool.mypy]. Do not edit by hand.\n",
        encoding="utf-8",
    )
    print(f"vendored {', '.join(FILES)} into {TYPINGS}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
