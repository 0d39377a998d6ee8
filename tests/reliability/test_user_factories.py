"""User model files that misbehave, and input shapes a model cannot take: typed one-line errors.

Whatever a factory module does (raise, recurse forever, call sys.exit, return something else,
need arguments, not parse), `edge-sdk export` ends with `edge-sdk: error: ...` and exit 1, never an
internal error or a silent exit. A wrong `--input-shape` is refused before the ONNX export, with the
layout the model expects; absurd sizes are refused before anything is allocated.
"""

from __future__ import annotations

import pytest

from tests.reliability.conftest import assert_one_line_error

GOOD = '''
import torch

def make():
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
'''

FACTORIES = {
    "raises": ("def make():\n    raise ValueError('no weights here')\n", "calling", "ValueError: no weights here"),
    "recurses-forever": ("def make():\n    return make()\n", "calling", "RecursionError"),
    "returns-none": ("def make():\n    return None\n", "returned NoneType (None)", "not a torch.nn.Module"),
    "returns-int": ("def make():\n    return 42\n", "returned int (42)", "not a torch.nn.Module"),
    "needs-arguments": ("def make(width):\n    pass\n", "missing 1 required positional argument",
                        "must take no arguments"),
    "syntax-error": ("def make(:\n    pass\n", "importing", "SyntaxError"),
    "exit-at-import": ("import sys\nsys.exit(0)\n", "importing", "called sys.exit(0)"),
    "exit-in-factory": ("import sys\ndef make():\n    sys.exit(3)\n", "calling", "called sys.exit(3)"),
    "exit-in-forward": ("import sys, torch\nclass M(torch.nn.Module):\n    def forward(self, x):\n"
                        "        sys.exit('bye')\ndef make():\n    return M()\n", "running", "called sys.exit('bye')"),
    "forward-raises": ("import torch\nclass M(torch.nn.Module):\n    def forward(self, x):\n"
                       "        raise KeyError('k')\ndef make():\n    return M()\n", "does not accept input shape",
                       "KeyError"),
    "recursion-at-import": ("def f():\n    return f()\nf()\n", "importing", "RecursionError"),
    "not-utf8": (b"\xff\xfe\x00def make(): pass\n", "importing", "SyntaxError"),
}


@pytest.mark.parametrize("case", list(FACTORIES))
def test_misbehaving_factory_is_a_one_line_error(cli, tmp_path, case) -> None:
    body, *needles = FACTORIES[case]
    path = tmp_path / "net.py"
    path.write_bytes(body if isinstance(body, bytes) else body.encode())
    r = cli("export", f"{path}:make", "--input-shape", "1x3x8x8", "-o", tmp_path / "b", "-q")
    assert_one_line_error(r, *needles)
    assert not (tmp_path / "b").exists()


def test_misbehaving_factory_api_raises_edgesdkerror(tmp_path) -> None:
    from converters import export
    from edge_sdk.errors import EdgeSDKError

    (tmp_path / "net.py").write_text("import sys\ndef make():\n    sys.exit(0)\n")
    with pytest.raises(EdgeSDKError, match=r"sys.exit\(0\)"):
        export(f"{tmp_path / 'net.py'}:make", tmp_path / "b", input_shape=(1, 3, 8, 8), show_progress=False,
               log=lambda m: None)


# --- input shapes ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("shape", "needles"), [
    ("1x3x64", ("compact-cnn takes input 1x1x28x28 (NxCxHxW)", "1x3x64 does not match")),
    ("1x5x28x28", ("compact-cnn takes input 1x1x28x28", "1x5x28x28")),
    ("1x3x100000x100000", ("30,000,000,000 elements per sample", "EDGE_SDK_MAX_INPUT_ELEMENTS")),
    ("1x1x2x2", ("compact-cnn does not accept input shape 1x1x2x2 (it takes 1x1x28x28 (NxCxHxW))",)),
])
def test_zoo_model_with_a_wrong_input_shape(cli, tmp_path, shape, needles) -> None:
    r = cli("export", "compact-cnn", "--input-shape", shape, "-o", tmp_path / "b", "-q")
    assert_one_line_error(r, *needles)
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize(("shape", "needles"), [
    ("1x4x20x20", ("net does not accept input shape 1x4x20x20: RuntimeError",)),
    ("1x3", ("net does not accept input shape 1x3: RuntimeError",)),
    ("1x3x100000x100000", ("elements per sample, over the limit of 16,777,216",)),
])
def test_factory_with_a_wrong_input_shape(cli, tmp_path, shape, needles) -> None:
    (tmp_path / "net.py").write_text(GOOD)
    r = cli("export", f"{tmp_path / 'net.py'}:make", "--input-shape", shape, "-o", tmp_path / "b", "-q")
    assert_one_line_error(r, *needles)
    assert not (tmp_path / "b").exists()


def test_element_bound_is_overridable(cli, tmp_path, monkeypatch) -> None:
    (tmp_path / "net.py").write_text(GOOD)
    monkeypatch.setenv("EDGE_SDK_MAX_INPUT_ELEMENTS", "100")
    r = cli("export", f"{tmp_path / 'net.py'}:make", "--input-shape", "1x3x8x8", "-o", tmp_path / "b", "-q")
    assert_one_line_error(r, "192 elements per sample, over the limit of 100")
    monkeypatch.setenv("EDGE_SDK_MAX_INPUT_ELEMENTS", "lots")
    assert_one_line_error(cli("export", f"{tmp_path / 'net.py'}:make", "--input-shape", "1x3x8x8", "-o",
                              tmp_path / "b", "-q"), "EDGE_SDK_MAX_INPUT_ELEMENTS='lots' is not an integer")


def test_pt2_with_a_wrong_input_shape(cli, tmp_path) -> None:
    import torch

    net = torch.nn.Sequential(torch.nn.Linear(6, 2)).eval()
    ep = torch.export.export(net, (torch.randn(2, 6),), dynamic_shapes=({0: torch.export.Dim("batch")},))
    torch.export.save(ep, str(tmp_path / "net.pt2"))
    for shape in ("1x5", "1x6x1"):
        r = cli("export", tmp_path / "net.pt2", "--input-shape", shape, "-o", tmp_path / "b", "-q")
        assert_one_line_error(r, "takes input Nx6", f"--input-shape {shape} does not match")
    assert not (tmp_path / "b").exists()


def test_nn_module_api_with_a_wrong_input_shape(tmp_path) -> None:
    import torch

    from converters import export
    from edge_sdk.errors import EdgeSDKError

    with pytest.raises(EdgeSDKError, match="does not accept input shape 1x5: RuntimeError"):
        export(torch.nn.Linear(6, 2), tmp_path / "b", input_shape=(1, 5), show_progress=False, log=lambda m: None)
    assert not (tmp_path / "b").exists()
