"""Honest validation for user models (issue 12): held-out calibration samples instead of random noise, the
recorded validation data reused by `edge-sdk validate`, a user metric deciding the gate, labelled user data,
`edge-sdk eval BUNDLE`; and the regression tests of the bugs found converting models nobody here wrote."""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import os
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edge_sdk.errors import DatasetError, EdgeSDKError, InputError

NET = """
import torch

def make():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))
"""
METRIC = """
import numpy as np

def top1(outputs, labels):
    return float((next(iter(outputs.values())).argmax(1) == labels).mean())

def exactness(outputs, labels):  # labels: PyTorch FP32's own outputs; 0 is exact, lower is worse
    return -float(np.abs(next(iter(outputs.values())) - labels).max())
"""


def _main(*args: object) -> tuple[int, str, str]:
    from edge_sdk.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A classifier in a file, labelled calibration data (.npz with x and y), more labelled data, a metric file,
    and the INT8 bundle exported from the CLI with only --calib, judged by the metric top1."""
    import torch

    root = tmp_path_factory.mktemp("user")
    (root / "net.py").write_text(NET)
    (root / "metric.py").write_text(METRIC)
    namespace: dict[str, object] = {}
    exec(NET, namespace)  # noqa: S102 - the test's own model source, to compute PyTorch's answers
    net = namespace["make"]().eval()  # type: ignore[operator]
    rng = np.random.default_rng(0)
    calib = rng.standard_normal((64, 8)).astype(np.float32)
    val = rng.standard_normal((40, 8)).astype(np.float32)
    with torch.inference_mode():
        np.savez(root / "calib.npz", x=calib, y=net(torch.from_numpy(calib)).numpy().argmax(1))
        fp32 = net(torch.from_numpy(val)).numpy()
    np.savez(root / "val.npz", x=val, y=fp32.argmax(1))
    np.savez(root / "exact.npz", x=val, y=fp32)
    code, out, err = _main("export", f"{root / 'net.py'}:make", "--input-shape", "1x8", "-o", root / "int8",
                           "--precision", "int8", "--calib", root / "calib.npz", "--metric",
                           f"{root / 'metric.py'}:top1", "--metric-budget", "0.25")
    assert code == 0, err
    return SimpleNamespace(root=root, net=f"{root / 'net.py'}:make", metric=root / "metric.py", bundle=root / "int8",
                           log=err, val=val, fp32=fp32)


# -- held-out calibration samples, recorded and reused ---------------------------------------------------------


def test_calib_only_validates_on_held_out_calibration_samples(user: SimpleNamespace) -> None:
    m = json.loads((user.bundle / "manifest.json").read_text())
    v = m["extra"]["validation"]
    assert v["source"] == "calibration" and v["path"] == str((user.root / "calib.npz").resolve())
    assert v["held_out"]["indices"] == list(range(4, 64, 5)) and v["held_out"]["of"] == 64
    assert not v["held_out"]["calibrated_on_too"] and v["labels"]  # the held-out samples keep their labels
    assert m["parity"]["samples"] == 12 and "held-out calibration samples: 12 of 64" in m["parity"]["dataset"]
    assert m["calibration"]["samples"] == 52 and m["calibration"]["held_out_for_validation"] == 12
    assert "validating on 12 of the 64 calibration samples, held out" in user.log
    assert "random" not in m["parity"]["dataset"] and "random-normal" not in user.log
    assert "held out of calibration to validate" in (user.bundle / "report.md").read_text()


def test_held_out_rule() -> None:
    from converters.held_out import held_out

    assert held_out(12) == [4, 9] and held_out(4) == [3] and held_out(2) == [1] and held_out(1) == []


def test_validate_reuses_the_recorded_data_and_says_when_it_is_gone(user: SimpleNamespace, tmp_path: Path) -> None:
    code, out, err = _main("validate", user.bundle, "--model", user.net, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["samples"] == 12 and report["dataset"].endswith("(recorded at export)")
    assert report["metric"]["name"] == "output_sqnr"  # the recorded metric is code: not imported, see below
    moved = shutil.copytree(user.bundle, tmp_path / "b")
    m = json.loads((moved / "manifest.json").read_text())
    m["extra"]["validation"]["path"] = str(tmp_path / "gone.npz")
    (moved / "manifest.json").write_text(json.dumps(m))
    code, out, err = _main("validate", moved, "--model", user.net)
    assert code == 0, err
    assert "not on this machine" in out and "random-normal" in out and "--val-data" in err


def test_random_inputs_only_without_data_and_warned() -> None:
    import torch

    from converters.data import NoValidationDataWarning, export_data
    from converters.sources import resolve_model

    src = resolve_model(torch.nn.Linear(3, 2), input_shape=(1, 3))
    with pytest.warns(NoValidationDataWarning, match="--val-data"):
        evalset, _ = export_data(src)
    assert evalset.record["source"] == "random"
    evalset, calib = export_data(src, calibration=np.ones((10, 3), np.float32))  # real data: no noise, no warning
    assert evalset.record["source"] == "calibration" and len(evalset.x) == 2 and len(calib()) == 8


def test_a_manifest_never_makes_validate_import_a_metric(user: SimpleNamespace, tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    (tmp_path / "evil.py").write_text(f"open({str(marker)!r}, 'w')\ndef f(o, y):\n    return 0.0\n")
    b = shutil.copytree(user.bundle, tmp_path / "b")
    m = json.loads((b / "manifest.json").read_text())
    m["extra"]["validation"]["metric"] = {"name": "f", "source": f"{tmp_path / 'evil.py'}:f", "budget": 0.5,
                                          "mode": "higher"}
    (b / "manifest.json").write_text(json.dumps(m))
    code, out, _ = _main("validate", b, "--model", user.net)
    assert code == 0 and "pass --metric" in out and not marker.exists()
    code, out, err = _main("validate", b, "--model", user.net, "--metric", f"{user.metric}:top1", "--json")
    assert code == 0, err  # the recorded budget (0.5: a number, not code) applies to the user's own metric
    assert json.loads(out)["budget"]["limit"] == 0.5 and not marker.exists()
    code, out, err = _main("validate", user.bundle, "--model", user.net, "--metric", f"{user.metric}:top1", "--json")
    assert code == 0 and json.loads(out)["budget"]["limit"] == 0.25  # the export's budget, a number


def test_a_recorded_path_that_is_not_a_file_is_refused(user: SimpleNamespace, tmp_path: Path) -> None:
    fifo = tmp_path / "data.npz"
    os.mkfifo(fifo)
    b = shutil.copytree(user.bundle, tmp_path / "b")
    m = json.loads((b / "manifest.json").read_text())
    m["extra"]["validation"]["path"] = str(fifo)
    (b / "manifest.json").write_text(json.dumps(m))
    code, _, err = _main("validate", b, "--model", user.net)
    assert code == 1 and "not a regular file" in err


# -- a user metric decides the gate ------------------------------------------------------------------------------


def test_user_metric_passes_and_is_recorded(user: SimpleNamespace) -> None:
    m = json.loads((user.bundle / "manifest.json").read_text())  # exported with --metric metric.py:top1
    metric = m["parity"]["metric"]
    assert metric["name"] == "top1" and metric["reference"] == 1.0 and metric["source"] == f"{user.metric}:top1"
    assert metric["candidate"] >= 0.75 and m["parity"]["passed"]
    assert m["parity"]["budget"] == {"rule": "top1 drop <= 0.25 (higher is better)", "limit": 0.25}
    assert m["extra"]["validation"]["metric"] == {"name": "top1", "source": f"{user.metric}:top1", "budget": 0.25,
                                                  "mode": "higher"}


def test_user_metric_fails_the_gate_and_nothing_is_written(user: SimpleNamespace) -> None:
    out = user.root / "metric-fail"
    code, _, err = _main("export", user.net, "--input-shape", "1x8", "-o", out, "--precision", "fp16",
                         "--val-data", user.root / "exact.npz", "--metric", f"{user.metric}:exactness",
                         "--metric-budget", "1e-6")
    assert code == 1 and not out.exists()
    assert "metric exactness" in err and "exactness drop <= 1e-06" in err
    assert "SQNR" not in err  # FP16 keeps ~70 dB: the built-in gate would have passed it; the metric decided


def test_metric_arguments_are_checked(user: SimpleNamespace) -> None:
    args = ("export", user.net, "--input-shape", "1x8", "-o", user.root / "never")
    code, _, err = _main(*args, "--metric", f"{user.metric}:top1")
    assert code == 1 and "--metric-budget" in err
    code, _, err = _main(*args, "--metric-budget", "0.1")
    assert code == 1 and "needs --metric" in err
    code, _, err = _main(*args, "--metric", f"{user.metric}:nope", "--metric-budget", "0.1")
    assert code == 1 and "no function 'nope'" in err and not (user.root / "never").exists()


def test_user_metric_in_python_lower_is_better() -> None:
    from converters.eval_set import EvalSet
    from converters.parity import compare
    from converters.user_metric import resolve_metric

    def mae(outputs: dict[str, np.ndarray], labels: np.ndarray) -> float:
        return float(np.abs(outputs["y"] - labels).mean())

    y = np.zeros((4, 2), np.float32)
    ev = EvalSet(y, y, "t", metric=resolve_metric(mae, 0.1, "lower"))
    ok = compare("m", "int8", "generic", ev, {"y": y}, {"y": y + 0.05})
    bad = compare("m", "int8", "generic", ev, {"y": y}, {"y": y + 0.2})
    assert ok.passed and not bad.passed and "mae increase <= 0.1 (lower is better)" in bad.failures[0]


# -- labelled user data --------------------------------------------------------------------------------------------


def test_image_folder_gives_labels_round_robin(tmp_path: Path) -> None:
    from converters.user_data import read_data

    for name, count in (("cat", 3), ("dog", 2), ("bird", 2)):
        (tmp_path / name).mkdir()
        for i in range(count):
            cv2.imwrite(str(tmp_path / name / f"{i}.png"), np.full((8, 8), 40 * i, np.uint8))
    spec = {"color": "gray", "size": [8, 8]}
    s = read_data(tmp_path, (1, 8, 8), spec)
    assert s.format == "imagefolder" and s.x.shape == (7, 1, 8, 8)
    assert s.y.tolist() == [0, 1, 2, 0, 1, 2, 1] and s.files[:3] == ["bird/0.png", "cat/0.png", "dog/0.png"]
    s = read_data(tmp_path, (1, 8, 8), spec, labels=["dog", "cat", "bird"])  # the model's labels decide the index
    assert s.y.tolist() == [2, 1, 0, 2, 1, 0, 1] and s.classes == {"bird": 2, "cat": 1, "dog": 0}


def test_npz_never_unpickles_and_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from converters.user_data import read_data

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str, str]]:
            return (open, (str(tmp_path / "PWNED"), "w"))

    np.savez(tmp_path / "evil.npz", x=np.array([Payload()], dtype=object))
    with pytest.raises(DatasetError, match="not a plain numeric"):
        read_data(tmp_path / "evil.npz", (8,), {})
    assert not (tmp_path / "PWNED").exists()
    np.savez(tmp_path / "ok.npz", x=np.zeros((50, 8), np.float32), y=np.arange(50))
    assert read_data(tmp_path / "ok.npz", (8,), {}, count=10).y.tolist() == list(range(10))
    monkeypatch.setenv("EDGE_SDK_MAX_DATA_BYTES", "1000")
    with pytest.raises(DatasetError, match="over the limit of 1000"):
        read_data(tmp_path / "ok.npz", (8,), {})
    np.savez(tmp_path / "bad.npz", x=np.zeros((5, 8)), y=np.zeros(4))
    monkeypatch.delenv("EDGE_SDK_MAX_DATA_BYTES")
    with pytest.raises(DatasetError, match="4 labels for 5 samples"):
        read_data(tmp_path / "bad.npz", (8,), {})


# -- edge-sdk eval BUNDLE -----------------------------------------------------------------------------------------


def test_eval_takes_a_zoo_bundle(zoo_bundle, cli) -> None:  # noqa: ANN001
    bundle = zoo_bundle("compact-cnn")
    r = cli("eval", bundle, "--json")
    assert r.code == 0, r.err
    got = r.json()
    parity = json.loads((bundle / "manifest.json").read_text())["parity"]  # export measured it on the same split
    assert got["dataset"] == parity["dataset"] == "digits-28/test" and got["samples"] == parity["samples"] == 360
    assert abs(100 * got["top1"] - parity["metric"]["candidate"]) < 1e-9 and got["top1"] > 0.95


def test_eval_takes_a_user_bundle_with_data_and_metric(user: SimpleNamespace) -> None:
    code, out, err = _main("eval", user.bundle, "--data", user.root / "val.npz", "--metric", f"{user.metric}:top1",
                           "--json")
    assert code == 0, err
    r = json.loads(out)
    assert r["samples"] == 40 and 0.8 <= r["top1"] <= 1.0
    code, _, err = _main("eval", user.bundle, "--data", user.root / "val.npz")  # a generic task has no built-in metric
    assert code == 1 and "--metric" in err


# -- bugs ------------------------------------------------------------------------------------------------------------


def _graph_model(outputs: list[str], nodes: list[onnx.NodeProto], inits: list[onnx.TensorProto]) -> onnx.ModelProto:
    g = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 4])],
                          [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])


def test_fp16_outputs_stay_float32_after_softmax_and_div(tmp_path: Path) -> None:
    from converters.quantize import convert_fp16

    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((4, 4)).astype(np.float32), "w")
    two = numpy_helper.from_array(np.array(2.0, np.float32), "two")
    nodes = [helper.make_node("MatMul", ["input", "w"], ["h"], name="mm"),
             helper.make_node("Softmax", ["h"], ["probs"], name="softmax"),
             helper.make_node("Div", ["h", "two"], ["half"], name="div"), helper.make_node("Relu", ["half"], ["pos"])]
    fp32 = tmp_path / "fp32.onnx"
    onnx.save(_graph_model(["probs", "half", "pos"], nodes, [w, two]), fp32)  # "half" also feeds Relu
    convert_fp16(fp32, tmp_path / "fp16.onnx")
    onnx.checker.check_model(onnx.load(tmp_path / "fp16.onnx"), full_check=True)
    from runtimes import load

    x = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    ref = load(fp32, backend="onnxruntime").run({"input": x})
    got = load(tmp_path / "fp16.onnx", backend="onnxruntime").run({"input": x})
    assert {k: v.dtype for k, v in got.items()} == {"probs": np.float32, "half": np.float32, "pos": np.float32}
    for k in ref:
        np.testing.assert_allclose(got[k], ref[k], atol=1e-2)


def test_parity_checks_output_dtypes_against_pytorch_and_the_manifest() -> None:
    from converters.eval_set import EvalSet
    from converters.parity import compare

    y = np.linspace(1, 2, 8, dtype=np.float32).reshape(4, 2)
    ev = EvalSet(y, None, "t")
    r = compare("m", "fp16", "generic", ev, {"a": y, "b": y}, {"a": y.astype(np.float16), "b": y})
    assert not r.passed and len(r.failures) == 1 and r.failures[0].startswith("a: dtype")
    assert "float16" in r.failures[0] and "float32" in r.failures[0]
    r = compare("m", "fp16", "generic", ev, {"a": y}, {"a": y}, expected_dtypes={"a": "float16"})
    assert not r.passed and "the manifest declares float16" in r.failures[0]


def test_parity_error_names_each_failing_output_with_its_own_figure() -> None:
    from converters.eval_set import EvalSet
    from converters.parity import compare, sqnr_db

    rng = np.random.default_rng(0)
    ref = {k: rng.standard_normal((16, 4)).astype(np.float32) for k in ("ok", "bad", "worse")}
    cand = {"ok": ref["ok"] * 1.0001, "bad": ref["bad"] * 1.1, "worse": ref["worse"] * 1.5}
    r = compare("m", "int8", "generic", EvalSet(ref["ok"], None, "t"), ref, cand)
    assert [f.split(":")[0] for f in r.failures] == ["bad", "worse"]
    for name, f in zip(("bad", "worse"), r.failures):
        assert f"{sqnr_db(ref[name], cand[name]):.1f} dB" in f


def test_sqnr_is_shown_against_the_budget_not_a_capped_reference() -> None:
    from converters.eval_set import EvalSet
    from converters.parity import compare

    y = np.random.default_rng(0).standard_normal((16, 4)).astype(np.float32)
    r = compare("m", "int8", "generic", EvalSet(y, None, "t"), {"y": y}, {"y": y * 1.01})
    line = r.summary()
    assert "200" not in line and "->" not in line and "Δ" not in line
    assert "output_sqnr 40 dB, worst output (budget: output SQNR >= 25.0 dB) PASS" in line


def test_converters_validate_stays_the_function(zoo_bundle) -> None:  # noqa: ANN001
    import converters
    import converters.validate  # noqa: F401 - the submodule import that used to rebind the name
    from converters.validate import validate_bundle  # noqa: F401

    assert inspect.isfunction(converters.validate)
    assert "Re-run a bundle's parity check" in (converters.validate.__doc__ or "")
    assert converters.validate(zoo_bundle("compact-cnn")).passed


def test_session_call_refuses_a_multi_output_model(tmp_path: Path) -> None:
    from runtimes import load

    nodes = [helper.make_node("Relu", ["input"], ["a"]), helper.make_node("Neg", ["input"], ["b"])]
    onnx.save(_graph_model(["a", "b"], nodes, []), tmp_path / "two.onnx")
    sess = load(tmp_path / "two.onnx", backend="onnxruntime")
    x = np.ones((2, 4), np.float32)
    with pytest.raises(InputError, match=r"2 outputs \(a, b\).*session.run\(\{'input': x\}\)"):
        sess(x)
    out = sess.run({"input": x})
    assert list(out) == ["a", "b"] and (out["b"] == -1).all()


def test_int8_dynamic_batch_dependence_is_real_and_documented(tmp_path: Path) -> None:
    from converters.quantize import DYNAMIC_NOTE, quantize_int8_dynamic
    from edge_sdk.cli.export_cmd import DESCRIPTION
    from runtimes import load

    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((4, 4)).astype(np.float32), "w")
    onnx.save(_graph_model(["y"], [helper.make_node("MatMul", ["input", "w"], ["y"])], [w]), tmp_path / "f.onnx")
    quantize_int8_dynamic(tmp_path / "f.onnx", tmp_path / "q.onnx")
    sess = load(tmp_path / "q.onnx", backend="onnxruntime")
    x = np.random.default_rng(1).standard_normal((1, 4)).astype(np.float32)
    alone = sess.run({"input": x})["y"]
    with_outlier = sess.run({"input": np.concatenate([x, 100 * x])})["y"][:1]
    assert not np.allclose(alone, with_outlier, atol=1e-4)  # the scale spans the batch
    assert "depend slightly on the rest of its" in " ".join(DESCRIPTION.split()) and "batch" in DYNAMIC_NOTE


def test_report_notes_int8_dynamic_batching(tmp_path: Path) -> None:
    from converters.eval_set import EvalSet
    from converters.parity import compare
    from converters.quantize import DYNAMIC_NOTE
    from converters.report import render_report
    from runtimes.manifest import Manifest, TensorSpec

    y = np.ones((4, 2), np.float32)
    (tmp_path / "model.onnx").write_bytes(b"x")
    parity = compare("m", "int8-dynamic", "generic", EvalSet(y, None, "t"), {"y": y}, {"y": y}).to_json()
    m = Manifest(model="m", task="generic", precision="int8-dynamic", artifact="model.onnx", artifact_sha256="0" * 64,
                 inputs=[TensorSpec("input", ("batch", 2), "float32")],
                 outputs=[TensorSpec("y", ("batch", 2), "float32")], opset=18, sdk_version="0", parity=parity)
    assert DYNAMIC_NOTE in render_report(m, tmp_path / "model.onnx")


def test_user_data_errors_are_typed(tmp_path: Path) -> None:
    from converters.user_data import read_data

    with pytest.raises(DatasetError, match="not found"):
        read_data(tmp_path / "missing.npz", (8,), {})
    np.save(tmp_path / "x.npy", np.zeros((3, 5), np.float32))
    with pytest.raises(DatasetError, match="expected an array N x 8"):
        read_data(tmp_path / "x.npy", (8,), {})
    assert issubclass(DatasetError, EdgeSDKError)


# -- follow-ups: the task output, debug-quant's data, the help, auto's log -------------------------------------------


def test_top1_reads_the_task_output_not_the_first() -> None:
    from converters.eval_set import EvalSet
    from converters.parity import compare

    logits = np.random.default_rng(0).standard_normal((32, 4)).astype(np.float32)
    y = logits.argmax(1)
    ref = {"distance": -2 * logits, "logits": logits}
    cand = {"distance": -2 * logits, "logits": logits[::-1].copy()}  # the logits broken, the first output intact
    r = compare("m", "fp32", "classification", EvalSet(logits, y, "t"), ref, cand, task_output="logits")
    assert r.metric["reference"] == 100.0 and r.metric["candidate"] < 50.0
    assert not r.passed and r.failures[0].startswith("logits: top1")
    ok = compare("m", "fp32", "classification", EvalSet(logits, y, "t"), ref, ref, task_output="logits")
    assert ok.passed and ok.metric["reference"] == 100.0


def test_debug_quant_validates_on_held_out_calibration_samples(user: SimpleNamespace) -> None:
    import warnings

    from converters.data import NoValidationDataWarning
    from converters.debug_quant import debug_quant

    logs: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", NoValidationDataWarning)  # given --calib: never random inputs
        result = debug_quant(user.net, input_shape=(1, 8), calibration=user.root / "calib.npz", log=logs.append)
    assert "held-out calibration samples: 12 of 64" in result["data"] and result["samples"] == 12
    assert any("validating on 12 of the 64 calibration samples" in line for line in logs)
    assert result["nodes"] and all(r["sqnr_db"] is None or r["sqnr_db"] > 20 for r in result["nodes"])


def test_export_help_names_every_data_format(cli) -> None:  # noqa: ANN001
    r = cli("export", "--help")
    text = " ".join(r.out.split())
    calib = text.rsplit("--calib PATH", 1)[1].split("--calib-count", 1)[0]
    val = text.rsplit("--val-data PATH", 1)[1].split("--allow-accuracy-loss", 1)[0]
    for flag in (calib, val):
        assert "ImageFolder" in flag and ".npz" in flag and ".npy" in flag and "images" in flag, flag
    assert "every 5th --calib sample" in val


def test_auto_logs_each_candidates_metric_against_the_budget(user: SimpleNamespace, tmp_path: Path) -> None:
    from converters import export

    logs: list[str] = []
    export(user.net, tmp_path / "b", input_shape=(1, 8), precision="auto", calibration=user.root / "calib.npz",
           show_progress=False, log=logs.append)
    lines = [line for line in logs if line.startswith("auto: ") and "budget" in line]
    assert len(lines) >= 3, logs
    for line in lines:  # the candidate's own SQNR, not a Δ against PyTorch's capped 200 dB
        assert "Δ" not in line and re.search(r"output_sqnr \d+(\.\d+)? dB, worst output", line), line
