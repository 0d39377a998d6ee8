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
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from edge_sdk.errors import EdgeSDKError, WeightsError
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
    return ModelSource(
        module=module.eval(), name=name, task=spec.task, input_shape=spec.input_shape, source=source,
        source_sha256=sha, preprocessing=dict(spec.preprocessing), labels=list(spec.labels), zoo_name=name,
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
    except Exception as e:
        raise EdgeSDKError(f"importing {path} failed: {type(e).__name__}: {e}") from e
    factory = getattr(mod, attr, None)
    if not callable(factory):
        raise EdgeSDKError(f"{path} has no callable {attr!r}")
    module = factory()
    if not isinstance(module, torch.nn.Module):
        raise EdgeSDKError(f"{target} returned {type(module).__name__}, not a torch.nn.Module")
    return ModelSource(
        module=module.eval(), name=path.stem, task="generic", input_shape=input_shape[1:],
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
    try:
        ep = torch.export.load(str(path))
    except Exception as e:
        raise WeightsError(f"{path} is not a readable torch.export program: {type(e).__name__}: {e}") from None
    placeholders = [n for n in ep.graph.nodes if n.op == "placeholder" and n.name in ep.graph_signature.user_inputs]
    val = placeholders[0].meta.get("val") if len(placeholders) == 1 else None
    if val is None:
        raise EdgeSDKError(f"{path}: expected a program with exactly one tensor input")
    if isinstance(val.shape[0], int):
        raise EdgeSDKError(
            f"{path} was exported with a fixed batch of {val.shape[0]}; bundles need a dynamic batch. Re-export with "
            "torch.export.export(model, (x,), dynamic_shapes=({0: torch.export.Dim('batch')},))"
        )
    if input_shape is None:
        args = ep.example_inputs[0] if ep.example_inputs else ()
        if not args or not isinstance(args[0], torch.Tensor):
            raise EdgeSDKError(f"{path}: cannot infer the input shape; pass --input-shape")
        input_shape = tuple(args[0].shape)
    return ModelSource(
        module=_ExportedModule(ep.module()), name=path.stem, task="generic", input_shape=input_shape[1:],
        source={"kind": "exported-program", "path": str(path.resolve())}, source_sha256=sha256_file(path),
    )


def from_module(module: torch.nn.Module, input_shape: tuple[int, ...], name: str | None = None) -> ModelSource:
    return ModelSource(
        module=module.eval(), name=name or type(module).__name__.lower(), task="generic",
        input_shape=tuple(input_shape), source={"kind": "python-object", "class": type(module).__qualname__},
        source_sha256=_state_sha(module),
    )


def resolve_model(
    model: str | Path | torch.nn.Module,
    *,
    arch: str | None = None,
    input_shape: tuple[int, ...] | None = None,
) -> ModelSource:
    """Turn any accepted MODEL into a :class:`ModelSource`. ``input_shape`` includes the batch dim."""
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
        src.input_shape = input_shape[1:]
    return src
