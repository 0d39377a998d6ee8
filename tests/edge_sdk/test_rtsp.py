"""``rtsp://`` through :func:`edge_sdk.open_source` against a real RTSP server on 127.0.0.1.

The server is GStreamer's gst-rtsp-server (``tests/edge_sdk/rtsp_server.py``, run by the system Python);
every frame carries the time it was made, so a frame's age is measured, not guessed. Skipped, with the
packages to install, where the Debian GStreamer packages are missing.
"""

from __future__ import annotations

import os
import socket
import statistics
import threading
import time
from collections.abc import Iterator

import cv2
import pytest

from edge_sdk.camera import Frame, open_source
from edge_sdk.camera.capture import CaptureGrabber
from edge_sdk.camera.ffmpeg_env import FFMPEG_OPTIONS_ENV, _FFmpegEnvironment, ffmpeg_options
from edge_sdk.camera.frames import Source, SourceStats, redact
from edge_sdk.camera.latest import LiveSource
from edge_sdk.camera.rtsp import RTSP_CAPTURE_OPTIONS
from edge_sdk.errors import EdgeSDKError, SourceError
from tests.edge_sdk.rtsp_server import HEIGHT, PASSWORD, USER, WIDTH, RtspServer, decode_frame, missing

needs_server = pytest.mark.skipif(missing() is not None, reason=f"no RTSP server: {missing()}")

FRESH = 0.4  # s: a frame older than this is stale (FFmpeg's defaults hand out ~1 s old frames at open)


def _age(frame: Frame) -> float:
    """How old the frame's content was when the source captured it (server and client share CLOCK_MONOTONIC)."""
    made, _ = decode_frame(frame.image)
    return frame.timestamp - made


def _next_frame(src: object, within: float) -> tuple[Frame, float]:
    """The first frame ``src.read()`` gives within ``within`` s, and how long it took."""
    start = time.monotonic()
    while time.monotonic() - start < within:
        frame = src.read()  # type: ignore[attr-defined]
        if frame is not None:
            return frame, time.monotonic() - start
    raise AssertionError(f"no frame within {within} s")


def _decoder_threads(src: object) -> float:
    """The thread count of the open OpenCV capture behind ``src``."""
    assert isinstance(src, LiveSource) and src._reader is not None
    grabber = src._reader._grabber
    assert isinstance(grabber, CaptureGrabber)
    return float(grabber.cap.get(cv2.CAP_PROP_N_THREADS))


@pytest.fixture(scope="module")
def server() -> Iterator[RtspServer]:
    with RtspServer() as s:
        with open_source(s.url(), timeout=5):  # the server's first session loads its plugins (~0.3 s)
            pass
        yield s


@needs_server
def test_frames_arrive_fresh_from_the_first_one(server: RtspServer) -> None:
    start = time.monotonic()
    with open_source(server.url(), timeout=2) as src:
        opened = time.monotonic() - start
        assert src.size == (WIDTH, HEIGHT)  # known at open: the first frame came with the connection
        assert src.fps == pytest.approx(30.0)
        frames = [_next_frame(src, 2)[0] for _ in range(20)]
        # one decoder thread: each extra frame thread holds a frame (38 ms lag with 1, 271 ms with 8)
        assert _decoder_threads(src) == 1
    # FFmpeg's default probe reads ~1 s of video at open (then handed out as a stale burst); ~0.1 s here
    assert opened < 0.7
    ages = [_age(f) for f in frames]
    assert ages[0] < FRESH, ages
    assert statistics.median(ages) < 0.2, ages
    assert all(f.image.shape == (HEIGHT, WIDTH, 3) for f in frames)
    assert [f.index for f in frames] == sorted({f.index for f in frames})
    numbers = [decode_frame(f.image)[1] for f in frames]
    assert numbers == sorted(numbers) and numbers[-1] > numbers[0]


@needs_server
def test_slow_consumer_gets_the_latest_frame_not_a_backlog(server: RtspServer) -> None:
    with open_source(server.url(), timeout=2) as src:
        first, _ = _next_frame(src, 2)
        time.sleep(0.6)  # ~18 frames go by
        later, _ = _next_frame(src, 2)
        assert later.index - first.index >= 10
        assert src.stats.dropped >= 10
        assert _age(later) < FRESH
        assert decode_frame(later.image)[1] - decode_frame(first.image)[1] >= 10


@needs_server
def test_fps_paces_reads_with_the_newest_frame(server: RtspServer) -> None:
    with open_source(server.url(), fps=5, timeout=2) as src:
        assert src.fps == 5
        start = time.monotonic()
        frames = [_next_frame(src, 2)[0] for _ in range(6)]
        took = time.monotonic() - start
    assert 0.9 <= took < 3.0  # five intervals of 0.2 s
    gaps = [b.index - a.index for a, b in zip(frames, frames[1:])]
    assert min(gaps) >= 3, gaps  # the frames in between were dropped, not queued
    assert max(_age(f) for f in frames) < FRESH


@needs_server
def test_server_death_then_restart_reconnects() -> None:
    with RtspServer() as server, open_source(server.url(), timeout=1.0) as src:
        _next_frame(src, 2)
        server.kill()
        killed = time.monotonic()
        while src.read() is not None:  # at most the frame captured just before
            assert time.monotonic() - killed < 1.0
        assert time.monotonic() - killed < 2.5  # read() gave up within its timeout (1 s)
        assert src.read() is None
        server.start()  # same port
        assert server.proc is not None
        frame, _ = _next_frame(src, 8)  # reconnect back-off is at most 5 s
        assert _age(frame) < FRESH
        assert src.stats.reconnects >= 1


