"""What the user asked to convert, resolved to a PyTorch module plus what the bundle must know.

MODEL may be:
  * a zoo name                          ``compact-cnn``
  * a checkpoint + ``arch=ZOO_NAME``    ``my.safetensors`` or a ``torch.save(state_dict)`` file
  * a Python factory                    ``path/to/file.py:make_model`` (returns an ``nn.Module``)
  * a ``torch.export`` program          ``model.pt2``
  * an ``nn.Module`` object (Python API)

What the user declares about it (task, labels, output names, image preprocessing) is checked against the
model by :func:`converters.declarations.declare`, and its input shape by :mod:`converters.input_shapes`
(an :class:`~converters.input_shapes.InputShapeError` names the layout the model expects), before anything
is exported; both travel in the manifest.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from converters.input_shapes import InputShapeError, _shape_text, check_input_shape, split_shape
from converters.user_code import _first_line, _user_code_error
from edge_sdk.errors import EdgeSDKError
from edge_sdk.preprocess import parse_preprocessing
from edge_sdk.zoo import create_model, get_spec
from edge_sdk.zoo.registry import REGISTRY
from edge_sdk.zoo.weights import load_into, read_state_dict
from runtimes.manifest import sha256_file


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


def _state_sha(module: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for k, v in module.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


ARCHITECTURE_SEED = 0  # zoo models without shipped weights are built with this seed, so the same each time


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
        with torch.random.fork_rng(devices=[]):  # architecture only: the seed the manifest records (validate too)
            torch.manual_seed(ARCHITECTURE_SEED)
            module = create_model(name, pretrained=spec.ships_weights)
        source = {"kind": "zoo", "name": name, "pretrained": spec.ships_weights}
        sha = sha256_file(spec.weights_path) if spec.ships_weights else _state_sha(module)
        if not spec.ships_weights:
            source["seed"] = ARCHITECTURE_SEED
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
