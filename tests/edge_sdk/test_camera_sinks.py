"""edge_sdk.camera sinks: real video files and PNG directories, read back through open_source."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_sdk.camera import DualFrame, Frame, open_source
from edge_sdk.camera.sinks import VideoFileSink, has_gui, open_sink
from edge_sdk.errors import InputError, SourceError

W, H = 64, 48


def _frames(n: int) -> list[np.ndarray]:
    y, x = np.mgrid[0:H, 0:W]
    return [np.clip(np.stack([x * 3 + 9 * i, y * 4, np.full_like(x, 30 + 15 * i)], -1), 0, 255).astype(np.uint8)
            for i in range(n)]


@pytest.mark.parametrize(("name", "tolerance"), [("out.mp4", 12), ("out.avi", 8), ("out.mkv", 0.01)])
def test_video_sink_reads_back(tmp_path: Path, name: str, tolerance: float) -> None:
    frames = _frames(7)
    target = tmp_path / "videos" / name  # parent created on demand
    with open_sink(target, fps=15) as sink:
        sink.write(Frame(frames[0], 0, 0.0))
        for img in frames[1:]:
            sink.write(img)
        assert not target.exists()  # written to a temporary file until close
    assert isinstance(sink, VideoFileSink) and sink.frames_written == 7 and sink.size == (W, H)
    assert [p.name for p in target.parent.iterdir()] == [name]
    with open_source(f"file://{target}") as src:
        back = list(src)
        assert src.fps == pytest.approx(15.0)
    assert len(back) == 7
    for f, img in zip(back, frames):
        assert np.abs(f.image.astype(int) - img.astype(int)).mean() <= tolerance


def test_gray_frames_are_written_as_bgr(tmp_path: Path) -> None:
    with open_sink(f"file://{tmp_path}/gray.avi") as sink:
        for img in _frames(3):
            sink.write(img[:, :, 0])
    with open_source(tmp_path / "gray.avi") as src:
        assert [f.image.shape for f in src] == [(H, W, 3)] * 3


def test_no_file_left_on_error(tmp_path: Path) -> None:
    frames = _frames(2)
    with pytest.raises(InputError, match="fixed by the first frame"), open_sink(tmp_path / "bad.mp4") as sink:
        sink.write(frames[0])
        sink.write(frames[1][:32, :32])  # a different size
    with pytest.raises(RuntimeError), open_sink(tmp_path / "crash.avi") as sink:
        sink.write(frames[0])
        raise RuntimeError("the program died mid-recording")
    with pytest.raises(InputError, match="uint8"), open_sink(tmp_path / "float.mkv") as sink:
        sink.write(frames[0].astype(np.float32))
    with open_sink(tmp_path / "never.avi"):
        pass  # no frames: no file
    assert list(tmp_path.iterdir()) == []


def test_image_directory_sink_round_trips(tmp_path: Path) -> None:
    frames = _frames(3)
    raw = (np.arange(H * W * 3, dtype=np.uint16).reshape(H, W, 3) * 7) % 4096
    with open_sink(f"dir://{tmp_path}/out/") as sink:
        for img in frames:
            sink.write(img)
    with open_sink(str(tmp_path / "raw") + "/") as sink:
        sink.write(raw)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["000000.png", "000001.png", "000002.png"]
    with open_source(tmp_path / "out") as src:
        for f, img in zip(src, frames, strict=True):
            np.testing.assert_array_equal(f.image, img)
    with open_source(tmp_path / "raw") as src:
        frame = src.read()
        assert frame is not None
        np.testing.assert_array_equal(frame.image, raw)  # 16-bit survives


def test_dual_frame_written_side_by_side_splits_back(tmp_path: Path) -> None:
    long, short = _frames(2)
    with open_sink(f"{tmp_path}/pairs/") as sink:
        sink.write(DualFrame(long, short, 0, 0.0))
    with open_source(tmp_path / "pairs", layout="side-by-side") as src:
        pair = src.read()
    assert pair is not None
    np.testing.assert_array_equal(pair.long, long)
    np.testing.assert_array_equal(pair.short, short)


def test_null_sink_counts_and_closes(tmp_path: Path) -> None:
    sink = open_sink("null://")
    for img in _frames(4):
        sink.write(img)
    sink.close()
    sink.close()
    assert sink.frames_written == 4
    with pytest.raises(SourceError, match="closed"):
        sink.write(_frames(1)[0])


@pytest.mark.skipif(has_gui(), reason="this OpenCV has a GUI")
def test_display_sink_without_gui() -> None:
    with pytest.raises(SourceError, match="GUI.*headless"):
        open_sink("display://0")


def test_sink_errors(tmp_path: Path) -> None:
    for uri in ("ftp://host/out.mp4", str(tmp_path / "out.gif"), f"file://{tmp_path}/out.webm",
                f"file://{tmp_path}/o.avi?fps=fast"):
        with pytest.raises(SourceError):
            open_sink(uri)
    with pytest.raises(InputError):
        open_sink("null://").write("not an image")  # type: ignore[arg-type]
