"""Pipelines are chosen from tables: the manifest's task -> pipeline, its extractor -> white-balance features."""

from __future__ import annotations

import dataclasses
import shutil
from types import SimpleNamespace

import numpy as np
import pytest

from edge_sdk.awb.features import extract_single_frame_features
from edge_sdk.errors import EdgeSDKError, InputError, ManifestError
from edge_sdk.pipelines import (
    AWB_EXTRACTORS,
    TASK_PIPELINES,
    AwbExtractor,
    Classifier,
    WhiteBalance,
    pipeline_for,
    task_of,
)
from edge_sdk.pipelines.white_balance import extractor_name
from runtimes import load
from runtimes.manifest import MANIFEST_NAME, read_manifest

torch = pytest.importorskip("torch")


def _single_frame(long: np.ndarray, short: np.ndarray, **kw: object) -> tuple[np.ndarray, bool]:
    return extract_single_frame_features(long, **kw), True  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def fake_head_bundle(tmp_path_factory) -> object:
    """A third white-balance head from outside the zoo: an MLP over the 6 single-frame statistics, exported
    through the ordinary gate, its manifest then saying which task and extractor it is."""
    from converters import export

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3), torch.nn.Softplus())
    root = tmp_path_factory.mktemp("fake-head")
    bundle = export(net.eval(), root / "fake", input_shape=(1, 6), show_progress=False, log=lambda m: None)
    m = read_manifest(bundle)
    m = dataclasses.replace(m, task="illuminant-estimation",
                            preprocessing={"kind": "feature-vector", "extractor": "single-frame-stats"})
    (bundle / MANIFEST_NAME).write_text(m.dumps())
    return bundle


def test_a_third_awb_head_is_one_table_entry(fake_head_bundle, monkeypatch, cli) -> None:
    with pytest.raises(ManifestError, match="single-frame-stats"):  # not known until the table has it
        WhiteBalance(fake_head_bundle)
    # the whole integration of a new head: one row
    monkeypatch.setitem(AWB_EXTRACTORS, "single-frame-stats", AwbExtractor(6, _single_frame, "test head"))

    wb = pipeline_for(load(fake_head_bundle))
    assert isinstance(wb, WhiteBalance) and wb.extractor_name == "single-frame-stats"
    from edge_sdk.data.dual_exposure import generate_scene

    sc = generate_scene(0, "test", 72, 128)
    res = wb((sc.long, sc.short), white_level=sc.white_level, black_level=sc.black_level)
    feats = extract_single_frame_features(sc.long, white_level=sc.white_level, black_level=sc.black_level)
    expect = wb.session(feats[None])[0]
    np.testing.assert_allclose(res.illuminant, expect / np.linalg.norm(expect), rtol=1e-5, atol=1e-6)
    r = cli("run", str(fake_head_bundle), "synthetic://dual-exposure?count=3&size=128x72", "--json")
    assert r.code == 0, r.err
    assert r.json()["frames"] == 3 and r.json()["task"] == "illuminant-estimation"


def test_task_table_picks_the_pipeline(zoo_bundle, mlp_bundle) -> None:
    assert set(TASK_PIPELINES) == {"classification", "illuminant-estimation"}
    assert isinstance(pipeline_for(load(zoo_bundle("compact-cnn"))), Classifier)
    wb = pipeline_for(load(zoo_bundle("emlp")))
    assert isinstance(wb, WhiteBalance) and wb.extractor_name == "def"
    with pytest.raises(ManifestError, match="no camera pipeline for a generic model"):
        task_of(load(mlp_bundle))
    with pytest.raises(InputError, match="illuminant-estimation bundle, got a classification"):
        WhiteBalance(zoo_bundle("compact-cnn"))


def test_extractor_names_old_manifests_and_mismatches(zoo_bundle, tmp_path) -> None:
    old = {"feature": "dual-exposure-feature", "extractor": "edge_sdk.awb.features:extract_features"}
    assert extractor_name(SimpleNamespace(preprocessing=old)) == "def"  # emlp bundles exported before the names
    assert extractor_name(None) == "def"  # a bare .onnx
    bundle = shutil.copytree(zoo_bundle("emlp"), tmp_path / "emlp")
    m = read_manifest(bundle)
    (bundle / MANIFEST_NAME).write_text(dataclasses.replace(m, preprocessing={**m.preprocessing, **old}).dumps())
    assert WhiteBalance(bundle).extractor_name == "def"
    with pytest.raises(InputError, match="'log-chroma-hist' extractor gives 2050 values"):
        WhiteBalance(bundle, extractor="log-chroma-hist")  # the width must fit the model, never guessed from it
    evil = {**m.preprocessing, "extractor": "os:system"}  # a name selects a row; nothing is imported
    (bundle / MANIFEST_NAME).write_text(dataclasses.replace(m, preprocessing=evil).dumps())
    with pytest.raises(ManifestError, match="unknown white-balance feature extractor 'os:system'"):
        WhiteBalance(bundle)
    assert issubclass(ManifestError, EdgeSDKError)
