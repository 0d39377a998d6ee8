"""What the user asked to convert, resolved to a PyTorch module plus what the bundle must know.

MODEL may be:
  * a zoo name                          ``compact-cnn``
  * a checkpoint + ``arch=ZOO_NAME``    ``my.safetensors`` or a ``torch.save(state_dict)`` file
  * a Python factory                    ``path/to/file.py:make_model`` (returns an ``nn.Module``)
  * a ``torch.export`` program          ``model.pt2``
  * an ``nn.Module`` object (Python API)

What the user declares about it (task, labels, output names, image preprocessing: :func:`declare`) is
checked here against the model itself, before anything is exported, and travels in the manifest.
An input shape that does not fit is an :class:`InputShapeError` naming the layout the model expects.
"""

from __future__ import annotations

import hashlib
import os
import re
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from edge_sdk.errors import EdgeSDKError, InputError
from edge_sdk.preprocess import TASKS, ImagePreprocessing, declare_image, parse_preprocessing
from edge_sdk.zoo import create_model, get_spec
from edge_sdk.zoo.registry import REGISTRY
from edge_sdk.zoo.weights import load_into, read_state_dict
from runtimes.manifest import SCORES, sha256_file


@dataclass
class ModelSource:
    module: torch.nn.Module
    name: str
    task: str  # "classification" | "illuminant-estimation" | "generic"
    input_shape: tuple[int, ...]  # one sample, no batch dim
    source: dict[str, Any]  # how to rebuild the reference model (goes in the manifest)
    source_sha256: str
    preprocessing: dict[str, Any] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)
    zoo_name: str | None = None  # the zoo spec whose data/budgets apply
    dynamic_axes: dict[int, str] = field(default_factory=dict)  # input axis (> 0) -> symbolic name; batch always
    output_names: list[str] | None = None  # declared, in forward() order; None: output / output0, output1, ...
    task_output: str = ""  # the output the task's pipeline reads (a classifier's logits); "" = the first
    scores: str = ""  # what a classifier's task output holds (runtimes.manifest.SCORES); "" = logits
    output_shapes: list[tuple[int, ...]] | None = None  # one sample's output shapes, from a probe forward pass


class InputShapeError(InputError):
    """An input shape that is written wrongly or does not fit the model; raised before anything is exported."""


# Largest input one sample may have (elements), checked before anything is allocated. 2**24 floats are
# 64 MiB, e.g. 3x2048x2048. Raise it with EDGE_SDK_MAX_INPUT_ELEMENTS=N (environment) if you mean it.
MAX_INPUT_ELEMENTS = 1 << 24


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0][:300]}" if text else type(e).__name__


def _user_code_error(what: str, e: BaseException) -> EdgeSDKError:
    """A user module or factory failed: one line naming it, whatever it raised (sys.exit included)."""
    if isinstance(e, SystemExit):
        return EdgeSDKError(f"{what} called sys.exit({e.code!r}); a model file must not exit the program")
    return EdgeSDKError(f"{what} failed: {_first_line(e)}")


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


