"""Helpers for the reliability catalogue: broken bundles made from a good one, CLI error checks."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliResult


def assert_one_line_error(r: CliResult, *needles: str, code: int = 1) -> str:
    """The CLI failed with ``code``, one stderr line ``edge-sdk: error: ...``, no traceback (warnings said
    before the error, each one ``edge-sdk: warning: ...`` line, are allowed)."""
    assert r.code == code, (r.code, r.err)
    lines = [line for line in r.err.strip().splitlines() if not line.startswith("edge-sdk: warning: ")]
    assert len(lines) == 1, r.err
    assert "Traceback" not in r.err and "internal error" not in r.err, r.err
    if code == 1:
        assert lines[0].startswith("edge-sdk: error:"), r.err
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def leftovers(directory: Path) -> list[str]:
    """Staging / temporary names an interrupted write would leave behind."""
    return sorted(p.name for p in directory.rglob("*") if ".staging-" in p.name or ".old-" in p.name
                  or p.name.endswith(".tmp"))


def snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture
def broken_bundle(mlp_bundle: Path, tmp_path: Path) -> Callable[..., Path]:
    """``broken_bundle(edit)``: a copy of the MLP bundle; ``edit(manifest_dict, bundle_dir)`` may change
    the manifest (returned dict is written back) or the files."""

    def make(edit: Callable[[dict[str, Any], Path], dict[str, Any] | None] | None = None, name: str = "b") -> Path:
        b = tmp_path / name
        shutil.copytree(mlp_bundle, b)
        manifest = json.loads((b / "manifest.json").read_text())
        if edit is not None:
            new = edit(manifest, b)
            if new is not None:
                (b / "manifest.json").write_text(json.dumps(new))
        return b

    return make
