"""Training white balance from captured pairs: the documented `--data DIR` layout, written by the test."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from edge_sdk.awb.features import extract_features
from edge_sdk.data.captured_pairs import load_captured_pairs
from edge_sdk.data.dual_exposure import generate_scene
from edge_sdk.errors import DatasetError

pytest.importorskip("colour")

N_PAIRS = 24
FORMATS = ("png", "tif", "npy", "bayer")


def _mosaic_rggb(image: np.ndarray) -> np.ndarray:
    out = image[..., 1].copy()
    out[0::2, 0::2], out[1::2, 1::2] = image[0::2, 0::2, 0], image[1::2, 1::2, 2]
    return out


def _write(path, frame: np.ndarray) -> None:
    if path.suffix == ".npy":
        np.save(path, frame)
    else:
        assert cv2.imwrite(str(path), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))  # files store BGR


def write_pairs(root, n: int = N_PAIRS, notes=("# name=bench-camera",)):
    """n synthetic 12-bit pairs in the four frame formats; the ground truth is a grey card's raw colour."""
    (root / "frames").mkdir(parents=True)
    rows, expected = [], []
    for i in range(n):
        sc = generate_scene(i, "train", 108, 192)
        kind = FORMATS[i % len(FORMATS)]
        ext = "npy" if kind == "bayer" else kind
        long, short = (sc.long, sc.short) if kind != "bayer" else (_mosaic_rggb(sc.long), _mosaic_rggb(sc.short))
        names = [f"frames/{i:03d}_{w}.{ext}" for w in ("long", "short")]
        for name, frame in zip(names, (long, short)):
            _write(root / name, frame)
        pattern = "RGGB" if kind == "bayer" else ""
        ill = sc.illuminant * 1234.5  # any scale
        split = "val" if i >= n - max(1, n // 6) else "train"  # 24 pairs: 4 validate
        rows.append(f"{names[0]},{names[1]},{ill[0]!r},{ill[1]!r},{ill[2]!r},{pattern},{split}")
        expected.append(extract_features(long, short, white_level=4095, black_level=64, pattern=pattern or None))
    (root / "pairs.csv").write_text("\n".join([*notes, "long,short,r,g,b,pattern,split", *rows]) + "\n")
    return np.stack(expected)


def test_captured_pairs_read_every_format(tmp_path) -> None:
    expected = write_pairs(tmp_path)
    pairs = load_captured_pairs(tmp_path)
    np.testing.assert_array_equal(pairs.x, expected)  # PNG/TIFF read back as RGB, Bayer rows via their pattern
    np.testing.assert_allclose(np.linalg.norm(pairs.y, axis=1), 1.0, atol=1e-6)
    assert pairs.is_val.sum() == 4 and pairs.is_val[-4:].all()
    assert pairs.sensor["name"] == "bench-camera" and pairs.sensor["white_level"] == 4095


def test_train_emlp_from_a_captured_pairs_folder(cli, tmp_path) -> None:
    from safetensors import safe_open

    write_pairs(tmp_path / "captures")
    out = tmp_path / "emlp-captured.safetensors"
    r = cli("train", "emlp", "--data", tmp_path / "captures", "--epochs", "30", "--out", out, "--json")
    assert r.code == 0, r.err
    res = r.json()
    assert res["sensor"]["name"] == "bench-camera" and res["sensor"]["black_level"] == 64
    assert res["metrics"]["n_train"] == N_PAIRS - 4 and res["metrics"]["n_val"] == 4
    assert np.isfinite(res["metrics"]["val_mean"]) and res["metrics"]["val_mean"] < 20
    with safe_open(str(out), "numpy") as f:
        meta = f.metadata()
    assert json.loads(meta["sensor"])["name"] == "bench-camera" and meta["data"].startswith("captured-pairs:")


def test_levels_come_from_the_folder_or_the_sensor(tmp_path) -> None:
    from edge_sdk.data.sensors import load_sensor

    write_pairs(tmp_path / "a", n=4, notes=("# black_level=32", "# bit_depth=14"))
    pairs = load_captured_pairs(tmp_path / "a")
    assert (pairs.sensor["black_level"], pairs.sensor["white_level"], pairs.sensor["bit_depth"]) == (32, 16383, 14)
    write_pairs(tmp_path / "b", n=4, notes=())
    sigma = load_sensor("Sigma SDMerill (NPL)").describe()
    assert load_captured_pairs(tmp_path / "b", sigma).sensor == sigma


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda t: t.replace("long,short,r,g,b", "long,short,r,g"), "missing column"),
        (lambda t: t.replace("frames/000_long.png", "../../etc/passwd.png", 1), "outside"),
        (lambda t: t.replace("frames/000_long.png", "frames/nope.png", 1), "cannot"),
        (lambda t: t.replace(",train", ",test", 1), "split"),
        (lambda t: t.replace("frames/000_long.png,frames/000_short.png",
                             "frames/000_short.png,frames/000_long.png"), r"pairs.csv:\d+: short: brighter.*swapped"),
    ],
)
def test_bad_folders_are_dataset_errors_naming_the_row(tmp_path, edit, match) -> None:
    write_pairs(tmp_path, n=4)
    csv = tmp_path / "pairs.csv"
    csv.write_text(edit(csv.read_text()))
    with pytest.raises(DatasetError, match=match):
        load_captured_pairs(tmp_path)


def test_missing_pairs_csv_says_what_the_folder_needs(tmp_path) -> None:
    with pytest.raises(DatasetError, match="pairs.csv.*long,short,r,g,b"):
        load_captured_pairs(tmp_path)
