"""The input shape of a model to export: parsed from ``--input-shape`` (``1x3xHxW``: names are symbolic
dims), split into the example it is traced at and its symbolic axes, bounded in elements, and checked
against the model itself with a forward pass on zeros before anything is exported. An input shape that
does not fit is an :class:`InputShapeError` naming the layout the model expects."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch

from converters.limits import env_limit
from converters.user_code import _first_line, _user_code_error
from edge_sdk.errors import EdgeSDKError, InputError

if TYPE_CHECKING:
    from converters.sources import ModelSource


class InputShapeError(InputError):
    """An input shape that is written wrongly or does not fit the model; raised before anything is exported."""


# Largest input one sample may have (elements), checked before anything is allocated. 2**24 floats are
# 64 MiB, e.g. 3x2048x2048. Raise it with EDGE_SDK_MAX_INPUT_ELEMENTS=N (environment) if you mean it.
MAX_INPUT_ELEMENTS = 1 << 24


def parse_shape(text: str) -> tuple[int | str, ...]:
    """``1x3x224x224`` or ``1,3,224,224`` -> (1, 3, 224, 224); a name (letters, digits and _, no x) is a
    symbolic dim: ``1x3xHxW`` -> (1, 3, "H", "W"). The first dim is the batch (see :func:`split_shape`)."""
    dims: list[int | str] = []
    for d in (d.strip() for d in re.split(r"[xX,]", text)):
        if d.isdigit():
            dims.append(int(d))
        elif _DIM_NAME.fullmatch(d):
            dims.append(d)
        elif d:
            raise InputShapeError(f"bad input shape {text!r}: expected dims separated by x, each a whole number or a "
                                  "name for a symbolic dim, e.g. 1x3x224x224 or 1x3xHxW")
    return tuple(dims)  # checked by resolve_model (split_shape)


_DIM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,31}")
DEFAULT_SYMBOLIC_SIZE = 64  # the example size a symbolic dim is traced and validated at (and twice that)
_IMAGE_AXIS_NAMES = {2: "height", 3: "width"}


def split_shape(
    shape: Sequence[int | str], dynamic_axes: Iterable[int] | Mapping[int, str | None] | None = None,
) -> tuple[tuple[int, ...], dict[int, str]]:
    """A declared input shape (batch first; names for symbolic dims) and ``dynamic_axes`` (input axes to keep
    symbolic, or axis -> name) -> (example shape with batch 1, {axis: name}). Symbolic dims are traced at
    :data:`DEFAULT_SYMBOLIC_SIZE` unless the shape gives a size (``1x3x96x96`` with ``dynamic_axes=[2, 3]``).

    The batch is always symbolic in a bundle, so the first dim must be 1 (or a name): ``3x64x64`` is refused
    with a message saying to write ``1x3x64x64``, never read as a batch of 3."""
    dims = list(shape) if isinstance(shape, (list, tuple)) else None
    text = "x".join(map(str, dims)) if dims is not None else repr(shape)
    if dims is None or len(dims) < 2:
        raise InputShapeError(f"bad input shape {text}: expected the batch (1) and at least one dim, e.g. 1x3x224x224 "
                              "(an image) or 1x16 (a vector)")
    example: list[int] = []
    names: dict[int, str] = {}
    for axis, d in enumerate(dims):
        if isinstance(d, str) and _DIM_NAME.fullmatch(d):
            names[axis] = d
            example.append(DEFAULT_SYMBOLIC_SIZE)
        elif isinstance(d, bool) or not isinstance(d, int) or d < 1:
            raise InputShapeError(f"bad input shape {text}: every dim must be a positive whole number, or a name for "
                                  "a symbolic dim (1x3xHxW)")
        else:
            example.append(int(d))
    if 0 not in names and example[0] != 1:
        rest = "x".join(map(str, dims[1:] if len(dims) > 3 else dims))
        raise InputShapeError(f"input shape {text} starts with a batch of {example[0]}: the first dim is the batch, "
                              f"which every bundle keeps symbolic; write it as 1, e.g. 1x{rest}")
    example[0] = 1
    names.pop(0, None)
    extra = dynamic_axes.items() if isinstance(dynamic_axes, Mapping) else (
        (a, None) for a in (dynamic_axes or ()))
    for axis, name in extra:
        if isinstance(axis, bool) or not isinstance(axis, int) or not 0 <= axis < len(dims):
            raise InputShapeError(f"dynamic axis {axis!r} is not an axis of input shape {text} (0..{len(dims) - 1}; "
                                  "0, the batch, is always symbolic)")
        if name is not None and not (isinstance(name, str) and _DIM_NAME.fullmatch(name)):
            raise InputShapeError(f"dynamic axis {axis}: name {name!r} must be a short identifier such as height")
        if axis:
            names[axis] = name or names.get(axis) or (
                _IMAGE_AXIS_NAMES.get(axis) if len(dims) == 4 else None) or f"dim{axis}"
    seen: dict[str, int] = {}
    for axis, name in sorted(names.items()):
        if name in seen or name == "batch":
            raise InputShapeError(f"input shape {text}: symbolic dims {seen.get(name, 0)} and {axis} are both named "
                                  f"{name!r}; give each its own name")
        seen[name] = axis
    return tuple(example), dict(sorted(names.items()))


def second_shape(sample: tuple[int, ...], dynamic_axes: Mapping[int, str]) -> tuple[int, ...]:
    """The other one-sample shape a model with symbolic dims is checked at: each symbolic dim twice its example
    size, or half of it where twice would pass the element bound (:func:`max_input_elements`)."""
    doubled = tuple(d * 2 if axis + 1 in dynamic_axes else d for axis, d in enumerate(sample))
    if _elements(doubled) <= max_input_elements():
        return doubled
    return tuple(max(1, d // 2) if axis + 1 in dynamic_axes else d for axis, d in enumerate(sample))


def _elements(shape: Iterable[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def max_input_elements() -> int:
    """The per-sample element bound: ``EDGE_SDK_MAX_INPUT_ELEMENTS`` if set, else :data:`MAX_INPUT_ELEMENTS`."""
    return env_limit("EDGE_SDK_MAX_INPUT_ELEMENTS", MAX_INPUT_ELEMENTS)


_FIRST_LAYERS: dict[type[torch.nn.Module], tuple[str, str]] = {  # layer -> (attribute, layout it takes)
    torch.nn.Linear: ("in_features", "Nx{}"),
    torch.nn.Conv1d: ("in_channels", "Nx{}xL"),
    torch.nn.Conv2d: ("in_channels", "Nx{}xHxW"),
    torch.nn.Conv3d: ("in_channels", "Nx{}xDxHxW"),
}


def expected_layout(module: torch.nn.Module) -> str:
    """What the model's first layer takes, in words for an error message ("" if unknown)."""
    try:
        for m in module.modules():
            for cls, (attr, layout) in _FIRST_LAYERS.items():
                n = getattr(m, attr, 0) if isinstance(m, cls) else 0
                if isinstance(n, int) and n > 0:
                    example = layout.format(n).replace("N", "1", 1).replace("xDxHxW", "x16x64x64") \
                        .replace("xHxW", "x64x64").replace("xL", "x256")
                    return (f"its first layer, {type(m).__name__}, takes {layout.format(n)}: e.g. --input-shape "
                            f"{example}")
    except (Exception, SystemExit):  # a user module whose modules() misbehaves: no hint
        pass
    return ""


