"""The int8 build's fixed-point scheme, calibrated on EMLP features of the synthetic training split.

* Features: int16, feature ``i`` in Q(``q_i``) (value = integer / 2^q_i). The DEF's ``q_i`` leaves 3x
  headroom over the largest calibration magnitude; the six chromaticities (in [0, 1]) are Q14.
* Layer 1: the feature scales are folded into the weights (``W1[o, i] / 2^q_i``), which are then
  quantised symmetrically per output channel to int8. ``acc = sum W1q * x`` is an int32 (|acc| < 2^26).
* Hidden activations: int16 in [0, 32767], unit ``o`` scaled by ``s_h[o]`` (1.25x its largest
  calibration value / 32767): ``h = (acc * M1[o] + B1[o]) >> SH1`` (64-bit product, floor shift).
* Layer 2: ``W2[j, o] * s_h[o]`` quantised per output channel to int8, int32 accumulator, and the logit
  ``z = (acc * M2[j] + B2[j]) >> SH2`` in Q12.
* Softplus: a table of ``softplus`` in Q16 for z in [-16, 16] every 1/64, linear interpolation
  (error < 1e-5); above 16 softplus(z) = z, below -16 it is 0.
* Gains: ``round(4096 * y_G / y_c)`` as unsigned Q4.12 (the L2 normalisation cancels out).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from converters.c_awb.model import CExportError, MLPWeights

CALIBRATION_SCENES = 128
CHROMA_Q = 14
DEF_HEADROOM = 3.0
HIDDEN_HEADROOM = 1.25
SOFTPLUS_LO, SOFTPLUS_HI, SOFTPLUS_STEPS_PER_UNIT = -16, 16, 64
INT32_MAX = 2**31 - 1


@dataclass(frozen=True)
class Int8Model:
    feature_q: list[int]
    w1q: np.ndarray  # (H, F) int8
    m1: np.ndarray  # (H,) int32
    b1q: np.ndarray  # (H,) int64
    sh1: int
    w2q: np.ndarray  # (3, H) int8
    m2: np.ndarray  # (3,) int32
    b2q: np.ndarray  # (3,) int64
    sh2: int
    softplus_q16: np.ndarray  # uint32 table


def calibration_features(n: int = CALIBRATION_SCENES) -> np.ndarray:
    from edge_sdk.data.dual_exposure import make_feature_dataset

    return make_feature_dataset("train", n)[0].astype(np.float64)


def _per_row_int8(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scale = np.abs(w).max(axis=1) / 127.0
    scale = np.where(scale > 0, scale, 1.0)
    q = np.clip(np.rint(w / scale[:, None]), -127, 127).astype(np.int8)
    return q, scale


def _shift_for(multipliers: np.ndarray) -> int:
    top = float(np.abs(multipliers).max())
    if top <= 0:
        return 31
    return int(max(0, min(46, math.floor(math.log2(INT32_MAX / top)))))


def quantize(mlp: MLPWeights, x_calib: np.ndarray) -> Int8Model:
    n_def = 9
    hidden = mlp.hidden
    if hidden * 127 * 32767 >= 2**31:
        raise CExportError(f"the int8 build keeps int32 accumulators: at most 516 hidden units, the model has {hidden}")
    top = np.abs(x_calib).max(axis=0)
    fq = [CHROMA_Q] * x_calib.shape[1]
    for i in range(n_def):
        r = max(float(top[i]) * DEF_HEADROOM, 1e-3)
        fq[i] = int(max(4, min(15, math.floor(math.log2(32767 / r)))))
    w1 = mlp.w1.astype(np.float64) / np.exp2(np.asarray(fq, np.float64))[None, :]
    w1q, s1 = _per_row_int8(w1)
    h = np.maximum(x_calib @ mlp.w1.astype(np.float64).T + mlp.b1.astype(np.float64), 0.0)
    hmax = h.max(axis=0) * HIDDEN_HEADROOM
    fallback = float(hmax.max()) if float(hmax.max()) > 0 else 1.0
    s_h = np.where(hmax > 1e-6, hmax, fallback) / 32767.0
    m1_real = s1 / s_h
    sh1 = _shift_for(m1_real)
    m1 = np.rint(m1_real * 2.0**sh1).astype(np.int64)
    b1q = np.rint(mlp.b1.astype(np.float64) / s_h * 2.0**sh1).astype(np.int64)

    w2 = mlp.w2.astype(np.float64) * s_h[None, :]
    w2q, s2 = _per_row_int8(w2)
    m2_real = s2 * 4096.0
    sh2 = _shift_for(m2_real)
    m2 = np.rint(m2_real * 2.0**sh2).astype(np.int64)
    b2q = np.rint(mlp.b2.astype(np.float64) * 4096.0 * 2.0**sh2).astype(np.int64)
    if max(np.abs(b1q).max(), np.abs(b2q).max()) >= 2**61:
        raise CExportError("the model's biases are too large for the int8 build's fixed-point scheme")

    z = np.arange(SOFTPLUS_LO * SOFTPLUS_STEPS_PER_UNIT, SOFTPLUS_HI * SOFTPLUS_STEPS_PER_UNIT + 1) / float(
        SOFTPLUS_STEPS_PER_UNIT)
    table = np.rint(np.logaddexp(0.0, z) * 65536.0).astype(np.uint32)
    return Int8Model(fq, w1q, m1.astype(np.int32), b1q, sh1, w2q, m2.astype(np.int32), b2q, sh2, table)
