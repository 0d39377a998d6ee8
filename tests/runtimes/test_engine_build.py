"""TensorRT engine builds (runtimes.engine_build): optimisation profiles for every symbolic dim, the timing
cache, build progress, DLA options and the engine key. The pure-Python parts run everywhere; the builds
themselves run where TensorRT and a GPU are (skipped here with the reason)."""

from __future__ import annotations

import os
import shlex
import threading
import time
import types
from pathlib import Path

import numpy as np
import pytest

from runtimes import engine_build as eb
from runtimes.engine_build import timing_cache
from runtimes.errors import EdgeSDKError
from runtimes.manifest import Manifest, TensorSpec

UNET = [("image", [None, 3, None, None])]


def _manifest(shape: tuple[int | str, ...], extra: dict | None = None) -> Manifest:
    return Manifest(model="m", task="segmentation", precision="fp16", artifact="model.onnx",
                    artifact_sha256="a" * 64, inputs=[TensorSpec("image", shape, "float32")],
                    outputs=[TensorSpec("out", shape, "float32")], opset=18, sdk_version="0", extra=extra or {})


# ---------------------------------------------------------------------------------------------------
# shapes and profiles


def test_parse_shapes_reads_trtexec_syntax_and_refuses_garbage() -> None:
    assert eb.parse_shapes("image:1x3x224x224, mask:1x1x8x8") == {"image": (1, 3, 224, 224), "mask": (1, 1, 8, 8)}
    assert eb.parse_shapes("input.1:4x15") == {"input.1": (4, 15)}
    for bad in ("image", "image:1x3x", "image:0x3", ":", "image:1x-3", f"image:{eb.MAX_DIM + 1}", ""):
        with pytest.raises(EdgeSDKError, match="NAME:AxBxC|every dim"):
            eb.parse_shapes(bad)


def test_batch_only_profile_comes_from_the_batch_arguments() -> None:
    assert eb.profile_shapes([("x", [None, 3, 8, 8])], max_batch=16, opt_batch=4) == {
        "x": ((1, 3, 8, 8), (4, 3, 8, 8), (16, 3, 8, 8))}
    assert eb.profile_shapes([("x", [1, 3, 8, 8])]) == {}  # static: no profile


def test_every_symbolic_dim_gets_a_range_from_the_validated_sizes() -> None:
    sizes = {"image": [(1, 3, 64, 96), (1, 3, 128, 192), (1, 3, 32, 48)]}
    assert eb.profile_shapes(UNET, max_batch=8, sizes=sizes) == {
        "image": ((1, 3, 32, 48), (1, 3, 64, 96), (8, 3, 128, 192))}


def test_given_shapes_win_and_opt_alone_fixes_the_size() -> None:
    lo, hi = {"image": (1, 3, 64, 64)}, {"image": (4, 3, 512, 512)}
    got = eb.profile_shapes(UNET, min_shapes=lo, opt_shapes={"image": (2, 3, 256, 256)}, max_shapes=hi,
                            sizes={"image": [(1, 3, 8, 8)]})
    assert got == {"image": ((1, 3, 64, 64), (2, 3, 256, 256), (4, 3, 512, 512))}
    fixed = eb.profile_shapes(UNET, opt_shapes={"image": (1, 3, 224, 224)})  # like trtexec --shapes
    assert fixed == {"image": ((1, 3, 224, 224),) * 3}


@pytest.mark.parametrize(("kwargs", "match"), [
    ({}, r"dim 2 is symbolic .* --min-shapes image:1x3x224x224"),
    ({"opt_shapes": {"mask": (1, 3, 8, 8)}}, "no such input .*image"),
    ({"opt_shapes": {"image": (1, 3, 8)}}, "does not fit the input's shape .*3x\\?x\\?"),
    ({"opt_shapes": {"image": (1, 4, 8, 8)}}, "does not fit"),
    ({"min_shapes": {"image": (1, 3, 64, 64)}, "max_shapes": {"image": (1, 3, 32, 32)}}, "min <= opt <= max"),
])
def test_bad_or_missing_shapes_are_refused_with_the_flag_to_pass(kwargs: dict, match: str) -> None:
    with pytest.raises(EdgeSDKError, match=match):
        eb.profile_shapes([("image", [None, 3, None, None])], **kwargs)


