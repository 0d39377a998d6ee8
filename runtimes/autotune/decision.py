"""The probe's decision rule: ONNX Runtime's own defaults (:data:`~runtimes.autotune.candidates.BASELINE`, what a
bare ``InferenceSession(path)`` runs with) are kept unless another candidate beats them clearly.

Timings of two settings of a sub-millisecond model on a shared CPU move by 10-30 % from one block of calls to
the next, so "the lowest median" picks between near-ties by chance: one run chooses 1 thread, the next every
core. A challenger therefore replaces the baseline only when it is at least :data:`MARGIN` faster in median
over all its calls *and* faster in at least :data:`WINS_FRACTION` of the paired rounds (each round times every
candidate back to back, so a slow spell of the machine hits all of them). Among the challengers that
clear both bars the fastest wins. A near-tie keeps the baseline, so on a quiet machine the runtime does not
lose to a bare ONNX Runtime session by more than noise and its own per-call input check; what it gives up is at
most :data:`MARGIN` against a challenger that would have won by less.

:func:`ranking` orders every timed candidate: the clear winners (fastest first), the baseline, then the rest
(fastest first). The probe walks it in that order through the accuracy gate.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence

from runtimes.autotune.candidates import BASELINE, Candidate

MARGIN = 0.05  # a challenger's median must be at most (1 - MARGIN) x the baseline's
WINS_FRACTION = 0.8  # ... and it must be faster in at least this share of the paired rounds


def wins_needed(rounds: int) -> int:
    """Rounds a challenger must win out of ``rounds``: 4 of 5, 8 of 10, at least 1."""
    return max(1, math.ceil(WINS_FRACTION * rounds - 1e-9))


def clearly_faster(challenger: Sequence[float], baseline: Sequence[float], median: float, base_median: float) -> bool:
    """Whether per-round medians ``challenger`` beat ``baseline`` in enough rounds, by a median margin."""
    n = min(len(challenger), len(baseline))
    wins = sum(c < b for c, b in zip(challenger[:n], baseline[:n]))
    return n > 0 and wins >= wins_needed(n) and median <= (1 - MARGIN) * base_median


def ranking(medians: Mapping[Candidate, float], rounds: Mapping[Candidate, Sequence[float]],
            baseline: Candidate = BASELINE) -> list[Candidate]:
    """Every candidate in ``medians``, in the order the probe tries them (see the module's docstring). Without
    the baseline among them (ONNX Runtime did not load), simply fastest first."""
    by_speed = sorted(medians, key=lambda c: medians[c])
    if baseline not in medians:
        return by_speed
    clear = [c for c in by_speed if c != baseline and clearly_faster(rounds.get(c, ()), rounds.get(baseline, ()),
                                                                     medians[c], medians[baseline])]
    return clear + [baseline] + [c for c in by_speed if c != baseline and c not in clear]


def round_medians(blocks: Sequence[Sequence[float]]) -> list[float]:
    """The median of each round's block of call times."""
    return [statistics.median(b) for b in blocks if b]
