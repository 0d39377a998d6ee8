"""The layers contract: runtimes <- edge_sdk <- converters, with the CLI and demo above.

The source check is ``tools/check_layers.py`` (``make lint`` runs it too): imports at module level or inside
functions, relative imports and ``importlib.import_module("...")`` literals. Here it runs on the repository
and on small written packages that break each rule, and ``runtimes`` runs a bundle in a fresh interpreter
that blocks ``edge_sdk``, ``converters`` and torch.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, run_python

sys.path.insert(0, str(REPO / "tools"))

import check_layers  # noqa: E402


def test_the_repository_keeps_its_layers() -> None:
    bad = check_layers.violations(REPO)
    assert not bad, "\n".join(bad)


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for pkg in check_layers.PACKAGES:
        (tmp_path / pkg).mkdir(exist_ok=True)
        (tmp_path / pkg / "__init__.py").touch()
    return tmp_path


@pytest.mark.parametrize(("rel", "code", "module"), [
    ("runtimes/a.py", "def f():\n    import edge_sdk.camera\n", "edge_sdk.camera"),
    ("runtimes/a.py", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import torch\n", "torch"),
    ("runtimes/a.py", "import importlib\nm = importlib.import_module('converters.quantize')\n", "converters.quantize"),
    ("runtimes/a.py", "from importlib import import_module\nm = import_module('.cli', 'edge_sdk')\n", "edge_sdk.cli"),
    ("runtimes/a.py", "m = __import__('torch')\n", "torch"),
    ("edge_sdk/camera/c.py", "def f():\n    from converters import export\n", "converters"),
    ("edge_sdk/cli/x_cmd.py", "from converters import export\n", "converters"),
    ("edge_sdk/demo.py", "class A:\n    import converters\n", "converters"),
])
def test_each_kind_of_import_across_the_layers_is_found(tmp_path: Path, rel: str, code: str, module: str) -> None:
    root = _tree(tmp_path, {rel: code})
    bad = check_layers.violations(root)
    assert len(bad) == 1 and bad[0].startswith(f"{rel}:") and f"imports {module} " in bad[0], bad
    assert check_layers.main([str(root)]) == 1


def test_relative_imports_resolve_within_their_package(tmp_path: Path) -> None:
    code = ("from . import frames\nfrom .frames import Frame\nfrom ..errors import SourceError\n"
            "def f():\n    from .. import awb\n    import importlib\n"
            "    importlib.import_module('.uri', 'edge_sdk.camera')\n"
            "from .... import beyond\n")
    root = _tree(tmp_path, {"edge_sdk/camera/__init__.py": code})
    found = [(i.module, i.in_function) for i in check_layers.imports(root / "edge_sdk/camera/__init__.py", root)]
    assert found == [("edge_sdk.camera", False), ("edge_sdk.camera.frames", False), ("edge_sdk.camera.frames", False),
                     ("edge_sdk.errors", False), ("edge_sdk", True), ("edge_sdk.awb", True), ("importlib", True),
                     ("edge_sdk.camera.uri", True)]


def test_the_cli_and_demo_import_converters_lazily_and_lower_layers_freely(tmp_path: Path) -> None:
    lazy = "import runtimes\nfrom edge_sdk import camera\ndef run():\n    from converters import export\n"
    root = _tree(tmp_path, {
        "edge_sdk/cli/export_cmd.py": lazy,
        "edge_sdk/demo.py": lazy,
        "edge_sdk/camera/__init__.py": "from . import frames\nfrom .frames import Frame\nimport runtimes.session\n",
        "converters/q.py": "import edge_sdk\nimport runtimes\nimport torch\n",
        "runtimes/s.py": "from .atomic import atomic_path\nfrom runtimes import errors\nimport numpy\n",
    })
    assert check_layers.violations(root) == []
    assert check_layers.main([str(root)]) == 0


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
