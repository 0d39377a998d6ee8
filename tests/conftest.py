"""Shared fixtures: run the CLI in-process and capture its output."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


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
