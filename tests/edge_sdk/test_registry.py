"""The zoo registry: names, lookups, and parameter/MAC bounds for every registered model."""

from __future__ import annotations

import pytest

import edge_sdk
from edge_sdk.errors import EdgeSDKError, UnknownModelError, WeightsError
from edge_sdk.zoo.profile import profile_model

EXPECTED = ["emlp", "eccc", "ccc", "compact-cnn", "compact-cnn-cifar", "care-s0", "care-s1", "care-s2", "care-tiny"]

# (max params) or (target params, target MACs) within 2 %; every registered model must be here.
PARAM_BOUNDS = {"emlp": 400, "eccc": 6_500, "ccc": 6_500, "compact-cnn": 15_000, "compact-cnn-cifar": 20_000,
                "care-tiny": 200_000}
CARE_TARGETS = {"care-s0": (7.34e6, 0.72e9), "care-s1": (9.60e6, 1.03e9), "care-s2": (19.48e6, 1.92e9)}


def test_zoo_lists_exactly_the_nine_models() -> None:
    assert edge_sdk.list_models() == EXPECTED


def test_every_registered_model_has_a_bound() -> None:
    assert set(PARAM_BOUNDS) | set(CARE_TARGETS) == set(edge_sdk.list_models())


@pytest.mark.parametrize("name", EXPECTED)
def test_counts_meet_bounds(name: str) -> None:
    prof = profile_model(name)
    assert prof.params > 0 and prof.macs > 0
    if name in CARE_TARGETS:
        params, macs = CARE_TARGETS[name]
        assert abs(prof.params / params - 1) <= 0.02, prof
        assert abs(prof.macs / macs - 1) <= 0.02, prof
    else:
        assert prof.params <= PARAM_BOUNDS[name], prof


def test_unknown_model_suggests_close_names() -> None:
    with pytest.raises(UnknownModelError, match="care-s0") as info:
        edge_sdk.create_model("care-s9")
    assert isinstance(info.value, EdgeSDKError)


def test_architecture_only_models_refuse_pretrained() -> None:
    with pytest.raises(WeightsError, match="pretrained=False"):
        edge_sdk.create_model("compact-cnn-cifar")
    model = edge_sdk.create_model("compact-cnn-cifar", pretrained=False)
    assert not model.training


@pytest.mark.parametrize("name", [n for n in EXPECTED if edge_sdk.get_spec(n).ships_weights])
def test_shipped_weights_exist_and_load(name: str) -> None:
    spec = edge_sdk.get_spec(name)
    assert spec.weights_path.is_file()
    assert spec.weights_path.stat().st_size < 1_000_000  # small files only
    edge_sdk.create_model(name)