def _output_shapes(out: Any) -> list[tuple[int, ...]] | None:
    """One sample's output shapes from a forward pass on a batch of 1 (None if not tensors)."""
    outs = out if isinstance(out, (tuple, list)) else (out,)
    if not outs or not all(isinstance(t, torch.Tensor) and t.dim() >= 1 for t in outs):
        return None
    return [tuple(int(d) for d in t.shape[1:]) for t in outs]


def _forward(src: ModelSource, shape: tuple[int, ...]) -> Any:
    with torch.inference_mode():
        return src.module(torch.zeros((1, *shape)))


def check_input_shape(src: ModelSource, zoo_shape: tuple[int, ...] | None = None) -> None:
    """Refuse an input shape the model cannot take, before anything is exported or allocated:
    the element bound first, then (zoo) the spec's layout, then a forward pass on one zero sample
    (and, with symbolic dims, a second at :func:`second_shape`). Records ``src.output_shapes``."""
    shape = tuple(src.input_shape)
    traced = full = _shape_text((1, *shape))
    if src.dynamic_axes:  # as declared, with the size it is traced at
        full = "x".join(["1", *(src.dynamic_axes.get(i + 1, str(d)) for i, d in enumerate(shape))]) + \
            f" (traced at {traced})"
    if not shape or any(not isinstance(d, int) or d < 1 for d in shape):
        raise InputShapeError(f"bad input shape {full}: every dim must be a positive integer")
    elements, bound = _elements(shape), max_input_elements()
    if elements > bound:
        raise InputShapeError(
            f"input shape {full} has {elements:,} elements per sample, over the limit of {bound:,}; "
            "set EDGE_SDK_MAX_INPUT_ELEMENTS to allow more"
        )
    layout = f"1x{_shape_text(zoo_shape)} (NxCxHxW)" if zoo_shape and len(zoo_shape) == 3 else (
        f"1x{_shape_text(zoo_shape)}" if zoo_shape else "")
    if zoo_shape is not None and (len(shape) != len(zoo_shape) or shape[0] != zoo_shape[0]):
        raise InputShapeError(f"{src.name} takes input {layout}; --input-shape {full} does not match")
    try:
        src.output_shapes = _output_shapes(_forward(src, shape))
    except (Exception, SystemExit) as e:
        hint = f" (it takes {layout})" if layout else ""
        if isinstance(e, SystemExit):
            raise _user_code_error(f"running {src.name} on a zero input of shape {full}", e) from None
        expected = "" if layout else expected_layout(src.module)
        raise InputShapeError(
            f"{src.name} does not accept input shape {full}{hint}: {_first_line(e)}" + (f"; {expected}" if expected
                                                                                           else "")
        ) from None
    if src.dynamic_axes:
        other = _shape_text((1, *second_shape(shape, src.dynamic_axes)))
        try:
            _forward(src, second_shape(shape, src.dynamic_axes))
        except (Exception, SystemExit) as e:
            axes = ", ".join(f"{a} ({n})" for a, n in src.dynamic_axes.items())
            raise InputShapeError(
                f"{src.name} cannot keep input axes {axes} symbolic: it runs at {traced} but not at {other} "
                f"({_first_line(e)}); a model with fixed-size layers (e.g. Linear after Flatten) needs a fixed "
                "--input-shape without --dynamic-axes"
            ) from None


def probe_outputs(src: ModelSource) -> list[tuple[int, ...]]:
    """One sample's output shapes (a forward pass on zeros, once); EdgeSDKError if the outputs are not tensors."""
    if src.output_shapes is None:
        try:
            src.output_shapes = _output_shapes(_forward(src, tuple(src.input_shape)))
        except (Exception, SystemExit) as e:
            raise _user_code_error(f"running {src.name} on a zero input", e) from None
    if src.output_shapes is None:
        raise EdgeSDKError(f"{src.name} must return a tensor or a tuple of tensors to be exported")
    return src.output_shapes
