"""edge_sdk.camera sources against real OpenCV files, real images and a real loopback HTTP server."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import quote

import cv2
import numpy as np
import pytest

from edge_sdk.camera import DualFrame, Frame, open_dual_source, open_source
from edge_sdk.camera.capture import has_gstreamer
from edge_sdk.errors import EdgeSDKError, SourceError
from tests.edge_sdk.mjpeg_server import MjpegServer, decode_number

W, H, N = 64, 48, 12


def _pattern(i: int) -> np.ndarray:
    y, x = np.mgrid[0:H, 0:W]
    img = np.stack([x * 3 + i * 5, y * 4, np.full_like(x, 200 - i * 10)], axis=-1)
    return np.clip(img, 0, 255).astype(np.uint8)


def _write_video(path: Path, fourcc: str, n: int = N) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), 10.0, (W, H))
    assert writer.isOpened()
    for i in range(n):
        writer.write(_pattern(i))
    writer.release()


@pytest.mark.parametrize(("name", "fourcc"), [("clip.avi", "MJPG"), ("clip.mp4", "mp4v")])
def test_video_file_reads_back(tmp_path: Path, name: str, fourcc: str) -> None:
    path = tmp_path / name
    _write_video(path, fourcc)
    for uri in (f"file://{path}", str(path)):
        with open_source(uri) as src:
            frames = list(src)
            assert src.read() is None  # still None at the end
            assert src.fps == pytest.approx(10.0)
            assert src.size == (W, H)
            assert src.stats.frames_read == N
        assert len(frames) == N
        assert [f.index for f in frames] == list(range(N))
        assert all(isinstance(f, Frame) and f.meta["position"] == f.index for f in frames)
        assert all(b.timestamp >= a.timestamp for a, b in zip(frames, frames[1:]))
        for i, f in enumerate(frames):
            assert f.image.shape == (H, W, 3)
            assert np.abs(f.image.astype(int) - _pattern(i).astype(int)).mean() < 8


def test_video_file_loop_resize_and_pacing(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    _write_video(path, "MJPG", n=3)
    with open_source(f"file://{path}?loop=1", width=32) as src:
        frames = [src.read() for _ in range(7)]
        assert src.size == (32, 24)
    assert all(f is not None and f.image.shape == (24, 32, 3) for f in frames)
    assert [f.meta["position"] for f in frames if f is not None] == [0, 1, 2, 0, 1, 2, 0]
    with open_source(path, fps=50.0) as src:
        t0 = time.perf_counter()
        assert len(list(src)) == 3
        assert time.perf_counter() - t0 >= 0.035  # paced at 50 fps: >= 2 intervals


def _write_images(directory: Path, n: int = 5, prefix: str = "img_") -> list[np.ndarray]:
    directory.mkdir(parents=True, exist_ok=True)
    imgs = [_pattern(i) for i in range(n)]
    for i, img in enumerate(imgs):
        assert cv2.imwrite(str(directory / f"{prefix}{i:03d}.png"), img)
    return imgs


def test_image_directory_skips_corrupt_files(tmp_path: Path) -> None:
    imgs = _write_images(tmp_path / "frames")
    (tmp_path / "frames" / "img_002b.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    (tmp_path / "frames" / "notes.txt").write_text("not an image, not corrupt either")
    for uri in (str(tmp_path / "frames"), f"dir://{tmp_path / 'frames'}/"):
        with open_source(uri) as src:
            frames = list(src)
            assert src.stats.skipped_corrupt == [str(tmp_path / "frames" / "img_002b.png")]
        assert len(frames) == 5
        for f, img in zip(frames, imgs):
            np.testing.assert_array_equal(f.image, img)
        assert frames[2].meta["path"].endswith("img_002.png")


def test_glob_and_loop(tmp_path: Path) -> None:
    _write_images(tmp_path, n=3, prefix="a_")
    _write_images(tmp_path, n=2, prefix="b_")
    with open_source(str(tmp_path / "a_*.png")) as src:
        assert [Path(f.meta["path"]).name for f in src] == ["a_000.png", "a_001.png", "a_002.png"]
    with open_source(str(tmp_path / "b_*.png"), loop=True) as src:
        assert [f.index for f in (src.read() for _ in range(5)) if f is not None] == [0, 1, 2, 3, 4]


def test_synthetic_dual_exposure_pairs_are_deterministic() -> None:
    from edge_sdk.data.dual_exposure import generate_scene

    uri = "synthetic://dual-exposure?size=96x64&seed=3&split=test&count=2"
    with open_dual_source(uri) as src:
        pairs = list(src)
        assert src.dual and src.size == (96, 64)
    assert len(pairs) == 2 and all(isinstance(p, DualFrame) for p in pairs)
    p = pairs[0]
    assert p.long.shape == p.short.shape == (64, 96, 3) and p.long.dtype == np.uint16
    ill = p.meta["illuminant"]
    assert ill.shape == (3,) and np.linalg.norm(ill) == pytest.approx(1.0, abs=1e-5)
    scene = generate_scene(3, "test", 64, 96)
    np.testing.assert_array_equal(ill, scene.illuminant)
    np.testing.assert_array_equal(p.long, scene.long)
    assert p.meta["ratio"] == scene.ratio and p.meta["white_level"] == 4095
    with open_source(uri) as again:
        first = again.read()
        assert first is not None
        np.testing.assert_array_equal(first.short, p.short)  # same seed, same scene
    assert not np.array_equal(pairs[1].long, p.long)


def test_synthetic_digits_carry_labels() -> None:
    from edge_sdk.data.digits import load_digits28

    _, labels = load_digits28("test")
    with open_source("synthetic://digits?count=6") as src:
        frames = list(src)
    assert [f.meta["label"] for f in frames] == labels[:6].tolist()
    x, y, w, h = frames[0].meta["bbox"]
    img = frames[0].image
    assert img.shape == (240, 320, 3) and img.dtype == np.uint8
    assert img[y : y + h, x : x + w].max() > 200 and img[:, :x].max() == 0
    with open_source("synthetic://digits?size=64x64&seed=1&count=3") as src:
        frame = src.read()
        assert frame is not None and frame.image.shape == (64, 64, 3)


# --- HTTP MJPEG from a loopback server ----------------------------------------------------------


@pytest.mark.parametrize("path", ["/stream", "/stream-nolen", "/snapshot"])
def test_http_mjpeg_frames_arrive(path: str) -> None:
    with MjpegServer(fps=60) as server, open_source(server.url(path), timeout=3) as src:
        frames = [src.read() for _ in range(4)]
        assert all(f is not None for f in frames)
        numbers = [decode_number(f.image) for f in frames if f is not None]
        assert numbers == sorted(numbers) and len(set(numbers)) == 4
        assert src.size == (128, 32) and src.live


@pytest.mark.parametrize("scheme", ["basic", "digest"])
@pytest.mark.parametrize("path", ["/stream", "/snapshot"])
def test_http_mjpeg_credentials_in_the_url_answer_the_challenge(scheme: str, path: str) -> None:
    """An IP camera behind HTTP Basic or Digest auth: the URL's user:password answer its 401 challenge."""
    password = "p@ss:w/rd"  # percent-encoded in the URL
    with MjpegServer(fps=60, auth=("viewer", password, scheme)) as server:
        url = server.url(path).replace("http://", f"http://viewer:{quote(password, safe='')}@")
        with open_source(url, timeout=3) as src:
            frames = [src.read() for _ in range(3)]
            assert all(f is not None for f in frames)
            assert password not in repr(src) and quote(password, safe="") not in src.name
        assert server.refused >= 1  # the camera challenged, and the credentials answered it


