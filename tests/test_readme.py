"""The README's promises run: the quick start, the Python examples, and the CLI conversion lines."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def test_quick_start_is_exactly_two_commands_and_ci_runs_the_second() -> None:
    quick = README.split("## Quick start", 1)[1]
    first = re.search(r"```bash\n(.*?)```", quick, flags=re.S)
    assert first is not None
    commands = [line.split("#")[0].strip() for line in first.group(1).splitlines() if line.split("#")[0].strip()]
    assert commands == ["make demo", "make test"]
    assert "make test" in (REPO / ".ci" / "run").read_text()
    makefile = (REPO / "Makefile").read_text()
    assert "edge-sdk demo" in makefile and "pytest" in makefile


def test_python_examples_run(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EDGE_SDK_CACHE", str(tmp_path / "cache"))
    examples = blocks("python")
    assert len(examples) >= 3
    for code in examples:
        exec(compile(code, "README.md", "exec"), {"__name__": "readme_example"})
    out = capsys.readouterr().out
    assert "['golden.npz', 'manifest.json', 'model.onnx', 'report.md']" in out
    assert (tmp_path / "bundles" / "my-net" / "model.onnx").is_file()


@pytest.mark.parametrize("line", [
    line for block in blocks("bash") for line in block.splitlines()
    if line.startswith(("edge-sdk export compact-cnn", "edge-sdk validate"))
])
def test_cli_conversion_lines_run(line, tmp_path, zoo_bundle) -> None:
    if "validate" in line:  # the bundle the export line makes: this session's export of it (that line is a case too)
        shutil.copytree(zoo_bundle("compact-cnn", "int8"), tmp_path / "bundles" / "compact-cnn-int8")
    args = shlex.split(line.split("#")[0])
    r = subprocess.run([sys.executable, "-m", "edge_sdk", *args[1:]], cwd=tmp_path, capture_output=True, text=True,
                       env={**os.environ, "EDGE_SDK_CACHE": str(tmp_path / "cache")})
    assert r.returncode == 0, r.stderr
