"""The data shipped in edge_sdk/assets/ for the thin install: small, plain, reproducible by
tools/make_assets.py, and the synthetic:// cameras give the same frames from it as from the host libraries
(digits bit for bit; dual-exposure scenes the same but for the JPEG error of the photographs)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from edge_sdk.assets import NAMES, asset_path, load_asset
from tests.conftest import REPO

MAX_TOTAL_BYTES = 320 * 1024  # "a few hundred KB at most"
SCENES, SIZE = 8, "192x108"
DIGITS = 40
HOST_PACKAGES = ("torch", "colour", "sklearn", "skimage")

# A thin install in this interpreter: the host packages cannot be imported (None in sys.modules).
THIN_RENDER = """
import json, sys
for m in {blocked!r}:
    sys.modules[m] = None
import numpy as np
import edge_sdk
out, metas = {{}}, []
with edge_sdk.open_dual_source("synthetic://dual-exposure?count={scenes}&size={size}") as cam:
    for i, pair in enumerate(cam):
        out[f"long{{i}}"], out[f"short{{i}}"], out[f"ill{{i}}"] = pair.long, pair.short, pair.meta["illuminant"]
        metas.append({{k: v for k, v in pair.meta.items() if k != "illuminant"}})
with edge_sdk.open_source("synthetic://digits?count={digits}&seed=3") as cam:
    for i, frame in enumerate(cam):
        out[f"digit{{i}}"], out[f"label{{i}}"] = frame.image, np.array(frame.meta["label"])
try:
    edge_sdk.open_dual_source("synthetic://dual-exposure?split=train")
    refused = ""
except edge_sdk.EdgeSDKError as e:
    refused = f"{{type(e).__name__}}: {{e}}"
np.savez(sys.argv[1], **out)
print(json.dumps({{"metas": metas, "refused": refused}}, default=float))
"""


def test_shipped_assets_are_small_plain_npz() -> None:
    total = 0
    for name in NAMES:
        path = asset_path(name)
        total += path.stat().st_size
        with np.load(path, allow_pickle=False) as z:  # raises on any pickled (object) array
            assert z.files and all(not z[k].dtype.hasobject for k in z.files)
    assert total <= MAX_TOTAL_BYTES, f"the shipped assets grew to {total / 1024:.0f} KiB"


def test_make_assets_reproduces_the_shipped_files(tmp_path) -> None:
    for module in ("colour", "sklearn", "skimage"):
        pytest.importorskip(module)
    sys.path.insert(0, str(REPO / "tools"))
    try:
        import make_assets
    finally:
        sys.path.remove(str(REPO / "tools"))
    built = make_assets.build_all()
    assert tuple(built) == NAMES
    for name, arrays in built.items():
        shipped = load_asset(name)
        assert sorted(arrays) == sorted(shipped), name
        for key, value in arrays.items():
            value = np.asarray(value)
            hint = f"{name}.npz:{key} differs from what the host libraries give now: run python tools/make_assets.py"
            assert value.dtype == shipped[key].dtype, hint
            np.testing.assert_array_equal(value, shipped[key], err_msg=hint, strict=True)  # NaN == NaN (CCTs)
        data = make_assets.npz_bytes(arrays)
        assert data == make_assets.npz_bytes(arrays)  # no timestamps: the same arrays give the same bytes
    digits = load_asset("digits")
    assert digits["images"].shape == (1797, 8, 8) and int(digits["images"].max()) == 16


def test_synthetic_cameras_give_the_host_frames_without_the_host_libraries(tmp_path, zoo_bundle) -> None:
    code = THIN_RENDER.format(blocked=HOST_PACKAGES, scenes=SCENES, size=SIZE, digits=DIGITS)
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "thin.npz")], capture_output=True, text=True,
                          timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.splitlines()[-1])
    thin = np.load(tmp_path / "thin.npz")
    assert report["refused"].startswith("SourceError: synthetic://dual-exposure?split=train needs")
    assert "'.[host]'" in report["refused"]

    import edge_sdk
    from edge_sdk.awb.metrics import angular_error_deg
    from edge_sdk.camera.frames import DualFrame
    from edge_sdk.pipelines import WhiteBalance

    # digits: the same frames, bit for bit (the shipped 8x8 digits are scikit-learn's)
    with edge_sdk.open_source(f"synthetic://digits?count={DIGITS}&seed=3") as cam:
        for i, frame in enumerate(cam):
            assert np.array_equal(frame.image, thin[f"digit{i}"]) and frame.meta["label"] == int(thin[f"label{i}"])

    # dual exposure: the same scenes (photo, illuminant, draws, exact spectra); the photographs are JPEG in the
    # shipped assets, so pixel values move a little, and with them the exposure (set from the 98th percentile)
    wb = WhiteBalance(zoo_bundle("emlp"), backend="numpy")
    moved = []
    with edge_sdk.open_dual_source(f"synthetic://dual-exposure?count={SCENES}&size={SIZE}") as cam:
        for i, pair in enumerate(cam):
            meta = {k: v for k, v in pair.meta.items() if k != "illuminant"}
            thin_meta = report["metas"][i]
            k_host, k_thin = meta.pop("exposure_long"), thin_meta.pop("exposure_long")
            assert json.loads(json.dumps(meta, default=float)) == thin_meta
            assert abs(k_thin / k_host - 1) < 0.05
            assert np.array_equal(pair.meta["illuminant"], thin[f"ill{i}"])
            host_est = wb(pair).illuminant
            thin_est = wb(DualFrame(thin[f"long{i}"], thin[f"short{i}"], i, 0.0, {})).illuminant
            moved.append(float(angular_error_deg(host_est[None], thin_est[None])[0]))
    # measured: 0.37 deg at most, 0.12 mean here (0.39 / 0.13 on 16 scenes at 320x180), against a 4.5 deg mean
    # angular error to the truth
    assert max(moved) < 1.0 and float(np.mean(moved)) < 0.3, moved
