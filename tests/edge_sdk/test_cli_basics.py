"""The CLI's contract: --help teaches, exit codes 0/1/2, JSON where programs read output."""

from __future__ import annotations

from tests.edge_sdk.test_registry import EXPECTED


def test_help_lists_commands(cli) -> None:
    r = cli("--help")
    assert r.code == 0
    for cmd in ("models", "train", "eval"):
        assert cmd in r.out


def test_each_command_help_has_examples(cli) -> None:
    for cmd in ("models", "train", "eval"):
        r = cli(cmd, "--help")
        assert r.code == 0 and "examples:" in r.out, cmd


def test_no_command_is_a_usage_error(cli) -> None:
    assert cli().code == 2


def test_bad_flag_is_a_usage_error(cli) -> None:
    r = cli("models", "--no-such-flag")
    assert r.code == 2 and "unrecognized arguments" in r.err


def test_models_json_lists_all_models_with_counts(cli) -> None:
    r = cli("models", "--json")
    assert r.code == 0
    rows = r.json()
    assert [row["name"] for row in rows] == EXPECTED
    for row in rows:
        assert row["params"] > 0 and row["macs"] > 0 and row["input_shape"]
    shipped = {row["name"] for row in rows if row["weights_shipped"]}
    assert shipped == {"emlp", "eccc", "ccc", "compact-cnn", "care-tiny"}


def test_models_table(cli) -> None:
    r = cli("models")
    assert r.code == 0
    assert "care-s2" in r.out and "architecture only" in r.out


def test_unknown_model_is_one_line_error(cli) -> None:
    r = cli("eval", "care-s9")
    assert r.code == 1
    assert r.err.strip().count("\n") == 0 and "Did you mean" in r.err and "Traceback" not in r.err


def test_untrainable_model(cli) -> None:
    r = cli("train", "care-s0")
    assert r.code == 1 and "no training recipe" in r.err


def test_eval_with_bad_weights_file_names_the_tensor(cli, tmp_path) -> None:
    import torch
    from safetensors.torch import save_file

    bad = tmp_path / "bad.safetensors"
    state = {k: v.clone() for k, v in __import__("edge_sdk").create_model("compact-cnn").state_dict().items()}
    first = next(iter(state))
    state[first] = torch.zeros(3, 3)
    save_file(state, str(bad))
    r = cli("eval", "compact-cnn", "--weights", bad)
    assert r.code == 1 and first in r.err and "expected shape" in r.err


def test_pickle_checkpoint_is_refused_not_executed(cli, tmp_path) -> None:
    import pickle

    marker = tmp_path / "executed"

    class Evil:
        def __reduce__(self):  # noqa: ANN204
            return (open, (str(marker), "w"))

    ckpt = tmp_path / "evil.pt"
    ckpt.write_bytes(pickle.dumps({"w": Evil()}, protocol=4))
    r = cli("eval", "compact-cnn", "--weights", ckpt)
    assert r.code == 1 and "refused" in r.err
    assert not marker.exists()
