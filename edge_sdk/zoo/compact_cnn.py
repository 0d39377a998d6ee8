"""compact-cnn: a ~15k-parameter plain CNN (Isong, arXiv 2501.15547), and its 32x32 RGB variant.

The paper confirms the budget (14,862 parameters, 0.17 MB for MNIST; < 20,000 for CIFAR-10), not the
layers. This design uses only ops that export to ONNX and quantize to INT8 cleanly: 3x3 convolutions
without bias, BatchNorm (folded on export), ReLU, 2x2 max pooling, global average pooling, linear layers.

Layout (``variant="mnist"``, 1 x 28 x 28 input, 14,854 parameters)::

    block1  conv3x3 1->16, BN, ReLU; conv3x3 16->16, BN, ReLU; maxpool 2   (28 -> 14)
    block2  conv3x3 16->32, BN, ReLU; maxpool 2                             (14 -> 7)
    block3  conv3x3 32->24, BN, ReLU                                        (7 x 7)
    pool    global average pool -> 24 features
    head    linear 24->20, ReLU, linear 20->10 (logits)

``variant="cifar"`` (3 x 32 x 32, 19,514 parameters) widens block3 to 32 channels and the hidden layer
to 64. The backbone (block1..block3 + pool) is what the two-stage recipe trains as the "sub-model";
``head`` is the "extra layers" added when the sub-models are merged (see edge_sdk.training.compact_cnn).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from edge_sdk.errors import InputError

__all__ = ["VARIANTS", "CompactCNN", "build"]


@dataclass(frozen=True)
class _Variant:
    widths: tuple[int, int, int]  # channels of block1, block2, block3
    hidden: int  # width of the head's hidden layer


VARIANTS: dict[str, _Variant] = {
    "mnist": _Variant(widths=(16, 32, 24), hidden=20),
    "cifar": _Variant(widths=(16, 32, 32), hidden=64),
}


def _conv_bn_relu(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class CompactCNN(nn.Module):
    """Single input (N x C x H x W, any H, W >= 4), single output (N x num_classes logits)."""

    def __init__(self, in_channels: int, num_classes: int, widths: tuple[int, int, int], hidden: int) -> None:
        super().__init__()
        c1, c2, c3 = widths
        self.block1 = nn.Sequential(*_conv_bn_relu(in_channels, c1), *_conv_bn_relu(c1, c1), nn.MaxPool2d(2))
        self.block2 = nn.Sequential(*_conv_bn_relu(c1, c2), nn.MaxPool2d(2))
        self.block3 = nn.Sequential(*_conv_bn_relu(c2, c3))
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1))
        self.head = nn.Sequential(nn.Linear(c3, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, num_classes))
        self.feature_dim = c3
        self.num_classes = num_classes

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The backbone: N x C x H x W -> N x feature_dim."""
        return self.pool(self.block3(self.block2(self.block1(x))))  # type: ignore[no-any-return]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))  # type: ignore[no-any-return]

    def backbone_blocks(self) -> list[nn.Module]:
        """The backbone's trainable blocks, first to last."""
        return [self.block1, self.block2, self.block3]


def build(in_channels: int = 1, num_classes: int = 10, variant: str = "mnist") -> CompactCNN:
    """Build a randomly initialised compact CNN. ``variant``: ``"mnist"`` (28x28) or ``"cifar"`` (32x32)."""
    if variant not in VARIANTS:
        raise InputError(f"unknown compact-cnn variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    v = VARIANTS[variant]
    return CompactCNN(in_channels, num_classes, v.widths, v.hidden)
