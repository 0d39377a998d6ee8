"""EMLP: size, output, shipped weights, the evaluation claim, a short training run."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edge_sdk.awb.features import N_FEATURES  # noqa: E402
from edge_sdk.data.dual_exposure import make_feature_dataset  # noqa: E402
from edge_sdk.zoo import create_model, get_spec  # noqa: E402
from edge_sdk.zoo.emlp import build, param_count  # noqa: E402
from edge_sdk.zoo.weights import read_state_dict  # noqa: E402


def test_param_count_and_unit_output() -> None:
    m = build()
    assert param_count(m) <= 400
    assert get_spec("emlp").input_shape == (N_FEATURES,)
    y = m(torch.randn(16, N_FEATURES) * 10).detach().numpy()
    np.testing.assert_allclose(np.linalg.norm(y, axis=1), 1.0, atol=1e-5)
    assert (y > 0).all()
    from edge_sdk.training.emlp import HIDDEN_NO_DEF

    no_def = build(in_features=6, hidden=HIDDEN_NO_DEF)
    assert abs(param_count(no_def) - param_count(m)) <= 0.03 * param_count(m)


def test_fold_standardisation_is_exact() -> None:
    m = build()
    x = torch.randn(8, N_FEATURES) * 3 + 1
    mean, std = x.mean(0), x.std(0)
    ref = m((x - mean) / std)
    m.fold_standardisation(mean, std)
    torch.testing.assert_close(m(x), ref, atol=1e-5, rtol=1e-5)


@pytest.mark.slow
def test_shipped_weights_beat_baselines_and_no_def() -> None:
    from edge_sdk.training.emlp import evaluate

    model = create_model("emlp")
    x, _ = make_feature_dataset("test", 4)
    y = model(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(np.linalg.norm(y, axis=1), 1.0, atol=1e-5)
    res = evaluate()
    emlp = res["emlp"]["mean"]
    for method, summary in res.items():
        assert set(summary) >= {"mean", "median", "trimean", "best25", "worst25"}
        if method != "emlp":
            assert emlp < summary["mean"], (method, res)


def test_short_train_run_writes_loadable_weights(tmp_path) -> None:
    from edge_sdk.training.emlp import train

    x, y = make_feature_dataset("train", 120)
    data = tmp_path / "feat.npz"
    np.savez(data, X=x, y=y)
    out = tmp_path / "emlp.safetensors"
    metrics = train(out=out, seed=0, data=data, epochs=3, show_progress=False)
    assert out.is_file() and np.isfinite(metrics["val_mean"])
    m = create_model("emlp", pretrained=False)
    m.load_state_dict(read_state_dict(out))
    from safetensors import safe_open

    with safe_open(str(out), "pt") as f:
        meta = f.metadata()
    assert meta["seed"] == "0" and "angular" in meta["recipe"]
