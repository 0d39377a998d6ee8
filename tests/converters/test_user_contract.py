"""Your own model, end to end (issue #12): what the user declares at export travels in the manifest and drives the app.

Models written to .py files as a user would, exported from the CLI with task, preprocessing, labels and output
names, then run through ``Classifier``, ``edge-sdk run`` and ``samples/classify_camera.py``; no JSON edited by hand.
The models are built so their answer is known without training: the logits are each colour channel's mean, in the
model's channel order, so a frame of pure blue must come out "blue", and a BGR/RGB mix-up comes out "red".
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from converters.input_shapes import InputShapeError, parse_shape, split_shape
from edge_sdk.errors import EdgeSDKError, ManifestError
from edge_sdk.preprocess import FeatureVectorPreprocessing, ImagePreprocessing, parse_preprocessing, preprocess_image
from tests.conftest import REPO

MODELS = '''
import torch


class ColourNet(torch.nn.Module):
    """Logits: 10 x each channel's mean, in the model's channel order."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, 1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.eye(3).reshape(3, 3, 1, 1) * 10)
            self.conv.bias.zero_()

    def forward(self, x):
        return self.conv(x).mean((2, 3))


class TwoHeads(ColourNet):
    """(distance, logits): the first output ranks the classes backwards, so reading it would name the wrong one."""

    def forward(self, x):
        logits = self.conv(x).mean((2, 3))
        return -2 * logits, logits


class Probabilities(ColourNet):
    """Ends in softmax: its output already holds the probabilities."""

    def forward(self, x):
        return torch.softmax(self.conv(x).mean((2, 3)) / 8, 1)


class FCN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.body = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
                                        torch.nn.Conv2d(8, 2, 3, stride=2, padding=1))

    def forward(self, x):
        return self.body(x)


