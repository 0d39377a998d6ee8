"""The probe's decision rule (runtimes.autotune.decision): ONNX Runtime's defaults are kept unless a challenger is
faster by the margin in median and in most paired rounds; near-ties never displace them."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from runtimes.autotune import BASELINE, MARGIN, Candidate, clearly_faster, ranking, wins_needed

OTHERS = [Candidate("onnxruntime", 1), Candidate("onnxruntime", 2, True), Candidate("onnxruntime", 2, False),
          Candidate("numpy"), Candidate("openvino", 2)]
times = st.floats(min_value=1e-3, max_value=1e3, allow_nan=False)


@st.composite
def probes(draw):
    cands = [BASELINE, *draw(st.lists(st.sampled_from(OTHERS), unique=True))]
    n = draw(st.integers(1, 7))
    rounds = {c: draw(st.lists(times, min_size=n, max_size=n)) for c in cands}
    medians = {c: draw(times) for c in cands}
    return medians, rounds


@given(probes())
def test_ranking_is_a_permutation_and_only_clear_winners_precede_the_baseline(probe) -> None:
    medians, rounds = probe
    order = ranking(medians, rounds)
    assert sorted(order, key=repr) == sorted(medians, key=repr)
    ahead = order[:order.index(BASELINE)]
    for c in ahead:
        assert medians[c] <= (1 - MARGIN) * medians[BASELINE]
        assert sum(a < b for a, b in zip(rounds[c], rounds[BASELINE])) >= wins_needed(len(rounds[c]))
    assert [medians[c] for c in ahead] == sorted(medians[c] for c in ahead)  # fastest clear winner first
    behind = order[order.index(BASELINE) + 1:]
    assert [medians[c] for c in behind] == sorted(medians[c] for c in behind)
    assert not any(clearly_faster(rounds[c], rounds[BASELINE], medians[c], medians[BASELINE]) for c in behind)


def test_a_near_tie_keeps_the_defaults() -> None:
    one = Candidate("onnxruntime", 1)
    # 3 % faster in median and in every round: under the margin
    assert ranking({BASELINE: 100.0, one: 97.0}, {BASELINE: [100.0] * 5, one: [97.0] * 5})[0] == BASELINE
    # 20 % faster in median but in only 3 of 5 rounds: a noisy spell, not a win
    assert ranking({BASELINE: 100.0, one: 80.0}, {BASELINE: [100.0] * 5, one: [80, 80, 80, 120, 120]})[0] == BASELINE


def test_a_clear_win_replaces_the_defaults_and_the_fastest_clear_winner_leads() -> None:
    one, ov = Candidate("onnxruntime", 1), Candidate("openvino", 2)
    medians = {BASELINE: 100.0, one: 90.0, ov: 70.0}
    rounds = {BASELINE: [100.0] * 5, one: [90, 90, 90, 90, 101], ov: [70.0] * 5}
    assert ranking(medians, rounds) == [ov, one, BASELINE]  # 4 of 5 rounds and 10 % is clear


def test_without_the_baseline_the_fastest_leads() -> None:
    one, two = Candidate("onnxruntime", 1), Candidate("onnxruntime", 2, True)
    assert ranking({one: 2.0, two: 1.0}, {one: [2.0], two: [1.0]}) == [two, one]


def test_rounds_needed() -> None:
    assert [wins_needed(n) for n in (1, 2, 3, 4, 5, 10)] == [1, 2, 3, 4, 4, 8]
