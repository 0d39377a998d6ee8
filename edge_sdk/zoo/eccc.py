"""ECCC and CCC: convolutional colour constancy (Barron, ICCV 2015) over log-chroma histograms, with the
bias steered by the dual-exposure feature (ECCC, Afifi et al., ECCV 2024) or without it (CCC, the ablation).

Input: one flat float32 vector, :func:`edge_sdk.awb.histogram.histogram_features` (see its module doc for
the histograms, the window and why it is centred on the frame's gray-world chroma)::

    [pixel histogram (B x B), edge histogram (B x B), centre (u, v)]           CCC,  2 B^2 + 2
    [pixel histogram (B x B), edge histogram (B x B), centre (u, v), DEF (9)]  ECCC, 2 B^2 + 11

Network (our reading of the paper; unconfirmed details decided here):

* **Filters**: one learned B x B filter per histogram (2 B^2 parameters), applied as a *wrap-around*
  correlation on the B x B grid (toroidal, as in Barron's FFCC): ``score[i] = sum_c sum_k
  hist_c[(i + k - B/2) mod B] * F_c[k]``. A full-size filter sees the whole window. Wrap-around rather
  than zero padding because the training computes it by FFT at size B, ~10x cheaper than at 2B.
* **Bias**: ``K`` (:data:`N_MAPS` = 4) learned B x B bias maps, mixed per frame with weights
  ``softmax(Linear(s))``, where ``s`` is the steering input: the DEF (9) and the window centre (2) for ECCC,
  the centre alone for CCC. "A bias interpolated from learnable bias maps with weights driven by the DEF";
  the centre is there because the window moves with the frame's gray world, so the maps are priors on the
  illuminant's offset from gray world and the centre says where that offset starts.
* **Estimate**: ``P = softmax(score + bias)`` over the B^2 bins; the expected (u, v) offset ``sum P * bin
  centre`` plus the centre is the illuminant's log-chroma, returned as the unit-norm camera RGB
  ``(exp(-u), 1, exp(-v)) / norm`` (all components > 0).

Parameters at B = 32, K = 4: filters 2,048 + bias maps 4,096 + steering ``(11 + 1) * 4`` = 6,192 (ECCC;
the paper reports ~6,156) and ``(2 + 1) * 4`` = 6,156 (CCC). The steering Linear takes raw inputs: the
trainer folds the input standardisation into it (:meth:`ECCC.fold_standardisation`), like EMLP's.

ONNX: Slice/Reshape, Slice + Concat (wrap padding) + Conv (the 2-channel B x B correlation, ~2 M MACs at
B = 32), Gemm + Softmax (steering), MatMul (bias mix and expectation), Softmax, Exp, Concat, the L2
normalisation. Training computes the same correlation by FFT (:meth:`ECCC.scores_from_spectra`), far
cheaper on a batch of histograms.
"""

from __future__ import annotations

import torch
from torch import nn

from edge_sdk.awb.features import N_DEF
from edge_sdk.awb.histogram import BIN_WIDTH, BINS, N_CENTRE, histogram_width

N_MAPS = 4


class ECCC(nn.Module):
    def __init__(self, bins: int = BINS, bin_width: float = BIN_WIDTH, n_maps: int = N_MAPS,
                 with_def: bool = True) -> None:
        super().__init__()
        self.bins, self.bin_width, self.n_maps, self.with_def = bins, float(bin_width), n_maps, with_def
        self.n_steer = N_CENTRE + (N_DEF if with_def else 0)
        self.in_features = histogram_width(bins, with_def)
        self.filters = nn.Parameter(torch.zeros(1, 2, bins, bins))
        self.bias_maps = nn.Parameter(torch.zeros(n_maps, bins * bins))
        self.steer = nn.Linear(self.n_steer, n_maps)
        offsets = (torch.arange(bins, dtype=torch.float32) - bins / 2 + 0.5) * self.bin_width
        grid = torch.stack(torch.meshgrid(offsets, offsets, indexing="ij"), dim=-1).reshape(bins * bins, 2)
        self.register_buffer("grid", grid, persistent=False)  # bin centres, offsets from the window centre

    @property
    def pad(self) -> tuple[int, int]:
        """(before, after) wrap-around padding per side that gives a B x B output from a B x B filter."""
        return self.bins // 2, self.bins - 1 - self.bins // 2

    def split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(hist (N, 2, B, B), centre (N, 2), steering input (N, n_steer))`` of a flat input batch."""
        n2 = self.bins * self.bins
        hist = x[:, : 2 * n2].reshape(-1, 2, self.bins, self.bins)
        return hist, x[:, 2 * n2 : 2 * n2 + N_CENTRE], x[:, 2 * n2 :]

    def scores(self, hist: torch.Tensor) -> torch.Tensor:
        """(N, B^2): the filters' circular correlation with the histograms, by wrap-padding (Slice + Concat)
        and Conv: the exported form."""
        before, after = self.pad
        rows = torch.cat([hist[:, :, self.bins - before :], hist, hist[:, :, :after]], dim=2)
        padded = torch.cat([rows[:, :, :, self.bins - before :], rows, rows[:, :, :, :after]], dim=3)
        return nn.functional.conv2d(padded, self.filters).reshape(-1, self.bins * self.bins)

    def spectra(self, hist: torch.Tensor) -> torch.Tensor:
        """rfft2 of the histograms (N, 2, B, B / 2 + 1): computed once per training set."""
        return torch.fft.rfft2(hist)

    def scores_from_spectra(self, spec: torch.Tensor) -> torch.Tensor:
        """:meth:`scores` from :meth:`spectra` (training): circular correlation as a product of spectra."""
        b = self.bins
        f = torch.fft.rfft2(self.filters[0])
        r = torch.fft.irfft2((spec * f.conj()).sum(dim=1), s=(b, b))  # r[n] = sum_k h[(n + k) mod B] F[k]
        return torch.roll(r, shifts=(b // 2, b // 2), dims=(-2, -1)).reshape(-1, b * b)

    def head(self, scores: torch.Tensor, centre: torch.Tensor, steer_in: torch.Tensor) -> torch.Tensor:
        weights = torch.softmax(self.steer(steer_in), dim=-1)
        p = torch.softmax(scores + weights @ self.bias_maps, dim=-1)
        grid: torch.Tensor = self.grid  # type: ignore[assignment]  # a buffer
        uv = centre + p @ grid
        rgb = torch.cat([torch.exp(-uv[:, :1]), torch.ones_like(uv[:, :1]), torch.exp(-uv[:, 1:])], dim=-1)
        return rgb / torch.sqrt((rgb * rgb).sum(dim=-1, keepdim=True) + 1e-12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hist, centre, steer_in = self.split(x)
        return self.head(self.scores(hist), centre, steer_in)

    @torch.no_grad()
    def fold_standardisation(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Make ``steer(s)`` equal what ``steer((s - mean) / std)`` was."""
        w = self.steer.weight / std[None, :]
        self.steer.bias.sub_(w @ mean)
        self.steer.weight.copy_(w)


def build(bins: int = BINS, bin_width: float = BIN_WIDTH, n_maps: int = N_MAPS, with_def: bool = True) -> ECCC:
    """A fresh ECCC (``with_def=True``, 6,192 parameters) or CCC (6,156) with zero filters and bias maps
    (the estimate starts at the gray world)."""
    return ECCC(bins, bin_width, n_maps, with_def)
