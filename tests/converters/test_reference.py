"""PyTorch reference outputs are computed once per process for a zoo model and its samples (converters.reference),
never shared between a user's sources; architecture-only zoo models are built with the seed their manifest records."""

from __future__ import annotations

import collections
import importlib

import numpy as np
import pytest

import converters.reference as reference
from converters.sources import ARCHITECTURE_SEED, from_module, from_zoo

validate = importlib.import_module("converters.validate")  # the module (converters.validate is also a function)
run_torch = validate.run_torch  # the real one, for comparisons (the fixture counts the calls the cache makes)


@pytest.fixture
def torch_runs(monkeypatch) -> list[int]:
    """Counts the real ``run_torch`` calls (samples per call) behind an empty reference cache."""
    runs: list[int] = []

    def counting(module, x, names, batch=validate.BATCH):  # noqa: ANN001, ANN202
        runs.append(len(x))
        return run_torch(module, x, names, batch)

    monkeypatch.setattr(validate, "run_torch", counting)
    monkeypatch.setattr(reference, "_CACHE", collections.OrderedDict())
    return runs


def test_one_run_per_zoo_model_and_samples(torch_runs) -> None:
    x = np.random.default_rng(0).random((70, 1, 28, 28), dtype=np.float32)  # two batches of run_torch
    a, b = from_zoo("compact-cnn"), from_zoo("compact-cnn")  # two exports of the same model
    first = reference.reference_outputs(a, x, ["output"])
    again = reference.reference_outputs(b, x, ["output"])
    assert torch_runs == [70]
    np.testing.assert_array_equal(again["output"], first["output"])
    np.testing.assert_array_equal(first["output"], run_torch(a.module, x, ["output"])["output"])
    with pytest.raises(ValueError, match="read-only"):
        first["output"][0, 0] = 1.0  # one caller cannot change what the next compares against
    rows = np.array([3, 5, 64, 69])
    sub = reference.reference_outputs(b, x, ["output"], rows=rows)  # the golden samples: rows of the kept run
    assert torch_runs == [70] and sub["output"].shape == (4, 10)
    np.testing.assert_allclose(sub["output"], run_torch(a.module, x[rows], ["output"])["output"],
                               rtol=1e-5, atol=1e-5)
    other = x.copy()
    other[0, 0, 0, 0] += 0.5  # other samples, another run
    reference.reference_outputs(a, other, ["output"])
    assert torch_runs == [70, 70]


def test_rows_without_a_kept_run_compute_only_those_rows(torch_runs) -> None:
    x = np.random.default_rng(1).random((40, 1, 28, 28), dtype=np.float32)
    out = reference.reference_outputs(from_zoo("compact-cnn"), x, ["output"], rows=np.array([1, 2]))
    assert torch_runs == [2] and out["output"].shape == (2, 10)


def test_a_user_module_is_never_shared_between_sources(torch_runs) -> None:
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3)).eval()
    x = np.ones((5, 4), np.float32)
    first = from_module(net, (1, 4))
    reference.reference_outputs(first, x, ["output"])
    reference.reference_outputs(first, x, ["output"])  # the same export (parity, then the golden samples)
    assert torch_runs == [5]
    with torch.no_grad():
        net[0].bias += 1.0  # changed in place between two exports of the same object
    second = from_module(net, (1, 4))
    changed = reference.reference_outputs(second, x, ["output"])
    assert torch_runs == [5, 5]
    np.testing.assert_allclose(changed["output"], net(torch.from_numpy(x)).detach().numpy(), rtol=1e-6)


def test_architecture_only_models_are_built_with_the_recorded_seed() -> None:
    import torch

    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    with pytest.warns(UserWarning, match="ships no trained weights"):
        a = from_zoo("compact-cnn-cifar")
    with pytest.warns(UserWarning, match="ships no trained weights"):
        b = from_zoo("compact-cnn-cifar")
    torch.testing.assert_close(torch.rand(3), expected_next)  # the caller's random stream is left alone
    assert a.source["seed"] == ARCHITECTURE_SEED and a.source_sha256 == b.source_sha256
    for p, q in zip(a.module.parameters(), b.module.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
