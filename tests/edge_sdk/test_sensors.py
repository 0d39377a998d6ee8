"""Per-sensor white balance: sensor descriptions (colour-science names, curve CSVs, levels), training for a
second sensor, its manifest, and the pipeline's raw levels."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
colour = pytest.importorskip("colour")

from edge_sdk.data.sensors import load_sensor, sensor_of_weights  # noqa: E402
from edge_sdk.errors import DatasetError  # noqa: E402

SIGMA = "Sigma SDMerill (NPL)"
# the second sensor's run, kept small for the default suite (the shipped recipe: 3000 / 500 / 150 epochs)
N_TRAIN, N_VAL, N_TEST, EPOCHS = 250, 50, 100, 100


def write_curves(path, wavelengths, values, header="wavelength_nm,r,g,b", notes=()) -> None:
    lines = [*notes, header, *(f"{w!r},{r!r},{g!r},{b!r}" for w, (r, g, b) in zip(wavelengths, values))]
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def sigma_csv(tmp_path_factory):
    """Sigma's measured curves on colour-science's own grid (400-680 nm), a 14-bit sensor with black 256."""
    msds = colour.MSDS_CAMERA_SENSITIVITIES[SIGMA]
    path = tmp_path_factory.mktemp("sensor") / "sigma-test.csv"
    notes = ("# name=sigma-test", "# black_level=256", "# white_level=16383", "# bit_depth=14")
    write_curves(path, msds.wavelengths.tolist(), msds.values.tolist(), notes=notes)
    return path


def test_csv_curves_resample_to_the_named_sensors_curves(sigma_csv) -> None:
    from_csv, named = load_sensor(sigma_csv), load_sensor(SIGMA)
    assert from_csv.name == "sigma-test" and named.name == SIGMA
    assert (from_csv.black_level, from_csv.white_level, from_csv.bit_depth) == (256, 16383, 14)
    assert (named.black_level, named.white_level, named.bit_depth) == (64, 4095, 12)
    np.testing.assert_array_equal(from_csv.sensitivities, named.sensitivities)
    assert from_csv.sha256 == named.sha256 != load_sensor(None).sha256
    assert load_sensor(None).name == "Nikon 5100 (NPL)"
    assert from_csv.sensitivities.shape == (31, 3) and float(from_csv.sensitivities[:, 1].max()) == 1.0


def test_a_coarser_grid_is_resampled(tmp_path) -> None:
    msds = colour.MSDS_CAMERA_SENSITIVITIES[SIGMA]
    wl, v = msds.wavelengths[::2], msds.values[::2]  # 20 nm steps, 400-680 nm
    write_curves(tmp_path / "coarse.csv", wl.tolist(), v.tolist())
    coarse, fine = load_sensor(tmp_path / "coarse.csv"), load_sensor(SIGMA)
    c, f = coarse.sensitivities[:29:2], fine.sensitivities[:29:2]  # the shared nodes 400, 420, ..., 680 nm
    np.testing.assert_allclose(c, f * (c[:, 1].max() / f[:, 1].max()), rtol=1e-12)  # equal up to the green peak
    assert not np.allclose(coarse.sensitivities[1::2], fine.sensitivities[1::2] * (c[:, 1].max() / f[:, 1].max()))
    assert coarse.sha256 != fine.sha256 and coarse.name == "coarse"


@pytest.mark.parametrize(
    ("rows", "header", "notes", "match"),
    [
        ([(400, 1, 1, 1), (700, 1, 1, 1)], "wavelength,r,g,b", (), "header"),
        ([(400, 1, 1, 1), (400, 1, 1, 1), (700, 1, 1, 1)], None, (), "increase"),
        ([(450, 1, 1, 1), (700, 1, 1, 1)], None, (), "cover"),
        ([(400, 1, 0, 1), (700, 1, 0, 1)], None, (), "positive"),
        ([(400, 1, 1, 1), (700, float("nan"), 1, 1)], None, (), "finite"),
        ([(400, 1, 1, 1), (700, 1, 1, 1)], None, ("# white_level=5000",), "white_level"),
        ([(400, 1, 1, 1), (700, 1, 1, 1)], None, ("# black_level=x",), "integer"),
    ],
)
def test_bad_curve_files_are_dataset_errors(tmp_path, rows, header, notes, match) -> None:
    path = tmp_path / "bad.csv"
    write_curves(path, [r[0] for r in rows], [r[1:] for r in rows], header=header or "wavelength_nm,r,g,b",
                 notes=notes)
    with pytest.raises(DatasetError, match=match):
        load_sensor(path)


def test_unknown_sensor_names_the_choices() -> None:
    with pytest.raises(DatasetError, match="Sigma SDMerill"):
        load_sensor("Canon 5D")


@pytest.fixture(scope="module")
def sigma_run(sigma_csv, tmp_path_factory):
    """EMLP trained for the CSV sensor, on a small synthetic set rendered through its curves."""
    from edge_sdk.training.emlp import train

    out = tmp_path_factory.mktemp("sigma") / "emlp-sigma.safetensors"
    metrics = train(out=out, sensor=sigma_csv, n_train=N_TRAIN, n_val=N_VAL, epochs=EPOCHS, show_progress=False)
    return out, metrics


def test_second_sensor_weights_and_manifest_name_the_sensor(sigma_run, sigma_csv, tmp_path) -> None:
    from converters import export
    from edge_sdk.pipelines import WhiteBalance
    from runtimes.manifest import read_manifest

    out, metrics = sigma_run
    recorded = sensor_of_weights(out)
    sensor = load_sensor(sigma_csv)
    assert recorded == sensor.describe()
    assert recorded["name"] == "sigma-test" and recorded["white_level"] == 16383
    from edge_sdk.data.dual_exposure import make_feature_dataset

    samples = tmp_path / "val-features.npy"  # validate on the sensor's own (already rendered) val scenes
    np.save(samples, make_feature_dataset("val", N_VAL, sensor=sensor)[0])
    bundle = export(str(out), tmp_path / "wb", arch="emlp", data=samples, show_progress=False, log=lambda m: None)
    entry = read_manifest(bundle).preprocessing["sensor"]
    assert entry == sensor.describe()
    wb = WhiteBalance(bundle, backend="numpy")
    assert wb.sensor == sensor.describe()
    from edge_sdk.data.dual_exposure import generate_scene

    sc = generate_scene(0, "test", 108, 192, sensor)
    r = wb((sc.long, sc.short))  # levels from the manifest: 14-bit, black 256
    assert r.sensor == "sigma-test" and r.levels == (256.0, 16383.0) and r.levels_from == "manifest"
    explicit = wb((sc.long, sc.short), white_level=16383, black_level=256)
    np.testing.assert_array_equal(r.gains, explicit.gains)


def test_second_sensor_emlp_beats_gray_world_and_the_nikon_emlp(sigma_run, sigma_csv) -> None:
    from edge_sdk.awb.metrics import summarize
    from edge_sdk.training.emlp import angular_errors, train_no_def
    from edge_sdk.zoo import create_model
    from edge_sdk.zoo.weights import load_into, read_state_dict

    out, _ = sigma_run
    model = create_model("emlp", pretrained=False)
    load_into(model, read_state_dict(out))
    sensor = load_sensor(sigma_csv)
    no_def = train_no_def(0, epochs=EPOCHS, sensor=sensor, n_train=N_TRAIN, n_val=N_VAL)
    errors = angular_errors(model.eval(), n_test=N_TEST, sensor=sensor, no_def_model=no_def,
                            references={"emlp-nikon": create_model("emlp")})
    mean = {k: summarize(v)["mean"] for k, v in errors.items()}
    assert mean["emlp"] < mean["gray-world"], mean
    assert mean["emlp"] < mean["emlp-nikon"], mean


def test_shipped_weights_record_the_default_sensor() -> None:
    from edge_sdk.zoo import get_spec

    entry = sensor_of_weights(get_spec("emlp").weights_path)
    assert entry == load_sensor(None).describe()
    assert entry["white_level"] == 4095 and entry["black_level"] == 64


def test_weights_metadata_is_json_of_the_sensor(sigma_run) -> None:
    from safetensors import safe_open

    out, _ = sigma_run
    with safe_open(str(out), "numpy") as f:
        meta = f.metadata()
    assert json.loads(meta["sensor"])["name"] == "sigma-test"
    assert "train 250 / val 50" in meta["recipe"]


def test_cli_sensor_flag_is_checked_before_any_work(cli, tmp_path) -> None:
    r = cli("train", "compact-cnn", "--sensor", SIGMA, "--out", tmp_path / "x.safetensors")
    assert r.code == 1 and "--sensor applies to white balance" in r.err
    r = cli("train", "emlp", "--sensor", tmp_path / "missing.csv", "--out", tmp_path / "x.safetensors")
    assert r.code == 1 and "unknown sensor" in r.err and "wavelength_nm,r,g,b" in r.err
    r = cli("eval", "compact-cnn", "--sensor", SIGMA)
    assert r.code == 1 and "--sensor applies to white balance" in r.err
    assert not (tmp_path / "x.safetensors").exists()
    r = cli("train", "--help")
    assert r.code == 0 and "--sensor NAME_OR_CSV" in r.out and "pairs.csv" in r.out and "long,short,r,g,b" in r.out


@pytest.mark.slow
def test_cli_eval_reports_the_table_for_the_sensor(cli, sigma_run, sigma_csv) -> None:
    out, _ = sigma_run
    r = cli("eval", "emlp", "--sensor", sigma_csv, "--weights", out, "--json")
    assert r.code == 0, r.err
    res = r.json()
    assert res["sensor"]["name"] == "sigma-test" and res["trained_for"]["name"] == "sigma-test"
    table = res["angular_error_deg"]
    assert {"emlp", "emlp-shipped", "mlp-no-def", "gray-world"} <= set(table)
    assert table["emlp"]["mean"] < min(table["gray-world"]["mean"], table["emlp-shipped"]["mean"])
    text = cli("eval", "emlp", "--sensor", sigma_csv)  # the shipped weights on the other sensor's scenes
    assert text.code == 0 and "sensor sigma-test" in text.out and "trained for Nikon 5100 (NPL)" in text.out
    assert "note: the weights were trained for Nikon 5100 (NPL), evaluated on sigma-test" in text.err
