"""Model zoo: specs as data (torch-free) and a lazy factory."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from edge_sdk.errors import MissingDependencyError, WeightsError
from edge_sdk.zoo.registry import REGISTRY, ModelSpec, get_spec, list_models, resolve

if TYPE_CHECKING:
    import torch

__all__ = ["REGISTRY", "ModelSpec", "create_model", "get_spec", "list_models"]


def _require_torch(purpose: str) -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise MissingDependencyError("torch", "host", purpose) from None


def create_model(name: str, pretrained: bool = True, **overrides: Any) -> torch.nn.Module:
    """Build a zoo model (in eval mode). ``pretrained=True`` loads the shipped safetensors weights.

    Architecture-only models (``care-s0/s1/s2``, ``compact-cnn-cifar``) have no shipped weights:
    ask for them with ``pretrained=False``.
    """
    spec = get_spec(name)
    _require_torch(f"creating model {name!r}")
    model: torch.nn.Module = resolve(spec.builder)(**{**spec.config, **overrides})
    if pretrained:
        if not spec.ships_weights:
            raise WeightsError(
                f"{name!r} ships no trained weights ({spec.description}). "
                f"Use create_model({name!r}, pretrained=False) for a randomly initialised model"
                + (f", or train it with: edge-sdk train {name}" if spec.trainer else ".")
            )
        if not spec.weights_path.is_file():
            raise WeightsError(
                f"shipped weights for {name!r} are missing ({spec.weights_path}); "
                f"reproduce them with: edge-sdk train {name}"
            )
        from edge_sdk.zoo.weights import load_into, read_state_dict

        load_into(model, read_state_dict(spec.weights_path), source=f"weights of {name!r}")
    return model.eval()
