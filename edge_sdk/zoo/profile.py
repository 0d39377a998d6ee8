"""Parameter and MAC counts of a model, measured on the meta device (no memory, no real compute).

MACs are torch's FlopCounterMode FLOPs / 2. It counts matrix products and convolutions (including
attention matmuls), not element-wise ops: the convention of fvcore/thop used by the papers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ModelProfile:
    params: int
    macs: int


def profile_module(model: Any, input_shape: tuple[int, ...]) -> ModelProfile:
    """Count the parameters of ``model`` and its MACs for one sample of ``input_shape`` (no batch dim)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    params = sum(p.numel() for p in model.parameters())
    device = next(iter(model.parameters())).device
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.eval()(torch.zeros((1, *input_shape), device=device))
    return ModelProfile(params=params, macs=counter.get_total_flops() // 2)


def profile_model(name: str) -> ModelProfile:
    """Profile a zoo model built on the meta device (fast even for care-s2)."""
    import torch

    from edge_sdk.zoo.registry import get_spec, resolve

    spec = get_spec(name)
    with torch.device("meta"):
        model = resolve(spec.builder)(**spec.config)
    return profile_module(model, spec.input_shape)
