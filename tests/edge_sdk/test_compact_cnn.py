"""compact-cnn: architecture bounds, shipped weights, and the two-stage recipe really running."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edge_sdk.data.digits import load_digits28  # noqa: E402
from edge_sdk.errors import DatasetError, InputError  # noqa: E402
from edge_sdk.training import compact_cnn as recipe  # noqa: E402
from edge_sdk.training.evaluate import evaluate_classifier  # noqa: E402
from edge_sdk.zoo import create_model, get_spec  # noqa: E402
from edge_sdk.zoo.compact_cnn import build  # noqa: E402
from edge_sdk.zoo.weights import load_into, read_state_dict  # noqa: E402

from .test_datasets import idx_bytes, write  # noqa: E402


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


# ------------------------------------------------------------------------------------------ model


def test_param_counts_and_shapes() -> None:
    mnist, cifar = build(), build(in_channels=3, variant="cifar")
    assert n_params(mnist) <= 15_000 and abs(n_params(mnist) - 14_862) < 100  # the paper's budget
    assert n_params(cifar) <= 20_000
    assert mnist.eval()(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert cifar.eval()(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(InputError, match="unknown compact-cnn variant"):
        build(variant="imagenet")


def test_only_plain_ops() -> None:
    allowed = (torch.nn.Conv2d, torch.nn.BatchNorm2d, torch.nn.ReLU, torch.nn.MaxPool2d, torch.nn.AdaptiveAvgPool2d,
               torch.nn.Flatten, torch.nn.Linear, torch.nn.Sequential)
    for m in (build(), build(3, variant="cifar")):
        kinds = {type(x) for x in m.modules()} - {type(m)}
        assert all(issubclass(k, allowed) for k in kinds), kinds


def test_onnx_export_matches_torch(tmp_path: Path) -> None:
    pytest.importorskip("onnxscript")
    ort = pytest.importorskip("onnxruntime")
    model = build().eval()
    x = torch.rand(3, 1, 28, 28)
    path = tmp_path / "m.onnx"
    torch.onnx.export(model, (x,), str(path), dynamo=True, input_names=["input"], output_names=["logits"],
                      dynamic_shapes={"x": {0: torch.export.Dim("batch")}})
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["input"] and len(sess.get_outputs()) == 1
    got = sess.run(None, {"input": x.numpy()})[0]
    np.testing.assert_allclose(got, model(x).detach().numpy(), rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------------------------------ shipped weights


def test_shipped_weights_reach_97_percent_on_digits28_test() -> None:
    spec = get_spec("compact-cnn")
    assert spec.weights_available, "edge_sdk/zoo/weights/compact-cnn.safetensors is missing"
    res = evaluate_classifier("compact-cnn", "digits-28", "test")
    assert res["n"] == 360
    assert res["top1"] >= 0.97, res


def test_shipped_weights_metadata() -> None:
    from safetensors import safe_open

    with safe_open(str(get_spec("compact-cnn").weights_path), "pt") as f:
        meta = f.metadata()
    assert meta["seed"] == "0" and meta["dataset"] == "digits-28" and "progressive" in meta["recipe"]
    assert float(meta["test_top1"]) >= 0.97


def test_evaluate_classifier_module_and_errors() -> None:
    model = create_model("compact-cnn")
    res = evaluate_classifier(model, split="val")
    assert res["n"] == 179 and 0 <= res["top1"] <= 1
    with pytest.raises(DatasetError, match="takes 3x32x32"):
        evaluate_classifier("compact-cnn-cifar")  # no shipped weights either way, but shape is checked first
    del model


# ------------------------------------------------------------------------------------------ recipe pieces


def test_dual_input_output_concatenates_and_starts_identical() -> None:
    dual = recipe.DualInputOutput(build)
    for (k, a), b in zip(dual.orig.state_dict().items(), dual.aug.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    out = dual.eval()(torch.rand(4, 1, 28, 28), torch.rand(4, 1, 28, 28))
    assert out.shape == (4, 30)
    assert [t.shape for t in dual.split(out)] == [(4, 10)] * 3


def test_merge_backbones_averages_and_keeps_head() -> None:
    torch.manual_seed(0)
    a, b, into = build(), build(), build()
    head_before = {k: v.clone() for k, v in into.head.state_dict().items()}
    recipe.merge_backbones(a, b, into)
    sa, sb, si = a.state_dict(), b.state_dict(), into.state_dict()
    for k in si:
        if k.startswith("head."):
            assert torch.equal(si[k], head_before[k[5:]])
        elif si[k].is_floating_point():
            assert torch.allclose(si[k], (sa[k] + sb[k]) / 2)


def _tiny_xy(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    x, y = load_digits28("train")
    idx = np.random.default_rng(seed).choice(len(x), n, replace=False)
    return x[idx], y[idx]


def test_progressive_unfreezing_freezes_the_right_blocks() -> None:
    torch.manual_seed(0)
    model = build()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    snaps: dict[int, dict[str, torch.Tensor]] = {}

    def on_phase_end(phase: int, m: torch.nn.Module) -> None:
        snaps[phase] = {k: v.clone() for k, v in m.state_dict().items()}

    sched = recipe.Schedule(stage1_epochs=1, phase_epochs=(1, 1, 1, 1), batch_size=16)
    gen = torch.Generator().manual_seed(0)
    with recipe.single_thread():
        metrics = recipe.progressive_unfreeze(model, _tiny_xy(48), _tiny_xy(16, 1), sched, lambda t: t, gen,
                                              show_progress=False, on_phase_end=on_phase_end)
    assert sorted(snaps) == [1, 2, 3, 4]

    def same(phase: int, prefix: str, ref: dict[str, torch.Tensor]) -> bool:
        # weights *and* BatchNorm statistics of a frozen block stay put
        keys = [k for k in ref if k.startswith(prefix)]
        assert keys
        return all(torch.equal(snaps[phase][k], ref[k]) for k in keys)

    # phase 1: only the head trains
    assert not same(1, "head.", before)
    assert same(1, "block3.", before) and same(1, "block2.", before) and same(1, "block1.", before)
    # phase 2: + block3
    assert not same(2, "block3.", snaps[1]) and same(2, "block2.", before) and same(2, "block1.", before)
    # phase 3: + block2
    assert not same(3, "block2.", snaps[2]) and same(3, "block1.", before)
    # phase 4: everything
    assert not same(4, "block1.", snaps[3])
    trainable = [metrics[f"stage2_phase{i}_trainable_params"] for i in range(1, 5)]
    assert trainable == sorted(trainable) and trainable[-1] == n_params(model)
    assert all(p.requires_grad for p in model.parameters())


def test_schedule_scaling() -> None:
    s = recipe.SCHEDULES["digits-28"].scaled(1)
    assert s.stage1_epochs == 1 and s.phase_epochs == (1, 1, 1, 1)
    with pytest.raises(ValueError):
        s.scaled(0)


# ------------------------------------------------------------------------------------------ train()


@pytest.fixture
def tiny_mnist(tmp_path: Path) -> Path:
    """200 train / 40 test images made from digits-28, written as gzip IDX files."""
    root = tmp_path / "mnist"
    for split, stem, n, seed in (("train", "train", 200, 0), ("test", "t10k", 40, 1)):
        x, y = load_digits28(split)
        idx = np.random.default_rng(seed).choice(len(x), n, replace=False)
        write(root / f"{stem}-images-idx3-ubyte.gz", idx_bytes(np.rint(x[idx, 0] * 255).astype(np.uint8), 8), True)
        write(root / f"{stem}-labels-idx1-ubyte.gz", idx_bytes(y[idx].astype(np.uint8), 8), True)
    return root


def test_tiny_train_runs_both_stages_and_saves_loadable_weights(tmp_path: Path, tiny_mnist: Path) -> None:
    out = tmp_path / "w" / "compact-cnn.safetensors"
    threads = torch.get_num_threads()
    metrics = recipe.train(out=out, seed=3, data=tiny_mnist, epochs=1, show_progress=False)
    assert torch.get_num_threads() == threads
    for key in ("stage1_val_top1_orig", "stage1_val_top1_aug", "stage1_val_top1_joint", "merge_val_top1",
                *(f"stage2_phase{i}_val_top1" for i in range(1, 5)), "val_top1", "test_top1"):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert metrics["stage1_epochs"] == 1 and metrics["params"] == n_params(build())
    model = create_model("compact-cnn", pretrained=False)
    load_into(model, read_state_dict(out))  # strict: exactly the build(...) architecture
    from safetensors import safe_open

    with safe_open(str(out), "pt") as f:
        meta = f.metadata()
    assert meta["seed"] == "3" and meta["dataset"] == "mnist" and meta["recipe"] == recipe.RECIPE
    assert float(meta["test_top1"]) == pytest.approx(metrics["test_top1"], abs=1e-5)


def test_train_refuses_shape_mismatch(tmp_path: Path, tiny_mnist: Path) -> None:
    with pytest.raises(DatasetError, match="train compact-cnn on it instead"):
        recipe.train(out=tmp_path / "x.safetensors", data=tiny_mnist, model_name="compact-cnn-cifar",
                     epochs=1, show_progress=False)
    with pytest.raises(DatasetError, match="--data DIR"):
        recipe.train(out=tmp_path / "x.safetensors", model_name="compact-cnn-cifar", show_progress=False)
    assert not (tmp_path / "x.safetensors").exists()


def test_evaluate_classifier_module_on_wrong_shape(tmp_path: Path) -> None:
    from .test_datasets import cifar_dir

    cifar_dir(tmp_path)
    with pytest.raises(DatasetError, match="cannot take cifar-10 test inputs"):
        evaluate_classifier(build().eval(), "cifar-10", "test", tmp_path)


def test_tiny_cifar_train_produces_cifar_variant_weights(tmp_path: Path) -> None:
    from .test_datasets import cifar_dir

    cifar_dir(tmp_path / "data" / "cifar-10-batches-bin", n=20)
    out = tmp_path / "c.safetensors"
    metrics = recipe.train(out=out, data=tmp_path / "data", epochs=1, show_progress=False,
                           model_name="compact-cnn-cifar")
    assert metrics["params"] == n_params(build(3, variant="cifar"))
    load_into(create_model("compact-cnn-cifar", pretrained=False), read_state_dict(out))
