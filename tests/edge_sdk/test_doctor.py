"""`edge-sdk doctor` reports this machine truthfully."""

from __future__ import annotations

import glob

import onnxruntime


def test_doctor_json_matches_this_machine(cli) -> None:
    r = cli("doctor", "--json")
    assert r.code == 0, r.err
    d = r.json()
    assert d["versions"]["onnxruntime"] == onnxruntime.__version__
    assert d["backends"]["onnxruntime"] == "ok" and d["backends"]["numpy"] == "ok"
    assert d["onnxruntime_providers"] == onnxruntime.get_available_providers()
    assert d["cameras"] == sorted(glob.glob("/dev/video*"))
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        assert d["backends"]["tensorrt"].startswith("missing") and any("TensorRT" in t for t in d["advice"])
    assert isinstance(d["opencv"]["gstreamer"], bool) and "FFMPEG" in d["opencv"]["video_backends"]
    assert d["cache"]["writable"] is True


def test_doctor_table(cli, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("EDGE_SDK_CACHE", str(tmp_path / "c"))
    r = cli("doctor")
    assert r.code == 0 and "onnxruntime providers:" in r.out and str(tmp_path / "c") in r.out


def test_doctor_flags_an_unwritable_cache(cli, tmp_path, monkeypatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("EDGE_SDK_CACHE", str(blocker / "cache"))
    d = cli("doctor", "--json").json()
    assert d["cache"]["writable"] is False and any("EDGE_SDK_CACHE" in t for t in d["advice"])