def _state_sha(module: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for k, v in module.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


class ArchitectureOnlyWarning(UserWarning):
    """A zoo model without shipped weights is being exported with random weights."""


def from_zoo(name: str, weights: Path | None = None) -> ModelSource:
    spec = get_spec(name)
    if weights is not None:
        module = create_model(name, pretrained=False)
        load_into(module, read_state_dict(weights), source=str(weights))
        source: dict[str, Any] = {"kind": "checkpoint", "arch": name, "path": str(Path(weights).resolve())}
        sha = sha256_file(weights)
    else:
        module = create_model(name, pretrained=spec.ships_weights)
        source = {"kind": "zoo", "name": name, "pretrained": spec.ships_weights}
        sha = sha256_file(spec.weights_path) if spec.ships_weights else _state_sha(module)
        if not spec.ships_weights:
            source["seed"] = 0
            warnings.warn(f"{name} ships no trained weights: exporting the architecture with seeded random weights "
                          "(good for conversion and latency checks, not for predictions); give trained weights "
                          f"with: edge-sdk export WEIGHTS.safetensors --arch {name}", ArchitectureOnlyWarning,
                          stacklevel=2)
    preprocessing = dict(spec.preprocessing)
    if spec.task == "illuminant-estimation":  # the sensor the weights were trained for (levels, curve hash)
        from edge_sdk.data.sensors import sensor_of_weights

        preprocessing["sensor"] = sensor_of_weights(weights if weights is not None else spec.weights_path)
    typed = parse_preprocessing(preprocessing)  # the zoo's spec in the manifest's schema, with its kind
    return ModelSource(
        module=module.eval(), name=name, task=spec.task, input_shape=spec.input_shape, source=source,
        source_sha256=sha, preprocessing=typed.to_json() if typed else {}, labels=list(spec.labels), zoo_name=name,
    )


def from_factory(target: str, input_shape: tuple[int, ...] | None) -> ModelSource:
    path_text, _, attr = target.rpartition(":")
    path = Path(path_text)
    if not path.is_file():
        raise EdgeSDKError(f"model file not found: {path}")
    if input_shape is None:
        raise EdgeSDKError(f"{target}: a model from a Python file needs --input-shape (e.g. 1x3x224x224)")
    from converters.user_metric import import_user_file

    mod = import_user_file(path, "_edge_sdk_user_", _user_code_error)
    factory = getattr(mod, attr, None)
    if not callable(factory):
        raise EdgeSDKError(f"{path} has no callable {attr!r}")
    try:
        module = factory()
    except (Exception, SystemExit) as e:
        hint = " (the factory must take no arguments)" if isinstance(e, TypeError) and "argument" in str(e) else ""
        raise EdgeSDKError(f"{_user_code_error(f'calling {target}()', e)}{hint}") from None
    if not isinstance(module, torch.nn.Module):
        raise EdgeSDKError(f"{target} returned {_describe(module)}, not a torch.nn.Module")
    return ModelSource(
        module=_eval(module, f"{target}()"), name=path.stem, task="generic", input_shape=input_shape[1:],
        source={"kind": "factory", "path": str(path.resolve()), "factory": attr},
        source_sha256=sha256_file(path),
    )


class _ExportedModule(torch.nn.Module):
    """Wraps ``ExportedProgram.module()``, which refuses ``.eval()``/``.train()`` (it is already
    an inference graph), so it can be handled like any other module."""

    def __init__(self, graph_module: torch.nn.Module) -> None:
        super().__init__()
        self.graph_module = graph_module

    def train(self, mode: bool = True) -> _ExportedModule:
        return self

    def forward(self, x: torch.Tensor) -> Any:
        return self.graph_module(x)


def from_exported_program(path: Path, input_shape: tuple[int, ...] | None) -> ModelSource:
    from converters.pt2 import load_exported_program

    ep = load_exported_program(path)  # refuses anything in the archive that could run code
    placeholders = [n for n in ep.graph.nodes if n.op == "placeholder" and n.name in ep.graph_signature.user_inputs]
    val = placeholders[0].meta.get("val") if len(placeholders) == 1 else None
    if not isinstance(val, torch.Tensor) or val.dim() < 1:
        raise EdgeSDKError(f"{path}: expected a program with exactly one tensor input")
    if isinstance(val.shape[0], int):
        raise EdgeSDKError(
            f"{path} was exported with a fixed batch of {val.shape[0]}; bundles need a dynamic batch. Re-export with "
            "torch.export.export(model, (x,), dynamic_shapes=({0: torch.export.Dim('batch')},))"
        )
    expected = tuple(int(d) if isinstance(d, int) else None for d in val.shape[1:])
    if input_shape is None:
        if None in expected:
            raise EdgeSDKError(f"{path}: the program has dynamic dims besides the batch; pass --input-shape")
        input_shape = (1, *(int(d) for d in expected if d is not None))
    elif len(input_shape) - 1 != len(expected) or any(e not in (None, d) for e, d in zip(expected, input_shape[1:])):
        layout = "x".join(["N", *("?" if e is None else str(e) for e in expected)])
        raise EdgeSDKError(f"{path} takes input {layout}; --input-shape {_shape_text(input_shape)} does not match")
    try:
        graph_module = ep.module(check_guards=False)  # the archive's guard code is not run
    except Exception as e:
        raise EdgeSDKError(f"{path}: cannot build the module: {_first_line(e)}") from None
    return ModelSource(
        module=_ExportedModule(graph_module), name=path.stem, task="generic", input_shape=tuple(input_shape[1:]),
        source={"kind": "exported-program", "path": str(path.resolve())}, source_sha256=sha256_file(path),
    )


def from_module(module: torch.nn.Module, input_shape: tuple[int, ...], name: str | None = None) -> ModelSource:
    return ModelSource(
        module=_eval(module, type(module).__name__), name=name or type(module).__name__.lower(), task="generic",
        input_shape=tuple(input_shape), source={"kind": "python-object", "class": type(module).__qualname__},
        source_sha256=_state_sha(module),
    )


def _describe(obj: object) -> str:
    """``type (repr)`` of a user object, short, even if its ``__repr__`` misbehaves."""
    try:
        shown = repr(obj)
    except (Exception, SystemExit):
        return type(obj).__name__
    return f"{type(obj).__name__} ({shown if len(shown) <= 60 else shown[:57] + '...'})"


def _eval(module: torch.nn.Module, what: str) -> torch.nn.Module:
    try:
        module.eval()
    except (Exception, SystemExit) as e:
        raise _user_code_error(f"{what}.eval()", e) from None
    return module


def _shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


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


def resolve_model(
    model: str | Path | torch.nn.Module,
    *,
    arch: str | None = None,
    input_shape: Sequence[int | str] | None = None,
    dynamic_axes: Iterable[int] | Mapping[int, str | None] | None = None,
) -> ModelSource:
    """Turn any accepted MODEL into a :class:`ModelSource`. ``input_shape`` includes the batch dim; a name in it
    (``(1, 3, "H", "W")``) or an axis in ``dynamic_axes`` is a symbolic dim (:func:`split_shape`).

    A shape given here is checked before anything is exported (see :func:`check_input_shape`).
    """
    example, axes = split_shape(input_shape, dynamic_axes) if input_shape is not None else (None, {})
    if dynamic_axes and input_shape is None:
        raise InputShapeError("dynamic axes need an input shape to trace the model at, e.g. --input-shape 1x3x64x64 "
                              "--dynamic-axes 2,3 (or write them in it: --input-shape 1x3xHxW)")
    src = _resolve(model, arch, example)
    src.dynamic_axes = axes
    if input_shape is not None or src.zoo_name is None:
        spec_shape = get_spec(src.zoo_name).input_shape if src.zoo_name else None
        check_input_shape(src, spec_shape)
    return src


# --- what the user declares at export --------------------------------------------------------------------------

TASK_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
MAX_LABELS = 100_000
MAX_LABELS_BYTES = 16 << 20
MAX_LABEL_CHARS = 256


def read_labels(path: str | os.PathLike[str]) -> list[str]:
    """Class names from a text file, one per line (blank lines skipped, spaces around a name stripped)."""
    p = Path(path)
    try:
        if not p.is_file():
            raise EdgeSDKError(f"--labels {p}: not a file (give a text file with one class name per line)")
        if p.stat().st_size > MAX_LABELS_BYTES:
            raise EdgeSDKError(f"--labels {p}: over {MAX_LABELS_BYTES >> 20} MiB; not a labels file")
        text = p.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise EdgeSDKError(f"--labels {p}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise EdgeSDKError(f"--labels {p}: not UTF-8 text") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def _check_labels(labels: Any) -> list[str]:
    if isinstance(labels, (str, os.PathLike)):
        labels = read_labels(labels)
    if not isinstance(labels, (list, tuple)) or not labels:
        raise EdgeSDKError(f"labels must be a non-empty list of class names or a file with one per line, got "
                           f"{type(labels).__name__}")
    if len(labels) > MAX_LABELS:
        raise EdgeSDKError(f"{len(labels):,} labels, over the limit of {MAX_LABELS:,}")
    for i, lab in enumerate(labels):
        if not isinstance(lab, str) or not lab.strip() or "\n" in lab or len(lab) > MAX_LABEL_CHARS:
            raise EdgeSDKError(f"label {i} ({lab!r:.40}) must be a non-empty one-line string of at most "
                               f"{MAX_LABEL_CHARS} characters")
    return [lab.strip() for lab in labels]


def _check_output_names(names: Any, count: int) -> list[str]:
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",")]
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) and _DIM_NAME.fullmatch(n) for n in names):
        raise EdgeSDKError(f"output names must be identifiers (letters, digits, _), got {names!r:.100}")
    if len(names) != count:
        raise EdgeSDKError(f"{len(names)} output names ({', '.join(names)}) for a model with {count} output"
                           f"{'s' if count != 1 else ''} (its forward() returns {count})")
    dup = sorted({n for n in names if names.count(n) > 1} | ({"input"} & set(names)))
    if dup:
        raise EdgeSDKError(f"output name {dup[0]!r} is used twice (or is the input's name); give each its own")
    return list(names)


