"""``runtimes`` is the lowest layer: it imports nothing from ``edge_sdk`` or ``converters``, at module
level or inside a function (checked in the source), and using it pulls neither in (checked in a
fresh interpreter that blocks both packages and torch)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO, run_python

FORBIDDEN = ("edge_sdk", "converters", "torch")


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def test_runtimes_source_never_imports_upper_layers_or_torch() -> None:
    bad = [f"{p.relative_to(REPO)}:{line} imports {mod}"
           for p in sorted((REPO / "runtimes").rglob("*.py"))
           for line, mod in _imports(p) if mod.split(".")[0] in FORBIDDEN]
    assert not bad, "\n".join(bad)


def test_runtimes_runs_a_bundle_with_upper_layers_blocked(mlp_bundle: Path) -> None:
    code = (
        "import sys\n"
        "for m in ('torch', 'edge_sdk', 'converters'):\n    sys.modules[m] = None\n"
        "import numpy as np, runtimes\n"
        f"for backend in ('onnxruntime', 'numpy'):\n"
        f"    with runtimes.load({str(mlp_bundle)!r}, backend=backend) as s:\n"
        "        y = s(np.ones((2, 9), np.float32))\n"
        "        assert y.shape == (2, 3), y.shape\n"
        "print('OK', sorted(m for m in ('edge_sdk', 'converters', 'torch') if sys.modules.get(m) is not None))\n"
    )
    r = run_python(code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "OK []", r.stdout