@pytest.mark.parametrize("userinfo", ["", "viewer:wrong@"])
def test_http_mjpeg_unauthorized_says_what_to_do_without_the_password(userinfo: str) -> None:
    with MjpegServer(fps=60, auth=("viewer", "secret", "digest")) as server:
        url = server.url().replace("http://", f"http://{userinfo}")
        with pytest.raises(SourceError, match="401 Unauthorized") as info:
            with open_source(url, timeout=2) as src:
                src.read()
    message = str(info.value)
    assert "wrong" not in message and "secret" not in message
    assert ("not accepted" in message) if userinfo else ("put USER:PASSWORD@ before the host" in message)


def test_http_corrupt_parts_are_skipped() -> None:
    with MjpegServer(fps=100, corrupt_every=3) as server, open_source(server.url(), timeout=3) as src:
        got = []
        for _ in range(60):
            frame = src.read()
            assert frame is not None
            got.append(decode_number(frame.image))
            if src.stats.skipped_corrupt:
                break
        assert src.stats.skipped_corrupt and "undecodable" in src.stats.skipped_corrupt[0]
        assert all(n % 3 != 2 for n in got)


def test_slow_consumer_gets_latest_frame() -> None:
    with MjpegServer(fps=100) as server, open_source(server.url(), timeout=3) as src:
        indices = []
        for _ in range(4):
            time.sleep(0.15)  # a slow consumer
            frame = src.read()
            assert frame is not None
            indices.append(frame.index)
            lag = server.counter - 1 - decode_number(frame.image)
            assert lag <= 10, f"stale frame: {lag} frames behind the server"
        assert src.stats.dropped > 0
        assert min(b - a for a, b in zip(indices, indices[1:])) > 3


