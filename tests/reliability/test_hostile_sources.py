"""Catalogue: hostile images, streams, frames, preprocessing specs and source URIs (issue #11, sources part).

Decompression bombs (a few hundred bytes declaring tens of thousands of pixels a side) are refused from
their header, before decoding: skipped and listed in a directory or an MJPEG stream, a SourceError for a
single file. MJPEG parts are read in bounded memory; ``close()`` ends the reader thread and its socket
even when the server never sends a boundary. Drawing survives any frame of at least 1 x 1 pixel (checked
in subprocesses, so a segfault shows as a return code, not a dead pytest). Malformed ``preprocessing``
and source options are typed one-line errors naming the field. Real files, real loopback servers, real
ONNX Runtime; no mocks.
"""

from __future__ import annotations

import json
import math
import os
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_sdk.camera import open_source
from edge_sdk.camera.mjpeg import open_mjpeg
from edge_sdk.errors import EdgeSDKError, ManifestError, SourceError
from edge_sdk.pipelines import Classifier
from tests.conftest import REPO
from tests.reliability.conftest import assert_one_line_error

BOUNDARY = "hostileframe"
MAX_PIXELS = 64_000_000  # the documented default (edge_sdk.camera.imagesize.DEFAULT_MAX_PIXELS)


def declared_size(data: bytes) -> tuple[int, int] | None:
    from edge_sdk.camera.imagesize import declared_size as sniff  # imported here: the module is new

    return sniff(data)


@pytest.fixture(scope="module")
def clf_bundle(zoo_bundle) -> Path:  # noqa: ANN001
    return zoo_bundle("compact-cnn")


# --- hostile images -----------------------------------------------------------------------------------------


def bomb_jpeg(width: int, height: int) -> bytes:
    """A real 8x8 JPEG (631 bytes) whose frame header declares ``width`` x ``height``: libjpeg decodes it,
    filling the missing data, to a full-size image."""
    ok, data = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))
    assert ok
    b = bytearray(data.tobytes())
    sof = b.find(b"\xff\xc0")
    b[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(b)


def bomb_png(width: int, height: int) -> bytes:
    ok, data = cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))
    assert ok
    b = bytearray(data.tobytes())
    b[16:24] = struct.pack(">II", width, height)
    b[29:33] = struct.pack(">I", zlib.crc32(bytes(b[12:29])))  # a valid IHDR: only the data is short
    return bytes(b)


def _png(path: Path, h: int, w: int, value: int = 90) -> None:
    assert cv2.imwrite(str(path), np.full((h, w, 3), value, np.uint8))


ENCODINGS = [(".jpg", []), (".png", []), (".bmp", []), (".tiff", []), (".webp", []),
             (".webp", [cv2.IMWRITE_WEBP_QUALITY, 101]), (".ppm", []), (".pgm", []), (".pbm", []), (".pam", []),
             (".pfm", []), (".ras", []), (".hdr", []), (".jp2", []), (".gif", []), (".avif", [])]


@pytest.mark.parametrize(("ext", "params"), ENCODINGS, ids=[f"{e}{len(p)}" for e, p in ENCODINGS])
def test_declared_size_matches_the_decoder(ext: str, params: list[int]) -> None:
    img = np.random.default_rng(0).integers(0, 255, (37, 53, 3), np.uint8)
    src: np.ndarray = img[:, :, 0] if ext in (".pgm", ".pbm") else img
    if ext in (".pfm", ".hdr"):
        src = img.astype(np.float32) / 255
    try:
        ok, data = cv2.imencode(ext, src, params)
    except cv2.error:
        pytest.skip(f"this OpenCV cannot encode {ext}")
    assert ok
    decoded = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    assert decoded is not None
    assert declared_size(data.tobytes()) == (decoded.shape[1], decoded.shape[0]) == (53, 37)


def test_truncated_or_unknown_headers_give_no_size() -> None:
    jpg = bomb_jpeg(30000, 30000)
    assert declared_size(jpg) == (30000, 30000) and len(jpg) < 1000
    assert declared_size(bomb_png(40000, 20000)) == (40000, 20000)
    for data in (b"", b"\xff\xd8", jpg[:100], b"\x89PNG\r\n\x1a\n\x00", b"BM", b"II*\x00\xff\xff\xff\xff",
                 b"P6\n", b"RIFF\x00\x00\x00\x00WEBPVP8 ", b"not an image at all", b"\xff\xd8" + b"\xff\x01" * 5000):
        assert declared_size(data) is None


