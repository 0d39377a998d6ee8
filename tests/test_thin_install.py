"""The thin install, for real: a fresh virtual environment, `pip install .` from this source tree (no
extras: no torch, no colour-science, no scikit-learn), then the CLI and the runtime as a device uses them."""

from __future__ import annotations

import json
import subprocess
import venv
from pathlib import Path

import pytest

from tests.conftest import REPO

HOST_ONLY = ("export", "validate", "train", "eval", "debug-quant")


@pytest.fixture(scope="module")
def thin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    env = tmp_path_factory.mktemp("thin") / "venv"
    venv.create(env, with_pip=True)
    done = subprocess.run([str(env / "bin" / "pip"), "install", "-q", str(REPO)], capture_output=True, text=True,
                          timeout=900)
    if done.returncode != 0:
        pytest.fail(f"pip install . failed in a fresh venv:\n{done.stderr[-3000:]}")
    return env


def _run(env: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(env / "bin" / "edge-sdk"), *args], capture_output=True, text=True, timeout=300,
                          cwd=cwd)


def test_thin_install_has_no_torch_and_every_help_works(thin: Path, tmp_path: Path) -> None:
    probe = subprocess.run([str(thin / "bin" / "python"), "-c", "import importlib.util as u; "
                            "print([m for m in ('torch', 'colour', 'sklearn', 'skimage') if u.find_spec(m)])"],
                           capture_output=True, text=True, timeout=120)
    assert probe.stdout.strip() == "[]", probe
    top = _run(thin, "--help", cwd=tmp_path)
    assert top.returncode == 0, top.stderr
    commands = [c for c in ("demo", "run", "models", "train", "eval", "export", "validate", "build", "doctor",
                            "benchmark", "debug-quant") if c in top.stdout]
    assert len(commands) == 11, top.stdout
    for cmd in commands:
        r = _run(thin, cmd, "--help", cwd=tmp_path)
        assert r.returncode == 0 and "examples:" in r.stdout, (cmd, r.stderr)
    doctor = _run(thin, "doctor", "--json", cwd=tmp_path)
    assert doctor.returncode == 0 and json.loads(doctor.stdout)["backends"]["onnxruntime"] == "ok"


def test_host_only_commands_say_what_to_install(thin: Path, tmp_path: Path) -> None:
    for cmd, *args in (("export", "compact-cnn", "-o", "b"), ("train", "emlp"), ("eval", "emlp"),
                       ("validate", "b"), ("debug-quant", "compact-cnn")):
        r = _run(thin, cmd, *args, "--json", cwd=tmp_path)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 1 and len(lines) == 1, (cmd, r.stderr)
        assert "internal error" not in lines[0] and ("'.[host]'" in lines[0] or "manifest" in lines[0]), lines[0]
        assert json.loads(r.stdout)["error"]["exit_code"] == 1
    assert not (tmp_path / "b").exists()


def test_thin_install_runs_a_bundle_exported_on_the_host(thin: Path, mlp_bundle: Path, tmp_path: Path) -> None:
    code = (
        "import sys, numpy as np, edge_sdk\n"
        f"with edge_sdk.load({str(mlp_bundle)!r}) as s:\n"
        "    y = s(np.ones((4, 9), np.float32))\n"
        "print(y.shape, s.backend, 'torch' in sys.modules)\n"
    )
    done = subprocess.run([str(thin / "bin" / "python"), "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(4, 3) onnxruntime False", done.stdout