def test_manifest_sizes_reads_the_example_and_the_second_validated_size() -> None:
    extra = {"input_shape": [3, 64, 96],
             "parity_at_sizes": [{"input_shape": [1, 3, 64, 96]}, {"input_shape": [1, 3, 128, 192]},
                                 {"input_shape": "bad"}, {"input_shape": [1, 3, -1, 2]}]}
    m = _manifest(("batch", 3, "height", "width"), extra)
    assert eb.manifest_sizes(m) == {"image": [(1, 3, 64, 96), (1, 3, 128, 192)]}
    assert eb.manifest_sizes(_manifest(("batch", 3, 8, 8))) == {}


def test_wanted_options_compute_profiles_without_tensorrt_and_the_key_compares_them() -> None:
    m = _manifest(("batch", 3, "height", "width"), {"input_shape": [3, 64, 96]})
    wanted = eb.wanted_options(m, max_batch=4, dla_core=0, gpu_fallback=True)
    assert wanted == {"profiles": {"image": {"min": [1, 3, 64, 96], "opt": [1, 3, 64, 96], "max": [4, 3, 64, 96]}},
                      "dla_core": 0, "gpu_fallback": True}
    assert eb.wanted_options(m) == {}  # nothing asked: whatever was built will do
    entry = {"file": "model.engine", "source_sha256": "a" * 64, "tensorrt_version": "10.3.0",
             "compute_capability": "8.7", "dla_core": None, "gpu_fallback": False, "profiles": wanted["profiles"]}
    ok, why = eb.engine_key_matches(entry, onnx_sha256="a" * 64, tensorrt_version="10.3.0",
                                    compute_capability="8.7", wanted=wanted)
    assert not ok and "dla_core=None" in why and "rebuild" in why
    same = {**entry, "dla_core": 0, "gpu_fallback": True}
    assert eb.engine_key_matches(same, onnx_sha256="a" * 64, tensorrt_version="10.3.0", compute_capability="8.7",
                                 wanted=wanted) == (True, "")


def test_trtexec_command_carries_profiles_cache_and_dla() -> None:
    profiles = eb.profile_shapes(UNET, min_shapes={"image": (1, 3, 64, 64)}, max_shapes={"image": (4, 3, 512, 512)},
                                 opt_shapes={"image": (1, 3, 256, 256)})
    args = shlex.split(eb.trtexec_command("u.onnx", "u.engine", "int8", profiles=profiles, dla_core=1,
                                          gpu_fallback=True, timing_cache=Path("t.cache")))
    assert {"--minShapes=image:1x3x64x64", "--optShapes=image:1x3x256x256", "--maxShapes=image:4x3x512x512",
            "--useDLACore=1", "--allowGPUFallback", "--timingCacheFile=t.cache", "--int8"} <= set(args)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"precision": "fp32", "dla_core": 0}, "DLA runs fp16 or int8"),
    ({"precision": "fp16", "dla_core": -1}, "0 or more"),
    ({"precision": "fp16", "gpu_fallback": True}, "give dla_core"),
])
def test_dla_arguments_are_checked_before_any_build(kwargs: dict, match: str) -> None:
    precision = kwargs.pop("precision")
    with pytest.raises(EdgeSDKError, match=match):
        eb.trtexec_command("a.onnx", "a.engine", precision, inputs=[("x", [None, 3])], **kwargs)


# ---------------------------------------------------------------------------------------------------
# timing cache and progress


