"""emlp on every backend that runs it (numpy, onnxruntime) matches PyTorch within the angular budget."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import edge_sdk
from converters.parity import BUDGETS
from edge_sdk.awb.metrics import angular_error_deg
from edge_sdk.data.dual_exposure import make_feature_dataset


@pytest.mark.parametrize(("backend", "precision"),
                         [("numpy", "fp32"), ("onnxruntime", "fp32"), ("onnxruntime", "fp16"), ("onnxruntime", "int8")])
def test_emlp_backend_parity(zoo_bundle, backend, precision) -> None:
    x, y = make_feature_dataset("test", 300)
    got = edge_sdk.load(zoo_bundle("emlp", precision), backend=backend)(x)
    with torch.inference_mode():
        ref = edge_sdk.create_model("emlp")(torch.from_numpy(x)).numpy()
    delta = angular_error_deg(got, y).mean() - angular_error_deg(ref, y).mean()
    assert delta <= BUDGETS["illuminant-estimation"][precision]
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-2)


def test_numpy_backend_refuses_quantized_emlp(zoo_bundle) -> None:
    with pytest.raises(edge_sdk.errors.BackendUnavailableError, match="QuantizeLinear"):
        edge_sdk.load(zoo_bundle("emlp", "int8"), backend="numpy")