def declare(
    src: ModelSource,
    *,
    task: str | None = None,
    labels: Sequence[str] | str | os.PathLike[str] | None = None,
    preprocessing: Mapping[str, Any] | ImagePreprocessing | None = None,
    output_names: Sequence[str] | str | None = None,
    task_output: str | None = None,
    scores: str | None = None,
    log: Callable[[str], None] | None = None,
) -> None:
    """Check what the user declares about ``src`` against the model (one probe forward pass) and record it.

    * ``task``: free-form name (``[a-z0-9._-]``); :data:`edge_sdk.preprocess.TASKS` lists those the pipelines know.
    * ``output_names``: one per output, in forward() order (default ``output`` / ``output0``, ``output1``, ...).
    * ``task_output``: the output the task's pipeline reads (a classifier's logits); default the first. A
      classification output must be batch x classes, and ``labels`` must have one name per class.
    * ``scores``: what a classifier's task output holds, ``logits`` (default: Classifier applies softmax) or
      ``probabilities`` (a model ending in softmax: used as they are).
    * ``preprocessing``: image fields (:class:`~edge_sdk.preprocess.ImagePreprocessing`, plus ``input_range``);
      unset ones default from the input shape. An image task (classification, detection, ...) on an
      image-shaped input gets the defaults even if nothing is declared, and says so in ``log``.
    """
    from converters.onnx_export import default_output_names

    say = log or (lambda _m: None)
    if task is not None:
        if not isinstance(task, str) or not TASK_NAME.fullmatch(task):
            raise EdgeSDKError(f"task {task!r:.80} must be a short lower-case name ({', '.join(TASKS)} or your own, "
                               "letters, digits, . _ -)")
        src.task = task
    classification = src.task == "classification"
    if scores is not None:
        if scores not in SCORES:
            raise EdgeSDKError(f"scores {scores!r:.40} must be {' or '.join(SCORES)}")
        if not classification:
            raise EdgeSDKError(f"--scores says what a classifier's output holds; the task is {src.task!r} "
                               "(add --task classification)")
        src.scores = scores
    probe = classification or output_names is not None or task_output is not None or labels is not None
    shapes = probe_outputs(src) if probe else (src.output_shapes or [])
    if output_names is not None:
        src.output_names = _check_output_names(output_names, len(shapes))
    names = src.output_names or default_output_names(len(shapes))
    if task_output is not None:
        if task_output not in names:
            raise EdgeSDKError(f"task output {task_output!r} is not one of the outputs ({', '.join(names)})")
        src.task_output = task_output
    elif len(names) > 1:
        src.task_output = names[0]
    which = src.task_output or (names[0] if names else "")
    out = shapes[names.index(which)] if shapes else None
    if out is not None and classification and len(out) != 1:
        raise EdgeSDKError(
            f"a classifier's output must be batch x classes (the logits), but output {which!r} is "
            f"Nx{_shape_text(out)}" + ("; name the logits output with --task-output" if len(names) > 1 else ""))
    if labels is not None:
        src.labels = _check_labels(labels)
        if out is not None and classification and len(src.labels) != out[0]:
            raise EdgeSDKError(f"{len(src.labels)} labels for output {which!r} with {out[0]} classes; give one "
                               "name per class")
    _declare_preprocessing(src, preprocessing, say)


