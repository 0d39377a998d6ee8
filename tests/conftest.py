"""Shared fixtures: run the CLI in-process and capture its output."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# The suite never reads or writes this machine's cache (~/.cache/edge-sdk: zoo bundles, engines, autotune
# decisions): one fresh directory per test session, inherited by every subprocess the tests start.
os.environ["EDGE_SDK_CACHE"] = tempfile.mkdtemp(prefix="edge-sdk-test-cache-")
atexit.register(shutil.rmtree, os.environ["EDGE_SDK_CACHE"], True)


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self):  # noqa: ANN201
        return json.loads(self.out)


@pytest.fixture
def cli(capsys):
    """Call ``edge-sdk ARGS...`` in-process; returns exit code, stdout, stderr."""
    from edge_sdk.cli.main import main

    def run(*args: str) -> CliResult:
        try:
            code = main([str(a) for a in args])
        except SystemExit as e:  # argparse usage errors and --help
            code = int(e.code or 0)
        cap = capsys.readouterr()
        return CliResult(code, cap.out, cap.err)

    return run


def run_python(code: str, *, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run Python code in a fresh interpreter (for import-isolation tests)."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd or REPO,
                          timeout=timeout)


@pytest.fixture(scope="session")
def zoo_bundle(tmp_path_factory):
    """``zoo_bundle(name, precision)`` -> a bundle directory exported once per test session."""
    from converters import export

    root = tmp_path_factory.mktemp("bundles")
    cache: dict[tuple[str, str], Path] = {}

    def get(name: str, precision: str = "fp32") -> Path:
        key = (name, precision)
        if key not in cache:
            cache[key] = export(name, root / f"{name}-{precision}", precision=precision, show_progress=False,
                                log=lambda m: None)
        return cache[key]

    return get


@pytest.fixture(scope="session")
def mlp_bundle(tmp_path_factory) -> Path:
    """A small MLP (Gemm/Relu) bundle from outside the zoo."""
    import torch

    from converters import export

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(9, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3)).eval()
    return export(net, tmp_path_factory.mktemp("mlp") / "mlp", input_shape=(1, 9), show_progress=False,
                  log=lambda m: None)
