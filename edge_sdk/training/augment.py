"""Batch image augmentation in torch: random rotation, zoom, translation and brightness.

These are the four augmentations of the compact-CNN paper (arXiv 2501.15547), applied per sample
with one affine warp, drawn from an explicit generator so training is reproducible from a seed.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def random_affine(
    x: torch.Tensor,
    gen: torch.Generator,
    *,
    degrees: float = 12.0,
    zoom: float = 0.12,
    translate: float = 0.1,
    brightness: float = 0.2,
) -> torch.Tensor:
    """Augment an NCHW float batch in [0, 1]; returns a new tensor of the same shape."""
    import torch
    import torch.nn.functional as F

    n = x.shape[0]

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, generator=gen)

    angle = uniform(-degrees, degrees) * math.pi / 180
    scale = uniform(1 - zoom, 1 + zoom)
    tx, ty = uniform(-translate, translate) * 2, uniform(-translate, translate) * 2
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    gain = uniform(1 - brightness, 1 + brightness).view(n, 1, 1, 1)
    return (out * gain).clamp(0, 1)