def test_bombs_in_a_directory_are_skipped_and_listed(cli, clf_bundle, tmp_path) -> None:
    d = tmp_path / "frames"
    d.mkdir()
    _png(d / "a.png", 28, 28)
    (d / "b-bomb.jpg").write_bytes(bomb_jpeg(9000, 9000))  # 81 MP > 64 MP: old code decoded 243 MB
    (d / "c-bomb.png").write_bytes(bomb_png(30000, 30000))
    _png(d / "d.png", 28, 28)
    t0 = time.perf_counter()
    with open_source(d) as src:
        frames = list(src)
        skipped = list(src.stats.skipped_corrupt)
    assert time.perf_counter() - t0 < 2.0
    assert [f.meta["path"] for f in frames] == [str(d / "a.png"), str(d / "d.png")]
    assert len(skipped) == 2, skipped
    assert "b-bomb.jpg" in skipped[0] and "9000x9000 = 81 MP" in skipped[0] and "64 MP limit" in skipped[0]
    assert "c-bomb.png" in skipped[1] and "30000x30000 = 900 MP" in skipped[1]
    r = cli("run", clf_bundle, f"dir://{d}", "--json")
    assert r.code == 0, r.err
    summary = r.json()
    assert summary["frames"] == 2 and len(summary["source"]["skipped_corrupt"]) == 2


def test_max_pixels_option_lowers_and_raises_the_limit(tmp_path) -> None:
    d = tmp_path / "frames"
    d.mkdir()
    _png(d / "a.png", 1000, 1200)  # 1.2 MP, a real image
    with open_source(f"dir://{d}?max_pixels=1000000") as src:
        assert src.read() is None
        assert "1200x1000 = 1.2 MP, over the 1 MP limit (max_pixels=1200000" in src.stats.skipped_corrupt[0]
    with open_source(d, max_pixels=1_200_000) as src:
        frame = src.read()
        assert frame is not None and frame.image.shape == (1000, 1200, 3)
    from edge_sdk.camera.imagesize import DEFAULT_MAX_PIXELS

    assert DEFAULT_MAX_PIXELS == MAX_PIXELS


def test_single_bomb_file_is_a_source_error(cli, clf_bundle, tmp_path) -> None:
    path = tmp_path / "bomb.jpg"
    path.write_bytes(bomb_jpeg(30000, 30000))
    with pytest.raises(SourceError) as e:
        open_source(path)
    assert type(e.value).__name__ == "ImageTooLargeError"
    assert "declares 30000x30000 = 900 MP, over the 64 MP limit (max_pixels=900000000 to raise it)" in str(e.value)
    r = cli("run", clf_bundle, path, "--quiet")
    assert_one_line_error(r, "bomb.jpg", "30000x30000", "max_pixels")


def test_file_larger_than_any_allowed_image_is_not_read(tmp_path) -> None:
    d = tmp_path / "frames"
    d.mkdir()
    (d / "huge.ppm").write_bytes(b"P6\n100 100\n255\n" + b"\0" * (100 * 100 * 3 + 20_000_000))  # 20 MB of tail
    _png(d / "ok.png", 8, 8)
    with open_source(d, max_pixels=10_000) as src:
        assert len(list(src)) == 1
        assert "huge.ppm is 19 MiB, more than an image of at most 0.01 MP can be" in src.stats.skipped_corrupt[0]


# --- hostile MJPEG streams ----------------------------------------------------------------------------------


def _jpeg(value: int, size: tuple[int, int] = (32, 24)) -> bytes:
    ok, data = cv2.imencode(".jpg", np.full((size[1], size[0], 3), value, np.uint8))
    assert ok
    return data.tobytes()


def _part(data: bytes, *, length: bool = True) -> bytes:
    head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
    if length:
        head += f"Content-Length: {len(data)}\r\n"
    return head.encode() + b"\r\n" + data + b"\r\n"


