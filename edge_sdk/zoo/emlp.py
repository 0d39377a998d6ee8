"""EMLP: the exposure-based MLP of Afifi et al. (ECCV 2024) over the dual-exposure feature.

``Linear(F, hidden) -> ReLU -> Linear(hidden, 3) -> Softplus -> L2 normalise``. The default
15 -> 20 -> 3 has 383 parameters (the paper reports ~354 for its 9-input version). Input: the
15 values of :func:`edge_sdk.awb.features.extract_features` (9 DEF + 6 single-frame chroma
statistics of the long frame), *raw* (unstandardised): the trainer folds the feature
standardisation into the first Linear, so the exported graph is self-contained.

ONNX ops: Gemm, Relu, Gemm, Softplus, then ``y / sqrt(sum(y * y) + 1e-12)`` as
Mul/ReduceSum/Add/Sqrt/Div. Output: the unit-norm camera-RGB illuminant (all components > 0).
"""

from __future__ import annotations

import torch
from torch import nn

from edge_sdk.awb.features import N_FEATURES

DEFAULT_HIDDEN = 20


class EMLP(nn.Module):
    def __init__(self, in_features: int = N_FEATURES, hidden: int = DEFAULT_HIDDEN, out_features: int = 3) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden)
        self.fc2 = nn.Linear(hidden, out_features)
        self.in_features, self.hidden, self.out_features = in_features, hidden, out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = nn.functional.softplus(self.fc2(torch.relu(self.fc1(x))))
        return y / torch.sqrt((y * y).sum(dim=-1, keepdim=True) + 1e-12)

    @torch.no_grad()
    def fold_standardisation(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Make ``self(x)`` equal what ``self((x - mean) / std)`` was: scale/shift the first Linear."""
        w = self.fc1.weight / std[None, :]
        self.fc1.bias.sub_(w @ mean)
        self.fc1.weight.copy_(w)


def build(in_features: int = N_FEATURES, hidden: int = DEFAULT_HIDDEN, out_features: int = 3) -> EMLP:
    """A fresh EMLP; ``(in + 1) * hidden + (hidden + 1) * out`` parameters (383 by default)."""
    return EMLP(in_features, hidden, out_features)


def param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
