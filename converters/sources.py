"""What the user asked to convert, resolved to a PyTorch module plus what the bundle must know.

MODEL may be:
  * a zoo name                          ``compact-cnn``
  * a checkpoint + ``arch=ZOO_NAME``    ``my.safetensors`` or a ``torch.save(state_dict)`` file
  * a Python factory                    ``path/to/file.py:make_model`` (returns an ``nn.Module``)
  * a ``torch.export`` program          ``model.pt2``
  * an ``nn.Module`` object (Python API)
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from edge_sdk.errors import EdgeSDKError
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


def parse_shape(text: str) -> tuple[int, ...]:
    """``1x3x224x224`` or ``1,3,224,224`` -> (1, 3, 224, 224). The first dim is the batch."""
    try:
        dims = tuple(int(d) for d in text.replace(",", "x").lower().split("x") if d)
    except ValueError:
        raise EdgeSDKError(f"bad input shape {text!r}: expected NxCxHxW, e.g. 1x3x224x224") from None
    if len(dims) < 2 or any(d < 1 for d in dims):
        raise EdgeSDKError(f"bad input shape {text!r}: expected a batch and at least one positive dim")
    return dims


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
    return ModelSource(
        module=module.eval(), name=name, task=spec.task, input_shape=spec.input_shape, source=source,
        source_sha256=sha, preprocessing=preprocessing, labels=list(spec.labels), zoo_name=name,
    )


def from_factory(target: str, input_shape: tuple[int, ...] | None) -> ModelSource:
    path_text, _, attr = target.rpartition(":")
    path = Path(path_text)
    if not path.is_file():
        raise EdgeSDKError(f"model file not found: {path}")
    if input_shape is None:
        raise EdgeSDKError(f"{target}: a model from a Python file needs --input-shape (e.g. 1x3x224x224)")
    mod_name = f"_edge_sdk_user_{hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise EdgeSDKError(f"cannot import {path} as a Python module")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = mod
    try:
        spec.loader.exec_module(mod)
    except (Exception, SystemExit) as e:  # SyntaxError, RecursionError, sys.exit() at import, ...
        sys.modules.pop(mod_name, None)
        raise _user_code_error(f"importing {path}", e) from None
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


def check_input_shape(src: ModelSource, zoo_shape: tuple[int, ...] | None = None) -> None:
    """Refuse an input shape the model cannot take, before anything is exported or allocated:
    the element bound first, then (zoo) the spec's layout, then a forward pass on one zero sample."""
    shape = tuple(src.input_shape)
    full = _shape_text((1, *shape))
    if not shape or any(not isinstance(d, int) or d < 1 for d in shape):
        raise EdgeSDKError(f"bad input shape {full}: every dim must be a positive integer")
    elements, bound = 1, max_input_elements()
    for d in shape:
        elements *= d
    if elements > bound:
        raise EdgeSDKError(
            f"input shape {full} has {elements:,} elements per sample, over the limit of {bound:,}; "
            "set EDGE_SDK_MAX_INPUT_ELEMENTS to allow more"
        )
    layout = f"1x{_shape_text(zoo_shape)} (NxCxHxW)" if zoo_shape and len(zoo_shape) == 3 else (
        f"1x{_shape_text(zoo_shape)}" if zoo_shape else "")
    if zoo_shape is not None and (len(shape) != len(zoo_shape) or shape[0] != zoo_shape[0]):
        raise EdgeSDKError(f"{src.name} takes input {layout}; --input-shape {full} does not match")
    try:
        with torch.inference_mode():
            src.module(torch.zeros((1, *shape)))
    except (Exception, SystemExit) as e:
        hint = f" (it takes {layout})" if layout else ""
        if isinstance(e, SystemExit):
            raise _user_code_error(f"running {src.name} on a zero input of shape {full}", e) from None
        raise EdgeSDKError(
            f"{src.name} does not accept input shape {full}{hint}: {_first_line(e)}"
        ) from None


def resolve_model(
    model: str | Path | torch.nn.Module,
    *,
    arch: str | None = None,
    input_shape: tuple[int, ...] | None = None,
) -> ModelSource:
    """Turn any accepted MODEL into a :class:`ModelSource`. ``input_shape`` includes the batch dim.

    A shape given here is checked before anything is exported (see :func:`check_input_shape`).
    """
    if input_shape is not None and (len(input_shape) < 2 or any(
            isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in input_shape)):
        raise EdgeSDKError(f"bad input shape {input_shape!r}: expected a batch and at least one positive dim")
    src = _resolve(model, arch, input_shape)
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
