"""`edge-sdk train NAME` reproduces the shipped weights from the seed (emlp, eccc, ccc: bit for bit; ~30 s each
for emlp and for eccc + ccc together, which share the rendered scenes).

compact-cnn and care-tiny train for minutes, so the default suite checks their recipes on short
runs (test_compact_cnn.py, test_care.py); this test holds the full emlp recipe to the shipped file.
"""

from __future__ import annotations

import json

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file

from edge_sdk import get_spec
from edge_sdk.zoo.weights import library_versions


def _reproduces(cli, tmp_path, name: str) -> None:
    out = tmp_path / f"{name}.safetensors"
    r = cli("train", name, "--seed", "0", "--out", out, "--json")
    assert r.code == 0, r.err
    assert r.json()["metrics"]
    ours, shipped = load_file(str(out)), load_file(str(get_spec(name).weights_path))
    assert ours.keys() == shipped.keys()
    with safe_open(str(get_spec(name).weights_path), "np") as f:
        recorded = json.loads((f.metadata() or {}).get("versions", "{}"))
    drift = {k: (v, library_versions().get(k)) for k, v in recorded.items() if library_versions().get(k) != v}
    for k in ours:  # on failure, name the libraries whose versions differ from the ones that made the file
        np.testing.assert_array_equal(ours[k], shipped[k], err_msg=f"{k}; library versions (shipped, here): {drift}")


def test_train_emlp_reproduces_shipped_weights(cli, tmp_path) -> None:
    _reproduces(cli, tmp_path, "emlp")


def test_train_eccc_and_ccc_reproduce_shipped_weights(cli, tmp_path) -> None:
    for name in ("eccc", "ccc"):
        _reproduces(cli, tmp_path, name)
