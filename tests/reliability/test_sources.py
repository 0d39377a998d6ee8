"""Catalogue: sources that are missing, unknown, dead, dying, stalling or corrupt.

CLI cases go through ``edge-sdk run BUNDLE URI`` (the command that opens sources). Live-stream faults
(dying, stalling) are timing behaviour, tested on the Python API against a loopback MJPEG server:
``read()`` returns ``None`` within the timeout (the documented end/timeout signal), never hangs or raises,
and ``close()`` leaves no reader thread behind. Overlaps: tests/edge_sdk/test_camera_sources.py
(the same errors on ``open_source``, reconnect after restart, stall timeout, corrupt HTTP parts).
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_sdk.camera import open_source
from edge_sdk.errors import EdgeSDKError, SourceError
from tests.edge_sdk.mjpeg_server import MjpegServer
from tests.reliability.conftest import assert_one_line_error


@pytest.fixture(scope="module")
def clf_bundle(zoo_bundle) -> Path:  # noqa: ANN001
    return zoo_bundle("compact-cnn")


def _run_fails(cli, bundle: Path, uri: str, *needles: str) -> None:  # noqa: ANN001
    r = cli("run", bundle, uri, "--quiet")
    assert_one_line_error(r, *needles)
    assert r.out == ""
    with pytest.raises(SourceError):
        open_source(uri)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _live_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("edge-sdk-live")]


def _wait_no_live_threads(limit: float = 12.0) -> None:
    deadline = time.perf_counter() + limit
    while _live_threads() and time.perf_counter() < deadline:
        time.sleep(0.05)
    assert not _live_threads(), _live_threads()


@pytest.mark.parametrize("form", ["bare", "file", "dir"])
def test_missing_file(cli, clf_bundle, tmp_path, form) -> None:
    uri = {"bare": str(tmp_path / "missing.mp4"), "file": f"file://{tmp_path}/missing.avi",
           "dir": f"dir://{tmp_path}/missing/"}[form]
    _run_fails(cli, clf_bundle, uri, "missing")


@pytest.mark.parametrize("uri", ["foo://bar", "fil://clip.mp4", "s3://bucket/clip.mp4"])
def test_unknown_uri_scheme(cli, clf_bundle, uri) -> None:
    _run_fails(cli, clf_bundle, uri, "unknown source scheme")


@pytest.mark.parametrize("uri", ["97", "v4l2:///dev/video97"])
def test_absent_camera(cli, clf_bundle, uri) -> None:
    _run_fails(cli, clf_bundle, uri, "97")


def test_http_stream_down_at_start(cli, clf_bundle) -> None:
    _run_fails(cli, clf_bundle, f"http://127.0.0.1:{_closed_port()}/stream", "cannot connect to HTTP camera")


def test_http_stream_dies_mid_stream() -> None:
    server = MjpegServer(fps=50)
    try:
        with open_source(server.url(), timeout=0.4) as src:
            assert src.read() is not None
            server.stop()
            deadline = time.perf_counter() + 5
            while src.read() is not None:  # drain what was already received (bounded)
                assert time.perf_counter() < deadline
            for _ in range(2):  # then: None after the timeout, each time, nothing stale replayed
                t0 = time.perf_counter()
                assert src.read() is None
                assert time.perf_counter() - t0 < 1.5
    finally:
        server.stop()
    _wait_no_live_threads()


def test_http_stream_stalls_then_times_out() -> None:
    # total_frames: the reconnect that follows the stall (socket timeout 0.5 s) gets no frames either
    with MjpegServer(fps=100, total_frames=2) as server, open_source(server.url(), timeout=0.3) as src:
        frames = [src.read() for _ in range(3)]
        assert frames[0] is not None and frames[-1] is None
        t0 = time.perf_counter()
        assert src.read() is None
        assert time.perf_counter() - t0 < 1.5  # the timeout, not the socket's
    _wait_no_live_threads()


def test_http_not_a_camera(cli, clf_bundle) -> None:
    with MjpegServer() as server:
        _run_fails(cli, clf_bundle, server.url("/html"), "not an MJPEG stream")


def _digit_images(d: Path, n: int) -> None:
    d.mkdir()
    for i in range(n):
        cv2.imwrite(str(d / f"{i:02d}.png"), np.full((28, 28, 3), 40 * i, np.uint8))


def test_corrupt_image_in_a_directory_is_skipped_and_reported(cli, clf_bundle, tmp_path) -> None:
    d = tmp_path / "frames"
    _digit_images(d, 3)
    (d / "01b.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (d / "02b.jpg").write_bytes(b"")
    with open_source(d) as src:
        frames = list(src)
        skipped = list(src.stats.skipped_corrupt)
    assert len(frames) == 3
    assert len(skipped) == 2 and any("01b.png" in s for s in skipped) and any("02b.jpg" in s for s in skipped)
    r = cli("run", clf_bundle, f"dir://{d}", "--json")
    assert r.code == 0, r.err
    assert r.json()["frames"] == 3 and "Traceback" not in r.err


def test_directory_of_only_corrupt_images(cli, clf_bundle, tmp_path) -> None:
    d = tmp_path / "bad"
    d.mkdir()
    (d / "a.png").write_bytes(b"junk")
    r = cli("run", clf_bundle, f"dir://{d}", "--json")
    assert r.code in (0, 1) and "Traceback" not in r.err
    if r.code == 1:
        assert_one_line_error(r)
    else:
        assert r.json()["frames"] == 0


@pytest.mark.parametrize("kind", ["zero-length", "garbage", "no-frames"])
def test_zero_length_or_broken_video(cli, clf_bundle, tmp_path, kind) -> None:
    path = tmp_path / ("clip.avi" if kind == "no-frames" else "clip.mp4")
    if kind == "zero-length":
        path.write_bytes(b"")
    elif kind == "garbage":
        path.write_bytes(np.random.default_rng(0).bytes(2048))
    else:
        cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10, (32, 32)).release()
    r = cli("run", clf_bundle, path, "--quiet")
    assert_one_line_error(r, "clip.")
    with pytest.raises(EdgeSDKError):
        open_source(path)
