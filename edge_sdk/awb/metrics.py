"""Angular error between illuminant estimates and the field's summary statistics (numpy only)."""

from __future__ import annotations

import numpy as np

from edge_sdk.errors import InputError


def angular_error_deg(est: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Angle in degrees between RGB vectors, vectorised over leading dims (``(..., 3)`` each).

    Scale-free (vectors need not be unit norm); a zero vector counts as 90 degrees from anything.
    """
    e = np.asarray(est, dtype=np.float64)
    g = np.asarray(gt, dtype=np.float64)
    if e.shape[-1:] != (3,) or g.shape[-1:] != (3,):
        raise InputError(f"est/gt: expected (..., 3) RGB arrays, got {e.shape} and {g.shape}")
    e, g = np.broadcast_arrays(e, g)
    dot = (e * g).sum(axis=-1)
    cross = np.linalg.norm(np.cross(e, g), axis=-1)
    nonzero = (np.linalg.norm(e, axis=-1) > 0) & (np.linalg.norm(g, axis=-1) > 0)
    # atan2(|e x g|, e . g) stays accurate for tiny angles, where arccos loses precision
    return np.where(nonzero, np.degrees(np.arctan2(cross, dot)), 90.0)


def summarize(errors: np.ndarray) -> dict[str, float]:
    """mean, median, tri-mean, best-25 % and worst-25 % (means of the lowest/highest quarter) + n.

    Tri-mean = (Q1 + 2 Q2 + Q3) / 4 with linear-interpolated quartiles. The quarters hold
    ``max(1, round(n / 4))`` errors.
    """
    e = np.sort(np.asarray(errors, dtype=np.float64).reshape(-1))
    if e.size == 0:
        raise InputError("errors: expected at least one value, got an empty array")
    q1, q2, q3 = np.percentile(e, [25, 50, 75])
    k = max(1, int(round(e.size / 4)))
    return {
        "mean": float(e.mean()),
        "median": float(q2),
        "trimean": float((q1 + 2 * q2 + q3) / 4),
        "best25": float(e[:k].mean()),
        "worst25": float(e[-k:].mean()),
        "n": float(e.size),
    }
