"""Building blocks of the CARE Transformer (CVPR 2025, arXiv 2411.16170), written from the paper's
description (our own implementation; see ``edge_sdk.zoo.care`` for the network and its variants).

Everything is channels-first (NCHW) and deployment-friendly: no in-place ops, attention is explicit
``matmul``/``mean``/``div`` with static head counts, DropPath is the identity at eval time.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

ATTN_EPS = 1e-6


def feature_map(x: torch.Tensor) -> torch.Tensor:
    """The linear-attention kernel feature map phi(x) = ELU(x) + 1 (strictly positive)."""
    return F.elu(x) + 1.0


class DropPath(nn.Module):
    """Stochastic depth per sample while training; the identity in eval mode (and in exports)."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p <= 0.0:
            return x
        keep = 1.0 - self.p
        mask = torch.rand((x.shape[0],) + (1,) * (x.ndim - 1), dtype=x.dtype, device=x.device) < keep
        return x * mask.to(x.dtype) / keep

    def extra_repr(self) -> str:
        return f"p={self.p}"


class LinearAttention(nn.Module):
    """Multi-head linear attention over the g channels of the global branch (stages 3-4).

    q, k come from one 1x1 conv (g -> 2g); v is the branch input itself. Per head (dim ``head_dim``),
    with N = H*W tokens and phi = ELU + 1::

        out = phi(q) . (phi(k)^T v / N)  /  (phi(q) . mean_N phi(k) + 1e-6)

    Computed channels-first in O(N d^2): ``kv = v @ phi(k)^T / N`` (d x d per head), then
    ``kv @ phi(q)`` and ``mean_N(phi(k))^T @ phi(q)``, all plain matmuls (counted as MACs).
    """

    def __init__(self, dim: int, head_dim: int) -> None:
        super().__init__()
        if dim % head_dim:
            raise ValueError(f"linear attention: {dim} channels are not a multiple of head dim {head_dim}")
        self.dim, self.head_dim, self.heads = dim, head_dim, dim // head_dim
        self.qk = nn.Conv2d(dim, 2 * dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        q, k = torch.chunk(self.qk(x), 2, dim=1)
        # (B, C, H, W) -> (B, heads, d, N); head count and head dim are static
        q = feature_map(q).reshape(b, self.heads, self.head_dim, -1)
        k = feature_map(k).reshape(b, self.heads, self.head_dim, -1)
        v = x.reshape(b, self.heads, self.head_dim, -1)
        n = q.shape[-1]
        kv = torch.matmul(v, k.transpose(-1, -2)) / n  # (B, h, d_v, d_k)
        num = torch.matmul(kv, q)  # (B, h, d_v, N)
        k_mean = torch.mean(k, dim=-1, keepdim=True).transpose(-1, -2)  # (B, h, 1, d_k)
        den = torch.matmul(k_mean, q) + ATTN_EPS  # (B, h, 1, N)
        return (num / den).reshape(x.shape)


class AxialDWConv(nn.Module):
    """Global branch of stages 1-2: depthwise 11x1 then 1x11 convolution (large receptive field)."""

    def __init__(self, dim: int, kernel: int = 11) -> None:
        super().__init__()
        pad = kernel // 2
        self.vertical = nn.Conv2d(dim, dim, (kernel, 1), padding=(pad, 0), groups=dim)
        self.horizontal = nn.Conv2d(dim, dim, (1, kernel), padding=(0, pad), groups=dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.horizontal(self.vertical(x))
        return out


class Interaction(nn.Module):
    """BatchNorm -> 1x1 expand (x ratio) -> GELU -> depthwise 3x3 -> 1x1 back. The caller adds the residual."""

    def __init__(self, dim: int, ratio: int) -> None:
        super().__init__()
        hidden = dim * ratio
        self.norm = nn.BatchNorm2d(dim)
        self.expand = nn.Conv2d(dim, hidden, 1)
        self.act = nn.GELU()
        self.dw = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        self.project = nn.Conv2d(hidden, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.project(self.dw(self.act(self.expand(self.norm(x)))))
        return out


class CareBlock(nn.Module):
    """One CARE block of width C = 4g.

    Asymmetric decoupling: the input splits into four groups of g channels, in this order:
    memory Z | global branch | local depthwise 3x3 | local depthwise 7x7. The global branch is
    ``AxialDWConv`` (``attention=False``, stages 1-2) or ``LinearAttention`` (stages 3-4).

    Dual interaction: ``y = cat(global, local3, local7)`` (3g), ``y = y + Inter1(y)`` (ratio r1);
    ``w = cat(Z, y)`` (C), ``w = w + Inter2(w)`` (ratio r2); output ``x + DropPath(gamma * w)`` with a
    per-channel layer scale gamma initialised to 1e-6.

    Dynamic memory: the memory is carried *inside* the tensor. The first g channels of this block's
    output are the next block's memory Z (``memory_channels`` = g).
    """

    def __init__(
        self,
        dim: int,
        memory: int,
        r1: int,
        r2: int,
        attention: bool,
        head_dim: int = 16,
        drop_path: float = 0.0,
        layer_scale: float = 1e-6,
    ) -> None:
        super().__init__()
        if dim != 4 * memory:
            raise ValueError(f"CARE block width {dim} must be 4 x memory width {memory}")
        g = memory
        self.memory_channels = g
        self.global_branch: nn.Module = LinearAttention(g, head_dim) if attention else AxialDWConv(g)
        self.local3 = nn.Conv2d(g, g, 3, padding=1, groups=g)
        self.local7 = nn.Conv2d(g, g, 7, padding=3, groups=g)
        self.inter1 = Interaction(3 * g, r1)
        self.inter2 = Interaction(dim, r2)
        self.gamma = nn.Parameter(torch.full((dim, 1, 1), float(layer_scale)))
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = self.memory_channels
        z, xg, x3, x7 = torch.split(x, [g, g, g, g], dim=1)
        y: torch.Tensor = torch.cat([self.global_branch(xg), self.local3(x3), self.local7(x7)], dim=1)
        y = y + self.inter1(y)
        w = torch.cat([z, y], dim=1)
        w = w + self.inter2(w)
        out: torch.Tensor = x + self.drop_path(self.gamma * w)
        return out