class NotConvolutional(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.fc = torch.nn.Linear(4 * 32 * 32, 2)

    def forward(self, x):
        return self.fc(self.conv(x).flatten(1))


def classifier():
    return ColourNet()


def two_heads():
    return TwoHeads()


def fcn():
    return FCN()


def probabilities():
    return Probabilities()


def not_convolutional():
    return NotConvolutional()
'''

COLOURS_BGR = {"blue": (255, 0, 0), "green": (0, 255, 0), "red": (0, 0, 255)}


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """models.py, label files, and frames of pure colour (sizes that need the centre crop and a resize)."""
    d = tmp_path_factory.mktemp("user-contract")
    (d / "models.py").write_text(MODELS)
    (d / "bgr.txt").write_text("blue\ngreen\n\nred\n")  # the blank line is skipped
    (d / "rgb.txt").write_text("red\ngreen\nblue\n")
    (d / "frames").mkdir()
    for name, bgr in COLOURS_BGR.items():
        img = np.zeros((48, 80, 3), np.uint8)
        img[:] = bgr
        img[:, :8] = 0  # a black border the centre crop removes
        cv2.imwrite(str(d / "frames" / f"{name}.png"), img)
    return d


def _cli(*args: object) -> int:
    from edge_sdk.cli.main import main

    try:
        return main([str(a) for a in args])
    except SystemExit as e:
        return int(e.code or 0)


@pytest.fixture(scope="module")
def clf_bundle(work) -> Path:
    out = work / "clf"
    code = _cli("export", f"{work / 'models.py'}:classifier", "--input-shape", "1x3x32x32", "--task", "classification",
                "--color", "bgr", "--mean", "0.5", "--std", "0.25", "--labels", work / "bgr.txt", "-o", out, "-q")
    assert code == 0
    return out


@pytest.fixture(scope="module")
def two_head_bundle(work) -> Path:
    out = work / "two"
    code = _cli("export", f"{work / 'models.py'}:two_heads", "--input-shape", "1x3x32x32", "--task", "classification",
                "--output-names", "distance,logits", "--task-output", "logits", "--color", "rgb",
                "--input-range=-1,1", "--resize", "stretch", "--labels", work / "rgb.txt", "-o", out, "-q")
    assert code == 0
    return out


def _manifest(bundle: Path) -> dict:
    return json.loads((bundle / "manifest.json").read_text())


def _frames(work: Path) -> dict[str, np.ndarray]:
    return {p.stem: cv2.imread(str(p), cv2.IMREAD_COLOR) for p in sorted((work / "frames").glob("*.png"))}


def _run_sample(work: Path, bundle: Path) -> str:
    p = subprocess.run([sys.executable, str(REPO / "samples" / "classify_camera.py"), f"dir://{work / 'frames'}",
                        "--model", str(bundle)], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip().splitlines()[-1]


# --- the manifest carries what was declared -----------------------------------------------------------------------


def test_declarations_travel_in_the_manifest(clf_bundle, two_head_bundle) -> None:
    m = _manifest(clf_bundle)
    assert m["task"] == "classification" and m["labels"] == ["blue", "green", "red"]
    assert m["preprocessing"] == {"kind": "image", "layout": "NCHW", "color": "bgr", "size": [32, 32],
                                  "scale": 1 / 255, "mean": [0.5], "std": [0.25], "resize": "center-crop"}
    assert "task_output" not in m  # one output: the first
    two = _manifest(two_head_bundle)
    assert [o["name"] for o in two["outputs"]] == ["distance", "logits"] and two["task_output"] == "logits"
    pre = two["preprocessing"]  # --input-range -1,1: pixels 0..255 -> -1..1
    assert pre["color"] == "rgb" and pre["resize"] == "stretch"
    assert (0 * pre["scale"] - pre["mean"][0]) / pre["std"][0] == -1.0
    assert (255 * pre["scale"] - pre["mean"][0]) / pre["std"][0] == pytest.approx(1.0)


# --- ... and drives Classifier, edge-sdk run and the sample -------------------------------------------------------


@pytest.mark.parametrize("which", ["clf", "two"])
def test_classifier_uses_the_declared_labels_colour_and_output(work, clf_bundle, two_head_bundle, which) -> None:
    from edge_sdk.pipelines import Classifier

    clf = Classifier(clf_bundle if which == "clf" else two_head_bundle, top_k=3)
    for colour, frame in _frames(work).items():
        pred = clf(frame)
        assert pred.label == colour and pred.score > 0.99, (colour, pred.labels, pred.scores)
        assert sorted(pred.labels) == ["blue", "green", "red"]


@pytest.mark.parametrize("which", ["clf", "two"])
def test_edge_sdk_run_and_the_sample_name_the_right_labels(cli, work, clf_bundle, two_head_bundle, which) -> None:
    bundle = clf_bundle if which == "clf" else two_head_bundle
    r = cli("run", bundle, f"dir://{work / 'frames'}", "--json")
    assert r.code == 0, r.err
    got = {rec["source_file"]: rec["label"] for rec in r.json()["per_frame"]}
    assert got == {f"{c}.png": c for c in COLOURS_BGR}
    line = _run_sample(work, bundle)
    assert line.startswith("summary: frames=3 ") and "top1=" in line
    assert sorted(line.split("top1=")[1].split(",")) == ["blue:1", "green:1", "red:1"]


def test_a_bundle_without_the_classification_task_is_refused_with_the_fix(mlp_bundle) -> None:
    from edge_sdk.pipelines import Classifier

    m = _manifest(mlp_bundle)
    assert m["task"] == "generic" and m["preprocessing"] == {}  # nothing declared, nothing invented
    with pytest.raises(ManifestError, match="re-export it with edge-sdk export ... --task classification"):
        Classifier(mlp_bundle)


def test_a_model_that_outputs_probabilities_is_not_softmaxed_twice(cli, work, clf_bundle, tmp_path) -> None:
    from edge_sdk.pipelines import Classifier
    from edge_sdk.preprocess import preprocess_image
    from runtimes import load

    r = cli("export", f"{work / 'models.py'}:probabilities", "--input-shape", "1x3x32x32", "--task", "classification",
            "--scores", "probabilities", "--color", "bgr", "--mean", "0.5", "--std", "0.25", "--labels",
            work / "bgr.txt", "-o", tmp_path / "p", "-q")
    assert r.code == 0, r.err
    assert _manifest(tmp_path / "p")["scores"] == "probabilities" and "scores" not in _manifest(clf_bundle)
    clf = Classifier(tmp_path / "p", top_k=3)
    with load(tmp_path / "p") as session:
        for colour, frame in _frames(work).items():
            own = session(preprocess_image(frame, clf.spec)[None])[0]  # the model's own probabilities
            pred = clf(frame)
            assert pred.label == colour and pred.scores == pytest.approx(sorted(own, reverse=True), abs=1e-6)
            assert 0.9 < pred.score < 0.999  # softmax of probabilities would flatten it to ~0.5
    assert Classifier(clf_bundle)(_frames(work)["blue"]).score > 0.999  # logits (no "scores"): softmax applied


def test_the_manifest_scores_field_is_checked(clf_bundle) -> None:
    from runtimes.manifest import Manifest

    m = _manifest(clf_bundle)
    assert Manifest.from_json(m).scores == ""  # written without it: logits
    assert Manifest.from_json({**m, "scores": "probabilities"}).to_json()["scores"] == "probabilities"
    with pytest.raises(ManifestError, match="manifest field scores must be logits or probabilities"):
        Manifest.from_json({**m, "scores": "softmax"})


def _colour_folder(work: Path) -> None:
    """work/folder: an ImageFolder of pure colours, one sub-folder per label, two levels each."""
    for colour, bgr in COLOURS_BGR.items():
        (work / "folder" / colour).mkdir(parents=True, exist_ok=True)
        for i, level in enumerate((255, 200)):
            cv2.imwrite(str(work / "folder" / colour / f"{i}.png"),
                        np.full((40, 40, 3), [level * (c > 0) for c in bgr], np.uint8))


def test_validate_a_user_bundle_on_an_image_folder_judges_the_task_output(cli, work, two_head_bundle) -> None:
    # the manifest's preprocessing and labels read the images; top-1 reads "logits", not the first output
    _colour_folder(work)
    r = cli("validate", two_head_bundle, "--model", f"{work / 'models.py'}:two_heads", "--val-data", work / "folder",
            "--json")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert report["samples"] == 6 and report["passed"]
    assert report["metric"]["name"] == "top1" and report["metric"]["reference"] == 100.0  # "distance" gives 0


# --- declarations that do not fit the model are refused before export ---------------------------------------------


@pytest.mark.parametrize(("extra", "needle"), [
    (("--labels", "rgb4.txt"), "4 labels for output 'output' with 3 classes"),
    (("--output-names", "a,b"), "2 output names (a, b) for a model with 1 output"),
    (("--task-output", "logits"), "task output 'logits' is not one of the outputs (output)"),
    (("--color", "gray"), "color gray gives 1-channel images, but the model's input 1x3x32x32"),
    (("--mean", "0.5,0.5"), "preprocessing mean (--mean) must be"),
    (("--input-range=-1,1", "--mean", "0.5"), "input_range replaces scale, mean and std; drop mean"),
    (("--task", "Classify Me"), "task 'Classify Me' must be a short lower-case name"),
    (("--mean", "a,b"), "--mean 'a,b': expected numbers separated by commas"),
    (("--task", "regression", "--scores", "probabilities"), "--scores says what a classifier's output holds"),
])
def test_bad_declarations_are_one_line_errors_before_export(cli, work, tmp_path, extra, needle) -> None:
    (work / "rgb4.txt").write_text("red\ngreen\nblue\nalpha\n")
    args = [a if a != "rgb4.txt" else work / a for a in extra]
    r = cli("export", f"{work / 'models.py'}:classifier", "--input-shape", "1x3x32x32", "--task", "classification",
            *args, "-o", tmp_path / "b", "-q")
    assert r.code == 1 and needle in r.err and len(r.err.strip().splitlines()) == 1, r.err
    assert not (tmp_path / "b").exists()


def test_a_classifier_output_must_be_batch_x_classes(work, tmp_path) -> None:
    from converters import export

    with pytest.raises(EdgeSDKError, match="a classifier's output must be batch x classes.*Nx2x16x16"):
        export(f"{work / 'models.py'}:fcn", tmp_path / "b", input_shape=(1, 3, 32, 32), task="classification",
               show_progress=False, log=lambda m: None)


@pytest.mark.parametrize(("shape", "needle"), [
    ("3x64x64", "starts with a batch of 3: the first dim is the batch, which every bundle keeps symbolic; write it "
                "as 1, e.g. 1x3x64x64"),
    ("8x3x64x64", "write it as 1, e.g. 1x3x64x64"),
    ("1x1x32x32", "its first layer, Conv2d, takes Nx3xHxW: e.g. --input-shape 1x3x64x64"),
    ("1x3x32", "its first layer, Conv2d, takes Nx3xHxW"),
    ("1x3x3.5x32", "each a whole number or a name"),
])
def test_input_shapes_that_do_not_fit_are_typed_errors_naming_the_layout(cli, work, tmp_path, shape, needle) -> None:
    from converters import export

    r = cli("export", f"{work / 'models.py'}:classifier", "--input-shape", shape, "-o", tmp_path / "b", "-q")
    assert r.code == 1 and needle in r.err and len(r.err.strip().splitlines()) == 1, r.err
    if "." not in shape:
        with pytest.raises(InputShapeError, match=re.escape(needle)):
            export(f"{work / 'models.py'}:classifier", tmp_path / "b", input_shape=parse_shape(shape),
                   show_progress=False, log=lambda m: None)
    assert not (tmp_path / "b").exists()


# --- symbolic height and width ------------------------------------------------------------------------------------


def test_shapes_with_symbolic_dims() -> None:
    assert split_shape(parse_shape("1x3xHxW")) == ((1, 3, 64, 64), {2: "H", 3: "W"})
    assert split_shape((1, 3, 96, 80), [2, 3]) == ((1, 3, 96, 80), {2: "height", 3: "width"})
    assert split_shape(parse_shape("Nx16"), {1: "features"}) == ((1, 16), {1: "features"})
    with pytest.raises(InputShapeError, match="both named 'H'"):
        split_shape(parse_shape("1x3xHxH"))
    with pytest.raises(InputShapeError, match="dynamic axis 4 is not an axis"):
        split_shape((1, 3, 8, 8), [4])


def test_fully_convolutional_model_exports_symbolic_validates_at_two_sizes_runs_at_a_third(cli, work) -> None:
    import torch

    import edge_sdk

    out = work / "fcn"
    r = cli("export", f"{work / 'models.py'}:fcn", "--input-shape", "1x3x32x32", "--dynamic-axes", "2,3", "--task",
            "segmentation", "-o", out, "--json")
    assert r.code == 0, r.err
    m = r.json()["manifest"]
    assert m["inputs"][0]["shape"] == ["batch", 3, "height", "width"]
    assert m["preprocessing"]["kind"] == "image" and "size" not in m["preprocessing"]  # frames keep their size
    sizes = m["extra"]["parity_at_sizes"]
    assert [s["input_shape"] for s in sizes] == [[1, 3, 32, 32], [1, 3, 64, 64]]
    assert sizes[1]["passed"] and min(sizes[1]["sqnr_db"].values()) >= 60 and m["parity"]["passed"]
    x = np.random.default_rng(1).standard_normal((2, 3, 40, 56)).astype(np.float32)  # a third size
    with edge_sdk.load(out, backend="onnxruntime") as session:
        y = session(x)
    from converters.sources import resolve_model

    with torch.inference_mode():
        want = resolve_model(f"{work / 'models.py'}:fcn", input_shape=(1, 3, 32, 32)).module(torch.from_numpy(x))
    assert y.shape == (2, 2, 20, 28)
    np.testing.assert_allclose(y, want.numpy(), rtol=1e-4, atol=1e-5)


def test_a_model_that_fixes_its_size_cannot_keep_it_symbolic(cli, work, tmp_path) -> None:
    r = cli("export", f"{work / 'models.py'}:not_convolutional", "--input-shape", "1x3x32x32", "--dynamic-axes",
            "2,3", "-o", tmp_path / "b", "-q")
    assert r.code == 1 and "cannot keep input axes 2 (height), 3 (width) symbolic: it runs at 1x3x32x32 but not " \
        "at 1x3x64x64" in r.err, r.err
    assert not (tmp_path / "b").exists()


# --- the preprocessing schema ---------------------------------------------------------------------------------------


def test_colour_orders_layouts_and_letterbox() -> None:
    frame = np.zeros((20, 40, 3), np.uint8)
    frame[:] = (10, 20, 30)  # B, G, R as OpenCV gives them
    base = {"size": [10, 10], "scale": 1.0, "mean": [0.0], "std": [1.0], "resize": "stretch"}

    def pixel(spec: dict, *at: int) -> np.ndarray:
        return np.round(preprocess_image(frame, {**base, **spec})[at], 3)

    assert pixel({"color": "bgr"}, slice(None), 0, 0).tolist() == [10, 20, 30]
    assert pixel({"color": "rgb"}, slice(None), 0, 0).tolist() == [30, 20, 10]
    nhwc = preprocess_image(frame, {**base, "color": "rgb", "layout": "NHWC"})
    assert nhwc.shape == (10, 10, 3) and np.round(nhwc[0, 0], 3).tolist() == [30, 20, 10]
    boxed = {"color": "bgr", "resize": "letterbox", "pad_value": 114}
    assert preprocess_image(frame, {**base, **boxed}).shape == (3, 10, 10)
    assert pixel(boxed, slice(None), 0, 0).tolist() == [114] * 3  # padded above the image
    assert pixel(boxed, slice(None), 5, 5).tolist() == [10, 20, 30]  # the image in the middle
    assert preprocess_image(frame, {**base, "color": "gray"}).shape == (1, 10, 10)
    free = preprocess_image(frame, {k: v for k, v in base.items() if k != "size"} | {"color": "rgb"})
    assert free.shape == (3, 20, 40)  # no size: the frame keeps its own


def test_manifests_written_before_kind_still_load() -> None:
    old_gray = {"layout": "NCHW", "color": "gray", "size": [28, 28], "scale": 1 / 255, "mean": [0.0], "std": [1.0]}
    spec = parse_preprocessing(old_gray)
    assert isinstance(spec, ImagePreprocessing) and spec.resize == "center-crop" and spec.size == (28, 28)
    assert parse_preprocessing({**old_gray, "crop": "none"}).resize == "stretch"  # type: ignore[union-attr]
    old_emlp = {"feature": "dual-exposure-feature", "extractor": "edge_sdk.awb.features:extract_features",
                "inputs": ["long", "short"], "extractor_kwargs": ["white_level", "black_level"],
                "standardisation": "folded", "sensor": {"name": "x"}}
    assert isinstance(parse_preprocessing(old_emlp), FeatureVectorPreprocessing)
    assert parse_preprocessing({}) is None
    with pytest.raises(ManifestError, match=r"preprocessing.colour must be absent: not a field of image"):
        parse_preprocessing({**old_gray, "colour": "bgr"})
    with pytest.raises(ManifestError, match="preprocessing.kind must be image or feature-vector"):
        parse_preprocessing({"kind": ["image"]})


# --- README workflow 1, as written ---------------------------------------------------------------------------------


def _readme_workflow_1() -> tuple[str, list[str]]:
    section = (REPO / "README.md").read_text().split("### 1.", 1)[1].split("\n### ", 1)[0]
    net = next(b for b in re.findall(r"```python\n(.*?)```", section, flags=re.S) if b.startswith("# net.py"))
    block = next(b for b in re.findall(r"```bash\n(.*?)```", section, flags=re.S) if "net.py:make_model" in b)
    return net, [c for c in block.replace("\\\n", " ").splitlines() if c.strip()]


def test_readme_workflow_1_runs_as_written(tmp_path, monkeypatch) -> None:
    import skimage.data as sk

    net, commands = _readme_workflow_1()
    assert [c.split()[:2] for c in commands] == [["edge-sdk", "export"], ["edge-sdk", "run"], ["python", "samples/"
                                                                                               "classify_camera.py"]]
    (tmp_path / "net.py").write_text(net)
    (tmp_path / "labels.txt").write_text("cat\ndog\nbird\n")
    (tmp_path / "photos").mkdir()
    rng = np.random.default_rng(0)
    for i, im in enumerate([sk.astronaut(), sk.chelsea(), sk.coffee(), sk.rocket()] * 3):
        side = int(min(im.shape[:2]) * rng.uniform(0.4, 0.9))
        crop = np.ascontiguousarray(im[:side, :side, ::-1])
        cv2.imwrite(str(tmp_path / "photos" / f"{i:02d}.jpg"), cv2.resize(crop, (96, 72)))
    monkeypatch.chdir(tmp_path)
    for command in commands:
        args = shlex.split(command, comments=True)
        if args[0] == "edge-sdk":
            assert _cli(*args[1:]) == 0, command
        else:
            p = subprocess.run([sys.executable, str(REPO / args[1]), *args[2:]], capture_output=True, text=True,
                               timeout=120)
            assert p.returncode == 0, p.stderr
            counts = p.stdout.strip().splitlines()[-1].split("top1=")[1].split(",")
            assert {c.split(":")[0] for c in counts} <= {"cat", "dog", "bird"}
            assert sum(int(c.split(":")[1]) for c in counts) == 12
    assert _manifest(tmp_path / "bundles" / "net")["labels"] == ["cat", "dog", "bird"]
    rows = (tmp_path / "results.csv").read_text().splitlines()
    assert len(rows) == 13 and {r.split(",")[3] for r in rows[1:]} <= {"cat", "dog", "bird"}
    assert len(list((tmp_path / "labelled").iterdir())) == 12


def test_on_device_check_judges_the_task_output(cli, work, tmp_path) -> None:
    # golden samples with labels: the device check's top-1 reads "logits" (the declared task output), not "distance"
    _colour_folder(work)
    out = tmp_path / "two-labelled"
    r = cli("export", f"{work / 'models.py'}:two_heads", "--input-shape", "1x3x32x32", "--task", "classification",
                "--output-names", "distance,logits", "--task-output", "logits", "--color", "rgb",
                "--input-range=-1,1", "--resize", "stretch", "--labels", work / "rgb.txt",
                "--val-data", work / "folder", "-o", out, "-q")
    assert r.code == 0, r.err
    r = cli("check", out, "--json")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert report["metric"]["name"] == "top1" and report["metric"]["reference"] == 100.0, report["metric"]