def _declare_preprocessing(src: ModelSource, declared: Mapping[str, Any] | ImagePreprocessing | None,
                           say: Callable[[str], None]) -> None:
    if isinstance(declared, ImagePreprocessing):
        declared = declared.to_json()
    fields = {k: v for k, v in (declared or {}).items() if v is not None and k != "kind"}
    sample = tuple(None if axis + 1 in src.dynamic_axes else d for axis, d in enumerate(src.input_shape))
    if fields:
        base = {k: v for k, v in src.preprocessing.items() if k not in ("kind", "size")} \
            if src.preprocessing.get("kind") == "image" else {}
        spec = declare_image({**base, **fields}, sample)
        say(f"preprocessing: {spec.describe()}")
    elif src.zoo_name is None and TASKS.get(src.task) == "image" and len(sample) == 3 and sample[0] in (1, 3):
        spec = declare_image({}, sample)
        say(f"preprocessing (defaults for task {src.task}; declare --color, --scale, --mean, --std, --resize if the "
            f"model was trained otherwise): {spec.describe()}")
    else:
        return
    src.preprocessing = spec.to_json()


def _resolve(model: str | Path | torch.nn.Module, arch: str | None, input_shape: tuple[int, ...] | None) -> ModelSource:
    if isinstance(model, torch.nn.Module):
        if input_shape is None:
            raise EdgeSDKError("exporting an nn.Module needs input_shape (or example_input)")
        return from_module(model, input_shape[1:])
    text = str(model)
    if text in REGISTRY:
        src = from_zoo(text)
    elif text.endswith(".pt2"):
        return from_exported_program(Path(text), input_shape)
    elif ".py:" in text:
        return from_factory(text, input_shape)
    elif Path(text).suffix in (".safetensors", ".pt", ".pth", ".bin", ".ckpt"):
        if arch is None:
            raise EdgeSDKError(f"{text}: a checkpoint needs --arch ZOO_NAME (see: edge-sdk models)")
        src = from_zoo(arch, weights=Path(text))
    elif "/" in text or "." in text:
        raise EdgeSDKError(
            f"cannot convert {text!r}: MODEL must be a zoo name, a checkpoint (.safetensors/.pt/.pth with --arch), "
            "a Python factory (file.py:function) or a torch.export program (.pt2)"
        )
    else:
        get_spec(text)  # raises UnknownModelError with close names
        raise AssertionError("unreachable")
    if input_shape is not None:
        src.input_shape = tuple(input_shape[1:])
    return src