class ScriptedMjpegServer:
    """A loopback multipart server: each connection gets ``script()`` (bytes chunks), then the connection
    is held open until stop()."""

    def __init__(self, script: Callable[[], Iterator[bytes]]) -> None:
        self._stop = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
                self.end_headers()
                try:
                    for chunk in script():
                        if outer._stop.is_set():
                            return
                        self.wfile.write(chunk)
                        self.wfile.flush()
                    outer._stop.wait()
                except OSError:
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/stream"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def __enter__(self) -> ScriptedMjpegServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(5)


def _read_frames(src: Any, n: int, limit: float = 10.0) -> list[Any]:
    frames: list[Any] = []
    deadline = time.perf_counter() + limit
    while len(frames) < n and time.perf_counter() < deadline:
        t0 = time.perf_counter()
        frame = src.read()
        assert time.perf_counter() - t0 < 1.5  # read() keeps its timeout (0.5 s) however hostile the parts
        if frame is not None:
            frames.append(frame)
    return frames


def _slow(parts: list[bytes], pause: float = 0.02) -> Callable[[], Iterator[bytes]]:
    def script() -> Iterator[bytes]:
        for p in parts:  # paced so the latest-frame reader does not drop the frames we look for
            yield p
            time.sleep(pause)

    return script


def test_mjpeg_bomb_frames_are_skipped_and_counted() -> None:
    good = [_part(_jpeg(40 * i)) for i in range(1, 4)]
    delimiter = f"--{BOUNDARY}\r\n".encode()  # a part without Content-Length ends at the next delimiter:
    # send it alone, so the reader publishes that part before the next one replaces it
    parts = [good[0], _part(bomb_jpeg(9000, 9000)), good[1], _part(bomb_jpeg(30000, 30000), length=False),
             delimiter, good[2][len(delimiter):]]
    with ScriptedMjpegServer(_slow(parts, 0.15)) as server, open_source(server.url, timeout=0.5) as src:
        frames = _read_frames(src, 3)
        skipped = list(src.stats.skipped_corrupt)
    assert [f.image.shape for f in frames] == [(24, 32, 3)] * 3
    assert len(skipped) == 2 and "9000x9000" in skipped[0] and "30000x30000" in skipped[1], skipped
    assert all("frame" in s and "max_pixels" in s for s in skipped)


@pytest.mark.parametrize("with_length", [True, False], ids=["content-length", "no-length"])
def test_mjpeg_oversized_part_is_dropped_and_the_stream_goes_on(with_length: bool) -> None:
    big = b"\xab" * 300_000  # over a 100 kB max_part_bytes
    parts = [_part(_jpeg(50)), _part(big, length=with_length), _part(_jpeg(100)), _part(_jpeg(150))]
    with ScriptedMjpegServer(_slow(parts, 0.1)) as server:
        src = open_mjpeg(server.url, timeout=0.5, max_part_bytes=100_000)
        with src:
            frames = _read_frames(src, 3)
            assert len(frames) == 3 and src.stats.reconnects == 0
            skipped = list(src.stats.skipped_corrupt)
    assert len(skipped) == 1 and "over the 100000 byte limit (max_part_bytes)" in skipped[0], skipped


def test_mjpeg_default_part_cap_without_content_length() -> None:
    big = b"\xab" * (40 * 1024 * 1024)  # 40 MiB without Content-Length: over the 32 MiB default
    parts = [_part(big, length=False), _part(_jpeg(100)), _part(_jpeg(150))]
    with ScriptedMjpegServer(_slow(parts, 0.1)) as server, open_source(server.url, timeout=0.5) as src:
        frames = _read_frames(src, 2, limit=20)
        skipped = list(src.stats.skipped_corrupt)
        assert src.stats.reconnects == 0
    assert len(frames) == 2
    assert len(skipped) == 1 and "max_part_bytes" in skipped[0], skipped


def test_mjpeg_junk_without_a_boundary_is_dropped_and_counted() -> None:
    junk = (b"x" * 999 + b"\n") * 50 + b"y" * 200_000  # 250 kB of preamble, no boundary in it
    parts = [junk, _part(_jpeg(80)), _part(_jpeg(160))]
    with ScriptedMjpegServer(_slow(parts, 0.1)) as server:
        with open_mjpeg(server.url, timeout=0.5, max_part_bytes=100_000) as src:
            frames = _read_frames(src, 2)
            skipped = list(src.stats.skipped_corrupt)
    assert len(frames) == 2
    assert skipped and all("without a boundary" in s for s in skipped), skipped