def test_default_timing_cache_is_per_gpu_and_version_in_the_cache_dir(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("EDGE_SDK_CACHE", str(tmp_path))
    path = eb.default_timing_cache("10.3.0.post1", "8.7")
    assert path == tmp_path / "tensorrt" / "timing-trt10.3.0.post1-sm8.7.cache"
    assert eb.default_timing_cache("10/../x", "unknown").parent == tmp_path / "tensorrt"


def test_timing_cache_is_read_bounded_and_written_atomically(tmp_path: Path, monkeypatch) -> None:
    log: list[str] = []
    path = tmp_path / "sub" / "t.cache"
    assert eb.read_timing_cache(path, log.append) == b"" and log == []  # none yet: a new cache, no warning
    eb.save_timing_cache(path, memoryview(b"\x01" * 100), log.append)
    assert path.read_bytes() == b"\x01" * 100 and os.listdir(path.parent) == ["t.cache"]
    assert eb.read_timing_cache(path, log.append) == b"\x01" * 100
    monkeypatch.setattr(timing_cache, "MAX_TIMING_CACHE_BYTES", 10)  # read where it is used
    assert eb.read_timing_cache(path, log.append) == b"" and "over 10" in log[-1]
    assert eb.read_timing_cache(tmp_path, log.append) == b"" and "not a regular file" in log[-1]
    os.mkfifo(tmp_path / "fifo")  # would block a plain read
    assert eb.read_timing_cache(tmp_path / "fifo", log.append) == b"" and "not a regular file" in log[-1]
    (tmp_path / "file").write_text("x")
    eb.save_timing_cache(tmp_path / "file" / "t.cache", b"x", log.append)  # parent is a file: warn, go on
    assert "could not save" in log[-1]


def test_ticker_reports_elapsed_time_and_phase_until_closed() -> None:
    lines: list[str] = []
    lock = threading.Lock()

    def log(m: str) -> None:
        with lock:
            lines.append(m)

    with eb.Ticker(log, every=0.02) as ticker:
        ticker.phase = "Building engine: step 3/10"
        deadline = time.monotonic() + 5
        while len(lines) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    n = len(lines)
    assert n >= 2 and all(line.startswith("  building engine ... ") and line.endswith(" s (Building engine: "
                                                                                   "step 3/10)") for line in lines)
    time.sleep(0.06)
    assert len(lines) == n  # stopped with the block


# ---------------------------------------------------------------------------------------------------
# the CLI refuses bad build options before touching the bundle


@pytest.mark.parametrize(("argv", "code", "match"), [
    (["--allow-gpu-fallback"], 1, "goes with --dla-core"),
    (["--dla-core", "-1"], 1, "--dla-core"),
    (["--shapes", "image:1x3x8x8", "--max-shapes", "image:2x3x8x8"], 1, "give it alone"),
    (["--opt-shapes", "image:1x3x"], 2, "NAME:AxBxC"),
    (["--opt-batch", "64", "--max-batch", "8"], 1, "--opt-batch"),
])
def test_build_cli_refuses_bad_options(cli, tmp_path: Path, argv: list[str], code: int, match: str) -> None:
    r = cli("build", tmp_path / "no-bundle", *argv)
    assert r.code == code and match in r.err, r.err


# ---------------------------------------------------------------------------------------------------
# real builds (a device with TensorRT and a GPU)


@pytest.fixture(scope="module")
def real_trt() -> types.ModuleType:
    return pytest.importorskip("tensorrt", reason="TensorRT is not installed here; engine builds run on a device "
                                                  "with TensorRT")


def _conv_onnx(path: Path) -> Path:
    """A one-conv fully convolutional ONNX model with symbolic batch, height and width."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["image", "w"], ["out"], pads=[1, 1, 1, 1])], "fcn",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, "height", "width"])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", 4, "height", "width"])], [w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


@pytest.mark.tensorrt
def test_build_with_symbolic_dims_timing_cache_and_progress(real_trt, tmp_path: Path) -> None:
    src = _conv_onnx(tmp_path / "fcn.onnx")
    cache = tmp_path / "t.cache"
    cache.write_bytes(b"not a timing cache")  # corrupt: ignored with a warning, then replaced
    lines: list[str] = []
    entry = eb.build_engine(src, tmp_path / "fcn.engine", precision="fp16", timing_cache=cache, max_batch=2,
                            sizes={"image": [(1, 3, 32, 32), (1, 3, 64, 64)]}, tick_seconds=0.5, log=lines.append)
    assert entry["profiles"] == {"image": {"min": [1, 3, 32, 32], "opt": [1, 3, 32, 32], "max": [2, 3, 64, 64]}}
    assert entry["dla_core"] is None and entry["max_batch"] == 2
    assert any("timing cache" in line and "warning" in line for line in lines)
    assert cache.stat().st_size > len(b"not a timing cache")
    runtime = real_trt.Runtime(real_trt.Logger(real_trt.Logger.WARNING))
    engine = runtime.deserialize_cuda_engine((tmp_path / "fcn.engine").read_bytes())
    assert tuple(engine.get_tensor_profile_shape("image", 0)[2]) == (2, 3, 64, 64)