@needs_server
def test_silent_stall_gives_no_stale_frame_and_reconnects() -> None:
    with RtspServer() as server, open_source(server.url(), timeout=1.0) as src:
        _next_frame(src, 2)
        server.stall()  # connections stay open, nothing comes
        stalled = time.monotonic()
        got = []
        while time.monotonic() - stalled < 2.6:
            frame = src.read()
            got.append(None if frame is None else _age(frame))
        # FFmpeg hands back the frame it held from before the stall when its read timeout runs out
        assert all(age is None or age < FRESH for age in got), got
        assert None in got
        server.resume()
        frame, _ = _next_frame(src, 8)
        assert _age(frame) < FRESH
        assert src.stats.reconnects >= 1


@needs_server
def test_session_that_never_delivers_video_is_an_error(server: RtspServer) -> None:
    start = time.monotonic()
    with pytest.raises(SourceError, match="no decodable video within 1 s"):
        open_source(server.url("/no-video"), timeout=1.0)
    assert time.monotonic() - start < 4.0


@needs_server
def test_wrong_path_is_a_typed_error(server: RtspServer) -> None:
    with pytest.raises(SourceError, match=r"no stream at '/nope' \(404 Not Found\)") as info:
        open_source(server.url("/nope"), timeout=2)
    assert isinstance(info.value, EdgeSDKError)


def test_port_with_no_listener_is_a_typed_error() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(SourceError, match=rf"no RTSP server answers at 127.0.0.1:{port} \(Connection refused\)"):
        open_source(f"rtsp://127.0.0.1:{port}/live", timeout=2)
    assert time.monotonic() - start < 2.0


@needs_server
def test_credentials_never_shown(server: RtspServer) -> None:
    url = server.url("/secure", auth=f"{USER}:{PASSWORD}")
    with open_source(url, timeout=2) as src:
        frame, _ = _next_frame(src, 2)  # the credentials were used
        names = [t.name for t in threading.enumerate()]
        shown = [src.name, repr(src), str(src), str(frame.meta), *names]
        src.stats.skip(f"{url} frame 9: undecodable image")
        shown += src.stats.skipped_corrupt
    assert not [s for s in shown if PASSWORD in s], shown
    assert f"rtsp://{USER}:***@127.0.0.1:{server.port}/secure" == frame.meta["source"]
    wrong = server.url("/secure", auth=f"{USER}:not-{PASSWORD}")
    with pytest.raises(SourceError, match="refused the credentials") as info:
        open_source(wrong, timeout=2)
    assert PASSWORD not in str(info.value) and f"{USER}:***@" in str(info.value)
    with pytest.raises(SourceError, match="needs credentials"):
        open_source(server.url("/secure"), timeout=2)
    with pytest.raises(SourceError) as info:
        open_source(f"rtsp://{USER}:{PASSWORD}@[::1/live")  # unparseable
    assert PASSWORD not in str(info.value)


def test_redact_forms() -> None:
    assert redact("rtsp://u:p@ss@h:554/x?chan=1") == "rtsp://u:***@h:554/x?chan=1"
    assert redact("cannot open rtsp://a:b@h/s or http://c:d@h/m") == "cannot open rtsp://a:***@h/s or http://c:***@h/m"
    assert redact("rtsp://h/x?user=admin&password=pw&token=t") == "rtsp://h/x?user=admin&password=***&token=***"
    for plain in ("rtsp://user@h/x", "rtsp://[::1]:554/x", "rtsp://h:554/a@b", "file:///a:b@c", "dir://frames/"):
        assert redact(plain) == plain
    assert Source("rtsp://u:pw@h/x").name == "rtsp://u:***@h/x"  # every source's name, repr and meta
    stats = SourceStats()
    stats.skip("rtsp://u:secret@h frame 3")
    assert stats.skipped_corrupt == ["rtsp://u:***@h frame 3"]


@needs_server
def test_ffmpeg_options_user_entries_win_and_env_is_restored(server: RtspServer,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FFMPEG_OPTIONS_ENV, "probesize;64|stimeout;1")
    merged = dict(e.split(";") for e in ffmpeg_options(RTSP_CAPTURE_OPTIONS).split("|"))
    assert merged == {**RTSP_CAPTURE_OPTIONS, "probesize": "64", "stimeout": "1"}
    with open_source(server.url(), timeout=2) as src:
        _next_frame(src, 2)
    assert os.environ[FFMPEG_OPTIONS_ENV] == "probesize;64|stimeout;1"
    monkeypatch.delenv(FFMPEG_OPTIONS_ENV)
    with open_source(server.url(), timeout=2) as src:
        _next_frame(src, 2)
    assert FFMPEG_OPTIONS_ENV not in os.environ


def test_ffmpeg_environment_shared_by_equal_options_exclusive_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(FFMPEG_OPTIONS_ENV, raising=False)
    env = _FFmpegEnvironment()
    seen: list[str | None] = []

    def open_with(options: str | None, inside: threading.Event) -> None:
        with env.use(options):
            seen.append(os.environ.get(FFMPEG_OPTIONS_ENV))
            inside.set()

    same, other = threading.Event(), threading.Event()
    with env.use("probesize;32"):
        assert os.environ[FFMPEG_OPTIONS_ENV] == "probesize;32"
        threads = [threading.Thread(target=open_with, args=("probesize;32", same)),
                   threading.Thread(target=open_with, args=(None, other))]
        for t in threads:
            t.start()
        assert same.wait(5)  # a second camera with the same options opens alongside
        assert not other.wait(0.3)  # a video file waits: it must not see the camera's options
    assert other.wait(5)
    for t in threads:
        t.join(5)
    assert seen == ["probesize;32", None]
    assert FFMPEG_OPTIONS_ENV not in os.environ