TRICKLE_SERVER = textwrap.dedent("""
    import socket, sys, threading, time
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    print(srv.getsockname()[1], flush=True)
    def serve(conn):
        try:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.0 200 OK\\r\\nContent-Type: multipart/x-mixed-replace; boundary=never\\r\\n\\r\\n")
            while True:  # a byte every 50 ms: never a boundary, never a socket timeout
                conn.sendall(b"x")
                time.sleep(0.05)
        except OSError:
            conn.close()
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()
""")


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd to count descriptors")
def test_mjpeg_close_ends_thread_and_socket_when_no_boundary_ever_comes() -> None:
    server = subprocess.Popen([sys.executable, "-c", TRICKLE_SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = f"http://127.0.0.1:{int(server.stdout.readline())}/stream"
        # what the sources leave behind: threads that were not there before (a thread of an earlier test may
        # end meanwhile, so compare sets, not counts) and file descriptors beyond the ones open before
        threads, fds = set(threading.enumerate()), _fds()

        def leftovers() -> tuple[list[str], int]:
            return [t.name for t in set(threading.enumerate()) - threads], max(0, _fds() - fds)

        for _ in range(10):
            src = open_source(url, timeout=5.0)
            time.sleep(0.05)
            t0 = time.perf_counter()
            src.close()
            assert time.perf_counter() - t0 < 1.5  # close() keeps its own timeout
        deadline = time.perf_counter() + 1.0
        while leftovers() != ([], 0) and time.perf_counter() < deadline:
            time.sleep(0.02)
        assert leftovers() == ([], 0), (leftovers(), fds)
    finally:
        server.kill()
        server.wait(5)


# --- drawing on any frame size (subprocess: a segfault is a return code) ---------------------------------------

DRAW_SCRIPT = textwrap.dedent("""
    import numpy as np
    from edge_sdk.pipelines.classifier import Prediction
    from edge_sdk.pipelines.draw import draw_prediction, draw_white_balance
    from edge_sdk.pipelines.timing import Timings
    from edge_sdk.pipelines.white_balance import WhiteBalanceResult
    p = Prediction(["7", "1", "2"], [0.8, 0.15, 0.05], [7, 1, 2], Timings())
    for h, w in [(1, 1), (1, 2), (2, 1), (2, 2), (1, 3000), (3000, 1), (5000, 2), (1, 20000), (7, 9000)]:
        frame = np.full((h, w, 3), 100, np.uint8)
        out = draw_prediction(frame, p)
        assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3, out.shape
        assert out.shape[0] * out.shape[1] <= max(240 * 240, 4096 * 4096), out.shape
        raw = np.full((h, w, 3), 2000, np.uint16)
        wb = draw_white_balance((raw, raw // 4))
        result = WhiteBalanceResult(np.full(3, 3 ** -0.5, np.float32), np.ones(3, np.float32), raw, Timings())
        wb2 = draw_white_balance(result)
        assert wb.shape[1] == wb2.shape[1] == 2 * w and wb.shape[0] > h, wb.shape
        print(h, w, out.shape, wb.shape, flush=True)
    print("OK")
""")


def _python(code: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=timeout)


def test_drawing_survives_any_frame_size() -> None:
    r = _python(DRAW_SCRIPT)
    assert r.returncode == 0 and r.stdout.strip().endswith("OK"), (r.returncode, r.stdout[-500:], r.stderr[-2000:])


def test_cli_run_on_one_pixel_wide_frames(clf_bundle, tmp_path) -> None:
    d = tmp_path / "thin"
    d.mkdir()
    for i, (h, w) in enumerate([(3000, 1), (1, 3000), (1, 1), (2, 2)]):
        _png(d / f"{i}.png", h, w, 50 * i + 20)
    r = subprocess.run([sys.executable, "-m", "edge_sdk", "run", str(clf_bundle), f"dir://{d}", f"dir://{tmp_path}/out",
                        "--json"], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])  # was -11 (SIGSEGV in cv2.putText), exit 139
    assert json.loads(r.stdout)["frames"] == 4
    assert len(list((tmp_path / "out").glob("*.png"))) == 4


# --- preprocessing from the manifest ---------------------------------------------------------------------------

BAD_PREPROCESSING: dict[str, tuple[dict[str, Any], str]] = {
    "size-30000": ({"size": [30000, 30000]}, "preprocessing.size"),
    "size-negative": ({"size": [-28, 28]}, "preprocessing.size"),
    "size-zero": ({"size": [0, 28]}, "preprocessing.size"),
    "size-float": ({"size": [28.5, 28]}, "preprocessing.size"),
    "size-string": ({"size": "28x28"}, "preprocessing.size"),
    "size-one-value": ({"size": [28]}, "preprocessing.size"),
    "size-bool": ({"size": [True, 28]}, "preprocessing.size"),
    "size-huge-int": ({"size": [10**30, 28]}, "preprocessing.size"),
    "std-zero": ({"std": [0.0]}, "preprocessing.std"),
    "std-zero-scalar": ({"std": 0}, "preprocessing.std"),
    "std-wrong-length": ({"std": [1.0, 1.0]}, "preprocessing.std"),
    "std-string": ({"std": "1"}, "preprocessing.std"),
    "mean-nan": ({"mean": [math.nan]}, "preprocessing.mean"),
    "mean-inf": ({"mean": [math.inf]}, "preprocessing.mean"),
    "mean-nested": ({"mean": [[0.0]]}, "preprocessing.mean"),
    "scale-string": ({"scale": "1/255"}, "preprocessing.scale"),
    "scale-nan": ({"scale": math.nan}, "preprocessing.scale"),
    "color-hsv": ({"color": "hsv"}, "preprocessing.color"),
    "color-int": ({"color": 3}, "preprocessing.color"),
    "layout-chw": ({"layout": "CHW"}, "preprocessing.layout"),
    "crop-left": ({"crop": "left"}, "preprocessing.crop"),
    "crop-list": ({"crop": ["center"]}, "preprocessing.crop"),
    "size-other-than-model": ({"size": [32, 32]}, "the model takes"),
    "rgb-for-gray-model": ({"color": "rgb", "mean": [0.0], "std": [1.0]}, "the model takes"),
}


def _edited_bundle(src: Path, dst: Path, change: dict[str, Any]) -> Path:
    import shutil

    shutil.copytree(src, dst)
    manifest = json.loads((dst / "manifest.json").read_text())
    manifest["preprocessing"] = {**manifest["preprocessing"], **change}
    (dst / "manifest.json").write_text(json.dumps(manifest))  # NaN/Infinity as Python's json writes them
    return dst


@pytest.mark.parametrize("case", list(BAD_PREPROCESSING))
def test_bad_preprocessing_is_refused_when_the_pipeline_is_built(cli, clf_bundle, tmp_path, case) -> None:
    change, needle = BAD_PREPROCESSING[case]
    bundle = _edited_bundle(clf_bundle, tmp_path / "b", change)
    with pytest.raises(ManifestError) as e:
        Classifier(bundle)
    assert needle in str(e.value) and "\n" not in str(e.value)
    r = cli("run", bundle, "synthetic://digits?count=2", "--quiet")
    assert_one_line_error(r, needle)


def test_good_preprocessing_still_runs(cli, clf_bundle, tmp_path) -> None:
    bundle = _edited_bundle(clf_bundle, tmp_path / "b", {"std": 0.5, "mean": 0.1, "resize": "stretch"})
    r = cli("run", bundle, "synthetic://digits?count=2", "--json")
    assert r.code == 0, r.err
    assert r.json()["frames"] == 2


# --- source URI parameters -------------------------------------------------------------------------------------

BAD_URIS = [
    ("http://[::1", "Invalid IPv6 URL"),
    ("https://[zz]/stream", "zz"),
    ("http://127.0.0.1:abc/stream", "port"),
    ("http://127.0.0.1:99999/stream", "out of range"),
    ("rtsp://[::1", "Invalid IPv6 URL"),
    ("file://[::1", "Invalid IPv6 URL"),
    ("dir://[::1/", "Invalid IPv6 URL"),
    ("synthetic://digits?count=0", "count"),
    ("synthetic://dual-exposure?count=0", "count"),
    ("synthetic://digits?count=99999999999999999999999", "count"),
    ("synthetic://digits?seed=99999999999999999999999999", "seed"),
    ("synthetic://digits?size=100000x100000", "size"),
    ("synthetic://digits?size=2x99999", "size"),
    ("synthetic://digits?width=-3", "width"),
    ("synthetic://digits?width=0", "width"),
    ("synthetic://digits?height=100000000", "height"),
    ("synthetic://digits?fps=nan", "fps"),
    ("synthetic://digits?fps=inf", "fps"),
    ("synthetic://digits?fps=-1", "fps"),
    ("synthetic://digits?fps=0", "fps"),
    ("synthetic://digits?timeout=nan", "timeout"),
    ("synthetic://digits?timeout=-1", "timeout"),
    ("synthetic://digits?timeout=0", "timeout"),
    ("dual://?src=synthetic://digits&layout=side-by-side&width=0", "width"),
    ("99999999999999999999", "camera index"),
]


@pytest.mark.parametrize(("uri", "needle"), BAD_URIS)
def test_bad_source_uri_is_a_one_line_source_error(cli, clf_bundle, uri: str, needle: str) -> None:
    with pytest.raises(SourceError) as e:
        open_source(uri).close()
    assert needle in str(e.value) and "\n" not in str(e.value)
    if not uri.startswith(("synthetic://dual", "dual://")):
        assert_one_line_error(cli("run", clf_bundle, uri, "--quiet"), needle)


@pytest.mark.parametrize("options", [{"width": True}, {"width": 2.0}, {"height": -1}, {"fps": math.nan},
                                     {"fps": "30"}, {"timeout": math.nan}, {"timeout": -math.inf}, {"loop": "yes"},
                                     {"max_pixels": 0}, {"max_pixels": 1.5}],
                         ids=lambda o: repr(o))
def test_bad_source_keyword_is_a_source_error(options: dict[str, Any]) -> None:
    with pytest.raises(SourceError) as e:
        open_source("synthetic://digits?count=1", **options).close()
    assert next(iter(options)) in str(e.value)


def test_resize_to_one_side_keeps_memory_bounded(tmp_path) -> None:
    d = tmp_path / "thin"
    d.mkdir()
    _png(d / "a.png", 2000, 1)  # keeping the aspect ratio at width 1000 would be 2,000,000 rows
    with open_source(d, width=1000) as src:
        frame = src.read()
    assert frame is not None and frame.image.shape[1] == 1000 and frame.image.shape[0] <= 16384


OPTION_VALUES = st.one_of(st.sampled_from(["0", "-1", "1", "2", "nan", "inf", "-inf", "1e400", "2.5", "", "x",
                                           "99999999999999999999", "3x4", "0x0", "1x1", "true", "[::1"]),
                          st.text(max_size=6))


@settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["width", "height", "fps", "timeout", "count", "size", "seed", "loop",
                                        "max_pixels", "split"]), OPTION_VALUES, max_size=4))