def test_reconnects_after_server_restart() -> None:
    server = MjpegServer(fps=50)
    port = server.port
    try:
        with open_source(server.url(), timeout=0.5) as src:
            assert src.read() is not None
            server.stop()
            deadline = time.perf_counter() + 3
            while src.read() is not None and time.perf_counter() < deadline:
                pass  # drain until the dead stream times out
            server = MjpegServer(port, fps=50)
            frame = None
            for _ in range(20):  # bounded: back-off reaches the new server within a few seconds
                frame = src.read()
                if frame is not None:
                    break
            assert frame is not None
            assert src.stats.reconnects >= 1
            assert decode_number(frame.image) < 50  # a frame of the new server
    finally:
        server.stop()


def test_stall_returns_none_after_timeout() -> None:
    with MjpegServer(fps=100, stall_after=3) as server, open_source(server.url(), timeout=0.3) as src:
        assert src.read() is not None
        t0 = time.perf_counter()
        while (frame := src.read()) is not None:
            assert time.perf_counter() - t0 < 2
        elapsed = time.perf_counter() - t0
        assert frame is None and 0.25 <= elapsed < 1.5


# --- dual-exposure layouts ----------------------------------------------------------------------


def _dual_dir(tmp_path: Path, layout: str) -> tuple[Path, np.ndarray, np.ndarray]:
    long, short = _pattern(1), _pattern(7) // 4
    combined = {
        "side-by-side": np.hstack([long, short]),
        "top-bottom": np.vstack([long, short]),
        "interleaved": np.stack([long, short], axis=1).reshape(2 * H, W, 3),
    }[layout]
    d = tmp_path / layout
    d.mkdir()
    for i in range(2):
        cv2.imwrite(str(d / f"{i}.png"), combined)
    return d, long, short


@pytest.mark.parametrize("layout", ["side-by-side", "top-bottom", "interleaved"])
def test_dual_layouts_split_long_first(tmp_path: Path, layout: str) -> None:
    d, long, short = _dual_dir(tmp_path, layout)
    for src in (open_source(d, layout=layout), open_dual_source(f"dual://?src={d}&layout={layout}")):
        with src:
            pairs = list(src)
            assert src.dual and src.size == (W, H)
        assert len(pairs) == 2
        np.testing.assert_array_equal(pairs[0].long, long)
        np.testing.assert_array_equal(pairs[0].short, short)
        assert pairs[0].meta["layout"] == layout


