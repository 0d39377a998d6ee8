"""CARE Transformer: published sizes, block semantics, linear attention, ONNX parity, care-tiny."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

import torch  # noqa: E402

from edge_sdk.errors import WeightsError  # noqa: E402
from edge_sdk.zoo import create_model  # noqa: E402
from edge_sdk.zoo.care import VARIANTS, CareConfig, CareTransformer, build  # noqa: E402
from edge_sdk.zoo.care_blocks import ATTN_EPS, CareBlock, LinearAttention, feature_map  # noqa: E402
from edge_sdk.zoo.profile import profile_model, profile_module  # noqa: E402

# (params in M, GMACs) at 224x224, 1000 classes, as published
PUBLISHED = {"care-s0": (7.34, 0.72), "care-s1": (9.60, 1.03), "care-s2": (19.48, 1.92)}


@pytest.fixture(scope="module")
def s0_model() -> torch.nn.Module:
    return create_model("care-s0", pretrained=False)


@pytest.fixture(scope="module")
def profiles() -> dict[str, object]:
    return {name: profile_model(name) for name in PUBLISHED}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
@pytest.mark.parametrize("kind", ["params", "macs"])
def test_published_sizes_within_2_percent(profiles: dict[str, object], name: str, kind: str) -> None:
    params_m, gmacs = PUBLISHED[name]
    prof = profiles[name]
    measured = prof.params / 1e6 if kind == "params" else prof.macs / 1e9  # type: ignore[attr-defined]
    target = params_m if kind == "params" else gmacs
    assert abs(measured / target - 1) < 0.02, f"{name} {kind}: {measured:.3f} vs published {target}"


def test_flop_counter_counts_depthwise_convs_and_attention_matmuls() -> None:
    dw = torch.nn.Conv2d(8, 8, (11, 1), padding=(5, 0), groups=8, bias=False)
    assert profile_module(dw, (8, 14, 14)).macs == 8 * 11 * 14 * 14
    attn = LinearAttention(32, 16)
    n, d, h = 7 * 7, 16, 2
    qk = 32 * 64 * n
    matmuls = h * (d * d * n + d * d * n + d * n)  # v k^T, kv q, mean(k)^T q
    assert profile_module(attn, (32, 7, 7)).macs == qk + matmuls


def test_forward_shapes(s0_model: torch.nn.Module) -> None:
    tiny = build("tiny", num_classes=10, in_channels=1).eval()
    assert tiny(torch.rand(3, 1, 28, 28)).shape == (3, 10)
    with torch.no_grad():
        out = s0_model(torch.rand(1, 3, 224, 224))
    assert out.shape == (1, 1000) and torch.isfinite(out).all()
    with torch.device("meta"):
        for v in ("s1", "s2"):
            assert build(v).eval()(torch.zeros(2, 3, 224, 224)).shape == (2, 1000)
        assert build("s0", num_classes=7, in_channels=1)(torch.zeros(1, 1, 224, 224)).shape == (1, 7)


def test_variant_configs() -> None:
    assert VARIANTS["s0"].depths == (2, 4, 8, 4) and VARIANTS["s1"].depths == (3, 6, 10, 6)
    assert VARIANTS["s2"].dims == (32, 64, 192, 384) and VARIANTS["s2"].memory == (8, 16, 48, 96)
    assert VARIANTS["s0"].ratios == ((2, 2), (2, 4), (4, 4), (4, 4))
    assert all(True in c.attention and False in c.attention for c in VARIANTS.values())
    with pytest.raises(ValueError, match="unknown CARE variant"):
        build("s9")
    with pytest.raises(ValueError, match="4 x its memory"):
        CareConfig(depths=(1,), dims=(16,), memory=(8,), ratios=((2, 2),), attention=(False,), head_dims=(8,))
    with pytest.raises(Exception):  # noqa: B017 - frozen dataclass
        VARIANTS["s0"].depths = (1, 1, 1, 1)  # type: ignore[misc]


def test_linear_attention_matches_quadratic_formula() -> None:
    torch.manual_seed(0)
    attn = LinearAttention(32, 16).double()
    x = torch.randn(2, 32, 5, 6, dtype=torch.float64)
    got = attn(x)
    # direct O(N^2): out_n = sum_m <phi(q_n), phi(k_m)> v_m / N / (sum_m <phi(q_n), phi(k_m)> / N + eps)
    q, k = attn.qk(x).chunk(2, dim=1)
    q, k = feature_map(q), feature_map(k)
    b, c, h, w = x.shape
    n, heads, d = h * w, 2, 16
    q = q.reshape(b, heads, d, n).transpose(-1, -2)  # (B, h, N, d)
    k = k.reshape(b, heads, d, n).transpose(-1, -2)
    v = x.reshape(b, heads, d, n).transpose(-1, -2)
    scores = torch.einsum("bhnd,bhmd->bhnm", q, k)  # (B, h, N, N)
    expected = (scores @ v / n) / (scores.sum(-1, keepdim=True) / n + ATTN_EPS)
    expected = expected.transpose(-1, -2).reshape(b, c, h, w)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)


def test_memory_channels_are_passed() -> None:
    torch.manual_seed(0)
    model = build("tiny", num_classes=10, in_channels=1).eval()
    assert isinstance(model, CareTransformer)
    stage = model.stages[1]
    assert isinstance(stage, torch.nn.Sequential)
    blocks = [b for b in stage if isinstance(b, CareBlock)]
    assert len(blocks) == 2
    g = blocks[0].memory_channels
    for b in blocks:
        b.gamma.data.fill_(1.0)
    seen: dict[str, torch.Tensor] = {}
    hooks = [
        blocks[0].register_forward_hook(lambda m, i, o: seen.__setitem__("out0", o)),
        blocks[1].register_forward_pre_hook(lambda m, i: seen.__setitem__("in1", i[0])),
        blocks[1].inter2.register_forward_pre_hook(lambda m, i: seen.__setitem__("inter2_in1", i[0])),
        blocks[1].inter1.register_forward_pre_hook(lambda m, i: seen.__setitem__("inter1_in1", i[0])),
    ]
    x = torch.randn(2, blocks[0].gamma.shape[0], 7, 7)
    with torch.no_grad():
        stage(x)
        memory = seen["out0"][:, :g]  # block 0 writes the next block's memory into its first g channels
        torch.testing.assert_close(seen["in1"][:, :g], memory)
        torch.testing.assert_close(seen["inter2_in1"][:, :g], memory)  # Inter2 sees [memory | Inter1 out]
        branches = seen["inter1_in1"].clone()
        # the memory bypasses the decoupled branches but still changes the block output (via Inter2)
        base = seen["in1"]
        x1 = base.clone()
        x1[:, :g] += 1.0
        out1 = blocks[1](x1)
        torch.testing.assert_close(seen["inter1_in1"], branches)
        delta = (out1 - blocks[1](base)).abs().amax(dim=(0, 2, 3))
        assert (delta > 0).all()
    for h in hooks:
        h.remove()


def _export_and_compare(model: torch.nn.Module, x: torch.Tensor, path: Path) -> float:
    batch = torch.export.Dim("batch", min=1, max=64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, (x,), str(path), dynamo=True, external_data=False, dynamic_shapes=({0: batch},),
            input_names=["input"], output_names=["logits"], verbose=False,
        )
    return _compare(model, path, tuple(x.shape[1:]))


def _compare(model: torch.nn.Module, path: Path, sample: tuple[int, ...]) -> float:
    """The largest |ONNX Runtime - PyTorch| over random batches of 1 and 3 (the batch dimension is dynamic)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for b in (1, 3):
        xb = torch.rand(b, *sample)
        with torch.no_grad():
            ref = model(xb).numpy()
        out = sess.run(None, {sess.get_inputs()[0].name: xb.numpy()})[0]
        assert out.shape == ref.shape
        worst = max(worst, float(np.abs(out - ref).max()))
    return worst


