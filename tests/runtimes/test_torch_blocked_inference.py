"""The torch-blocked test: a fresh interpreter with torch made unimportable loads and runs bundles."""

from __future__ import annotations

from tests.conftest import run_python

CODE = """
import sys
sys.modules["torch"] = None  # any `import torch` now raises ImportError
import numpy as np
import edge_sdk
x = np.load({x!r})
for backend in {backends!r}:
    s = edge_sdk.load({bundle!r}, backend=backend)
    np.save({out!r} + backend + ".npy", s(x))
assert "torch" not in [m for m, mod in sys.modules.items() if mod is not None]
print("ran without torch")
"""


def _run(bundle, backends, x, tmp_path):
    import numpy as np

    np.save(tmp_path / "x.npy", x)
    out = str(tmp_path / "y_")
    r = run_python(CODE.format(x=str(tmp_path / "x.npy"), backends=backends, bundle=str(bundle), out=out))
    assert r.returncode == 0, r.stderr
    assert "ran without torch" in r.stdout
    return {b: np.load(out + b + ".npy") for b in backends}


def test_classifier_bundle_runs_without_torch(zoo_bundle, tmp_path) -> None:
    import torch

    from edge_sdk import create_model
    from edge_sdk.data.digits import load_digits28

    x = load_digits28("test")[0][:16]
    got = _run(zoo_bundle("compact-cnn", "int8"), ["onnxruntime"], x, tmp_path)["onnxruntime"]
    with torch.inference_mode():
        ref = create_model("compact-cnn")(torch.from_numpy(x)).numpy()
    assert (got.argmax(1) == ref.argmax(1)).mean() >= 15 / 16


def test_mlp_bundle_runs_on_numpy_without_torch(mlp_bundle, tmp_path) -> None:
    import numpy as np

    x = np.random.default_rng(0).standard_normal((5, 9)).astype(np.float32)
    got = _run(mlp_bundle, ["numpy", "onnxruntime"], x, tmp_path)
    np.testing.assert_allclose(got["numpy"], got["onnxruntime"], rtol=1e-5, atol=1e-6)