def test_two_streams_pair_up(tmp_path: Path) -> None:
    long_imgs = _write_images(tmp_path / "long", n=3)
    short_imgs = _write_images(tmp_path / "short", n=2)
    for uri in (f"dual://?long={tmp_path / 'long'}&short={tmp_path / 'short'}",
                (str(tmp_path / "long"), str(tmp_path / "short"))):
        with open_dual_source(uri) as src:
            pairs = list(src)
        assert len(pairs) == 2  # ends with the shorter stream
        np.testing.assert_array_equal(pairs[1].long, long_imgs[1])
        np.testing.assert_array_equal(pairs[1].short, short_imgs[1])


# --- lifecycle and errors -----------------------------------------------------------------------


def test_close_is_idempotent_and_read_after_close_fails(tmp_path: Path) -> None:
    _write_images(tmp_path, n=2)
    src = open_source(tmp_path)
    src.close()
    src.close()
    with pytest.raises(SourceError, match="closed"):
        src.read()


def _errors(tmp_path: Path) -> dict[str, object]:
    (tmp_path / "empty.mp4").write_bytes(b"")
    writer = cv2.VideoWriter(str(tmp_path / "noframes.avi"), cv2.VideoWriter.fourcc(*"MJPG"), 10, (W, H))
    writer.release()
    (tmp_path / "nothing").mkdir()
    return {
        "unknown scheme": "foo://bar",
        "missing file": f"file://{tmp_path}/missing.mp4",
        "missing bare file": str(tmp_path / "missing.avi"),
        "missing dir": f"dir://{tmp_path}/nope/",
        "empty video": tmp_path / "empty.mp4",
        "zero-frame video": tmp_path / "noframes.avi",
        "empty directory": tmp_path / "nothing",
        "unmatched glob": str(tmp_path / "*.jpg"),
        "absent index": 99,
        "absent index string": "99",
        "absent device": "v4l2:///dev/video99",
        "refused http": "http://127.0.0.1:9/stream",
        "unknown synthetic": "synthetic://cats",
        "bad synthetic size": "synthetic://digits?size=big",
        "bad option": "file://x.mp4?loop=maybe",
    }


def test_clear_source_errors(tmp_path: Path) -> None:
    for what, uri in _errors(tmp_path).items():
        with pytest.raises(SourceError) as info:
            open_source(uri)  # type: ignore[arg-type]
        message = str(info.value)
        assert "\n" not in message and len(message) > 20, what
        assert isinstance(info.value, EdgeSDKError)


def test_error_messages_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"unknown source scheme foo://.*file://"):
        open_source("foo://bar")
    with pytest.raises(SourceError, match="Did you mean file://"):
        open_source("fil://clip.mp4")
    with pytest.raises(SourceError, match=r"camera index 99.*ls /dev/video"):
        open_source(99)
    with pytest.raises(SourceError, match="no frames|empty"):
        open_source(_errors(tmp_path)["zero-frame video"])  # type: ignore[arg-type]


@pytest.mark.skipif(has_gstreamer(), reason="this OpenCV has GStreamer")
def test_csi_without_gstreamer() -> None:
    with pytest.raises(SourceError, match="GStreamer"):
        open_source("csi://0")


def test_dual_error_paths(tmp_path: Path) -> None:
    _write_images(tmp_path, n=1)
    with pytest.raises(SourceError, match="camera index 99"):
        open_source(99, layout="alternating", exposures=(100.0, 10.0))
    with pytest.raises(SourceError, match="exposures"):
        open_source(0, layout="alternating")
    with pytest.raises(SourceError, match="local camera"):
        open_source(tmp_path, layout="alternating", exposures=(100.0, 10.0))
    with pytest.raises(SourceError, match="unknown dual layout"):
        open_source(tmp_path, layout="diagonal")
    with pytest.raises(SourceError, match="single frames"):
        open_dual_source(tmp_path)
    with pytest.raises(SourceError, match="dual://"):
        open_source("dual://?long=x")
