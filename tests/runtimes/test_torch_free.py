"""The device path never imports torch: block it in a fresh interpreter and use the SDK."""

from __future__ import annotations

from tests.conftest import run_python

BLOCK = "import sys; sys.modules['torch'] = None\n"


def test_import_and_zoo_listing_without_torch() -> None:
    code = BLOCK + (
        "import edge_sdk, runtimes, edge_sdk.awb, edge_sdk.cli.main\n"
        "assert len(edge_sdk.list_models()) == 9\n"
        "assert 'torch' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
        "from edge_sdk.errors import MissingDependencyError\n"
        "try:\n    edge_sdk.create_model('compact-cnn')\nexcept MissingDependencyError as e:\n    print('OK', e)\n"
    )
    r = run_python(code)
    assert r.returncode == 0, r.stderr
    assert "OK" in r.stdout and "'.[host]'" in r.stdout
