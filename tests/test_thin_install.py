"""The thin install, for real: a fresh virtual environment, `pip install .` from this source tree (no
extras: no torch, no colour-science, no scikit-learn, no scikit-image), then the CLI, the runtime, the
README's embed examples and a sample on `synthetic://` cameras, as a device uses them."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

from tests.conftest import REPO

HOST_ONLY = ("export", "validate", "train", "eval", "debug-quant")
HOST_PACKAGES = ("torch", "colour", "sklearn", "skimage")


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
                          cwd=cwd, env={**os.environ, "EDGE_SDK_CACHE": str(cwd / "cache")})  # not this machine's


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
                       ("validate", "b"), ("debug-quant", "compact-cnn"), ("demo",),
                       ("run", "emlp", "synthetic://dual-exposure?count=1")):  # a zoo name: exporting needs torch
        r = _run(thin, cmd, *args, "--json", cwd=tmp_path)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 1 and len(lines) == 1, (cmd, r.stderr)
        assert "internal error" not in lines[0] and ("'.[host]'" in lines[0] or "manifest" in lines[0]), lines[0]
        assert json.loads(r.stdout)["error"]["exit_code"] == 1
    assert not (tmp_path / "b").exists() and not (tmp_path / "edge-sdk-demo").exists()


def test_thin_install_runs_a_bundle_exported_on_the_host(thin: Path, mlp_bundle: Path, tmp_path: Path) -> None:
    code = (
        "import sys, numpy as np, edge_sdk\n"
        f"with edge_sdk.load({str(mlp_bundle)!r}) as s:\n"
        "    y = s(np.ones((4, 9), np.float32))\n"
        "print(y.shape, 'torch' in sys.modules, s.backend in ('onnxruntime', 'numpy'))\n"  # auto measures both
    )
    done = subprocess.run([str(thin / "bin" / "python"), "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(4, 3) False True", done.stdout


def _embed_examples() -> str:
    readme = (REPO / "README.md").read_text()
    section = readme.split("### 2. Embed the runtime in an app", 1)[1].split("\n### ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 2, "the README's embed section has changed: update this test"
    return "\n".join(blocks)


def test_readme_embed_examples_and_a_sample_run_on_synthetic_cameras(thin: Path, zoo_bundle, tmp_path: Path) -> None:
    # the device gets its bundles from the host: here, copied into the cache where resolve_bundle looks
    cache = tmp_path / "cache"
    for name, precision in (("emlp", "fp32"), ("compact-cnn", "int8")):
        shutil.copytree(zoo_bundle(name, precision), cache / "bundles" / f"{name}-{precision}")
    sample = REPO / "samples" / "white_balance_camera.py"
    code = (
        _embed_examples()
        + "\nimport runpy, sys\n"
        + f"sys.argv = [{str(sample)!r}, 'synthetic://dual-exposure?count=3&size=320x180', 'file://wb.mp4', "
        + "'--model', 'emlp']\n"
        + f"runpy.run_path({str(sample)!r}, run_name='__main__')\n"
        + f"print('host packages imported:', sorted(set({HOST_PACKAGES!r}) & set(sys.modules)))\n"
    )
    done = subprocess.run([str(thin / "bin" / "python"), "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path, env={"PATH": str(thin / "bin"), "EDGE_SDK_CACHE": str(cache),
                                             "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    white_balance = [line for line in lines if re.match(r"\[[\d. ]+\] \[[\d. ]+\] capture .* infer ", line)]
    digits = [line for line in lines if re.match(r"\d \d\.\d\d capture .* infer ", line)]
    assert len(white_balance) == 3 and len(digits) == 5, done.stdout  # gains, illuminant, timings; label, score
    summary = [line for line in lines if line.startswith("summary: frames=3")]
    assert len(summary) == 1 and "angular_error_deg=" in summary[0], done.stdout
    assert (tmp_path / "wb.mp4").stat().st_size > 0
    assert lines[-1] == "host packages imported: []", done.stdout