def test_synthetic_query_fuzz_only_source_errors(query: dict[str, str]) -> None:
    from urllib.parse import urlencode

    try:
        src = open_source("synthetic://digits?" + urlencode(query))
    except SourceError:
        return
    with src:
        w, h = src.size or (0, 0)
        assert 1 <= w <= 16384 and 1 <= h <= 16384 and w * h <= MAX_PIXELS
        if w * h <= 1_000_000:
            assert src.read() is not None


def test_errors_are_edge_sdk_errors() -> None:
    from edge_sdk.camera.imagesize import ImageTooLargeError

    assert issubclass(ImageTooLargeError, SourceError) and issubclass(SourceError, EdgeSDKError)
    with socket.socket() as s:  # a closed port still gives the old typed connect error
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SourceError, match="cannot connect"):
        open_source(f"http://127.0.0.1:{port}/stream")


def test_video_frames_declaring_too_many_pixels_are_refused_before_decoding(tmp_path: Path) -> None:
    """A video's frame size is checked against max_pixels when it is opened (each frame would be allocated at
    the declared size). The limit is lowered here so a small real MJPEG video shows the rule."""
    import cv2

    import edge_sdk
    from edge_sdk.camera.imagesize import ImageTooLargeError

    clip = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 36))
    for k in range(3):
        writer.write(np.full((36, 64, 3), 60 * k, np.uint8))
    writer.release()
    with pytest.raises(ImageTooLargeError, match="declares 64x36"):
        edge_sdk.open_source(f"file://{clip}?max_pixels=1000")
    with edge_sdk.open_source(f"file://{clip}?max_pixels=2304") as src:  # exactly 64 x 36: allowed
        assert src.read() is not None
