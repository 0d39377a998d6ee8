"""Catalogue: concurrency. 8 threads x 10,000 ``run`` calls on one shared session equal serial runs.

Overlap: tests/runtimes/test_sessions.py::test_threads_give_serial_results (8 x 300, per backend).
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

import edge_sdk
from edge_sdk.pipelines import WhiteBalance

THREADS, CALLS, INPUTS = 8, 10_000, 16


def _hammer(work, n_threads: int) -> list[BaseException]:  # noqa: ANN001
    errors: list[BaseException] = []
    barrier = threading.Barrier(n_threads)

    def run(k: int) -> None:
        try:
            barrier.wait(30)
            work(k)
        except BaseException as e:  # noqa: BLE001 - collected, asserted by the caller
            errors.append(e)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not any(t.is_alive() for t in threads), "a worker hung"
    return errors


@pytest.mark.parametrize("backend", ["onnxruntime", "numpy"])
def test_8_threads_x_10000_runs_equal_serial(mlp_bundle, backend) -> None:
    session = edge_sdk.load(mlp_bundle, backend=backend)
    rng = np.random.default_rng(0)
    # per thread, its own inputs (batch 1..4): a mixed-up result would show as a mismatch
    xs = [[rng.standard_normal((1 + (k + i) % 4, 9)).astype(np.float32) for i in range(INPUTS)]
          for k in range(THREADS)]
    serial = [[session(x) for x in row] for row in xs]
    mismatches = [0] * THREADS
    done = [0] * THREADS

    def work(k: int) -> None:
        mine, want = xs[k], serial[k]
        bad = 0
        for i in range(CALLS):
            x = mine[i % INPUTS]
            out = session.run({"input": x})["output"] if k % 2 else session(x)  # both entry points
            if not np.array_equal(out, want[i % INPUTS]):
                bad += 1
        mismatches[k], done[k] = bad, CALLS

    errors = _hammer(work, THREADS)
    assert not errors, errors[:3]
    assert done == [CALLS] * THREADS and mismatches == [0] * THREADS


def test_shared_white_balance_pipeline_equals_serial(zoo_bundle) -> None:
    wb = WhiteBalance(zoo_bundle("emlp"), backend="onnxruntime")
    with edge_sdk.open_dual_source("synthetic://dual-exposure?count=8&size=128x72&seed=3") as src:
        pairs = list(src)
    serial = [wb(p) for p in pairs]
    bad: list[int] = []

    def work(k: int) -> None:
        for r in range(10):
            i = (k + r) % len(pairs)
            got = wb(pairs[i])
            if not (np.array_equal(got.illuminant, serial[i].illuminant)
                    and np.array_equal(np.asarray(got.corrected), np.asarray(serial[i].corrected))):
                bad.append(i)

    assert not _hammer(work, 4) and not bad


def test_concurrent_loads_of_one_bundle(mlp_bundle) -> None:
    sessions: list[object] = []

    def work(k: int) -> None:
        sessions.append(edge_sdk.load(mlp_bundle, backend="onnxruntime" if k % 2 else "numpy"))

    assert not _hammer(work, 6) and len(sessions) == 6