def test_onnx_parity_care_tiny(zoo_bundle) -> None:
    # the shipped care-tiny as export writes it (this session's bundle, also used by the zoo conversion tests)
    path = zoo_bundle("care-tiny", "fp32") / "model.onnx"
    assert _compare(create_model("care-tiny"), path, (1, 28, 28)) < 1e-4


@pytest.mark.slow  # 15-40 s: the export of a 7.3 M-parameter model
def test_onnx_parity_care_s0(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build("s0").eval()
    for m in model.modules():  # make every block matter (gamma starts at 1e-6)
        if isinstance(m, CareBlock):
            m.gamma.data.uniform_(0.2, 0.5)
    assert _export_and_compare(model, torch.rand(2, 3, 224, 224), tmp_path / "care-s0.onnx") < 1e-4


def test_care_tiny_shipped_weights_accuracy() -> None:
    from edge_sdk.data.digits import load_digits28
    from edge_sdk.training.common import accuracy

    model = create_model("care-tiny")
    n_params = sum(p.numel() for p in model.parameters())
    assert 20_000 <= n_params <= 120_000
    x, y = load_digits28("test")
    assert accuracy(model, x, y) >= 0.95


def test_care_s_variants_ship_no_weights(s0_model: torch.nn.Module) -> None:
    with pytest.raises(WeightsError, match="pretrained=False"):
        create_model("care-s0")
    assert isinstance(s0_model, CareTransformer) and not s0_model.training


def test_train_one_epoch_writes_loadable_weights(tmp_path: Path) -> None:
    from safetensors import safe_open

    from edge_sdk.data.digits import load_digits28
    from edge_sdk.training.care_tiny import train
    from edge_sdk.zoo.weights import load_into, read_state_dict

    data = tmp_path / "data"
    data.mkdir()
    for split, n in (("train", 96), ("val", 32), ("test", 32)):
        x, y = load_digits28(split)
        np.savez(data / f"{split}.npz", x=x[:n], y=y[:n])
    out = tmp_path / "w.safetensors"
    metrics = train(out=out, seed=1, data=data, epochs=1, show_progress=False)
    assert {"train_top1", "val_top1", "test_top1"} <= set(metrics)
    model = build("tiny", num_classes=10, in_channels=1)
    load_into(model, read_state_dict(out))
    with safe_open(str(out), "pt") as f:
        meta = f.metadata()
    assert meta["seed"] == "1" and "recipe" in meta and "val_top1" in meta
