"""OpenCV ``VideoCapture`` sources: video files, V4L2 devices, camera indices, Jetson CSI; and the open /
connect helpers they share with the RTSP source (:mod:`edge_sdk.camera.rtsp`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_sdk.camera.ffmpeg_env import _opening
from edge_sdk.camera.frames import Frame, Source, resize_to
from edge_sdk.camera.imagesize import DEFAULT_MAX_PIXELS, check_max_pixels, check_size
from edge_sdk.camera.latest import LiveSource
from edge_sdk.errors import SourceError


class CaptureGrabber:
    """A :class:`~edge_sdk.camera.latest.Grabber` over one ``cv2.VideoCapture``.

    ``first``: a frame already read (at connect), handed out first. ``dead_after``: a read that took
    this long (FFmpeg's read timeout ran out) means a silent stall: the connection is dropped (``None``)
    instead of handing out what FFmpeg returns then (a frame from before the stall).
    """

    def __init__(self, cap: cv2.VideoCapture, *, first: np.ndarray | None = None,
                 dead_after: float | None = None) -> None:
        self.cap = cap
        self._first = first
        self._dead_after = dead_after

    def read(self) -> np.ndarray | None:
        if self._first is not None:
            image, self._first = self._first, None
            return image
        start = time.perf_counter()
        ok, image = self.cap.read()
        if self._dead_after is not None and time.perf_counter() - start >= self._dead_after:
            return None
        return image if ok and image is not None else None

    def close(self) -> None:
        self.cap.release()


@lru_cache(maxsize=1)
def has_gstreamer() -> bool:
    """Whether this OpenCV was built with GStreamer (``cv2.getBuildInformation()``)."""
    m = re.search(r"^\s*GStreamer:\s*(\S+)", cv2.getBuildInformation(), re.MULTILINE)
    return m is not None and m.group(1).upper() not in ("NO", "NONE")


def _configure(cap: cv2.VideoCapture, width: int | None, height: int | None, fps: float | None) -> None:
    for prop, value in ((cv2.CAP_PROP_FRAME_WIDTH, width), (cv2.CAP_PROP_FRAME_HEIGHT, height),
                        (cv2.CAP_PROP_FPS, fps)):
        if value is not None:
            cap.set(prop, float(value))


def _reported_fps(cap: cv2.VideoCapture) -> float | None:
    fps = float(cap.get(cv2.CAP_PROP_FPS))
    return fps if 0.0 < fps < 1000.0 else None


def open_capture(target: str | int, api: int, what: str, hint: str | Callable[[], str], *,
                 params: tuple[int, ...] = (), width: int | None = None, height: int | None = None,
                 fps: float | None = None, ffmpeg: str | None = None) -> cv2.VideoCapture:
    """``cv2.VideoCapture(target, api)``, configured; a one-line :class:`SourceError` if it won't open
    (``hint`` says what to do; a function is asked only then). ``ffmpeg``: FFmpeg options for this open."""
    with _opening(ffmpeg):
        cap = cv2.VideoCapture(target, api, list(params)) if params else cv2.VideoCapture(target, api)
    if not cap.isOpened():
        cap.release()
        raise SourceError(f"cannot open {what}; {hint() if callable(hint) else hint}")
    _configure(cap, width, height, fps)
    check_declared_size(cap, DEFAULT_MAX_PIXELS, what)
    return cap


def check_declared_size(cap: cv2.VideoCapture, max_pixels: int, what: str) -> None:
    """Refuse a stream whose frames declare more than ``max_pixels`` before one is decoded (each would be
    allocated at that size: a few bytes of header can ask for gigabytes)."""
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    if w > 0 and h > 0:
        try:
            check_size((w, h), max_pixels, what)
        except SourceError:
            cap.release()
            raise


def _live(name: str, open_: Callable[[], cv2.VideoCapture | CaptureGrabber], *, timeout: float | None,
          width: int | None, height: int | None, meta: dict[str, Any] | None = None,
          pace: float | None = None) -> LiveSource:
    """A LiveSource whose connections are ``open_()`` captures (or grabbers); fps is what the device reports
    (at most ``pace``). With a first frame read at connect, ``size`` is known at open."""
    seen: dict[str, Any] = {"fps": None, "first": None, "opened": False}

    def connect() -> CaptureGrabber:
        got = open_()
        grabber = got if isinstance(got, CaptureGrabber) else CaptureGrabber(got)
        seen["fps"] = _reported_fps(grabber.cap)
        if not seen["opened"]:
            seen["first"] = grabber._first
        return grabber

    src = LiveSource(name, connect, timeout=timeout, width=width, height=height, meta=meta, pace=pace)
    seen["opened"] = True
    rates = [f for f in (seen["fps"], pace) if f is not None]
    src._fps = min(rates) if rates else None
    first, seen["first"] = seen["first"], None
    if first is not None and src.size is None:
        shape = resize_to(first, width, height).shape
        src.size = (int(shape[1]), int(shape[0]))
    return src


def open_index(index: int, *, width: int | None = None, height: int | None = None, fps: float | None = None,
               timeout: float | None = 5.0, api: int = cv2.CAP_ANY) -> LiveSource:
    """Camera number ``index`` (``0`` is usually ``/dev/video0``)."""
    def open_() -> cv2.VideoCapture:
        return open_capture(index, api, f"camera index {index}",
                            "no such camera: list cameras with `ls /dev/video*` (or v4l2-ctl --list-devices) "
                            "and pass an existing index or device path", width=width, height=height, fps=fps)

    return _live(f"camera:{index}", open_, timeout=timeout, width=width, height=height)


def open_v4l2(device: str, *, width: int | None = None, height: int | None = None, fps: float | None = None,
              timeout: float | None = 5.0) -> LiveSource:
    """A V4L2 device node such as ``/dev/video0``."""
    if not Path(device).exists():
        raise SourceError(f"no V4L2 device {device}; list cameras with `ls /dev/video*` and pass an existing one")

    def open_() -> cv2.VideoCapture:
        return open_capture(device, cv2.CAP_V4L2, f"V4L2 device {device}",
                            "check it is a capture device, not busy in another program, and that you may "
                            "read it (group 'video')", width=width, height=height, fps=fps)

    return _live(f"v4l2:{device}", open_, timeout=timeout, width=width, height=height)


def csi_pipeline(sensor_id: int, width: int, height: int, fps: float) -> str:
    """The Jetson ``nvarguscamerasrc`` GStreamer pipeline delivering BGR frames to OpenCV's appsink."""
    return (f"nvarguscamerasrc sensor-id={sensor_id} ! "
            f"video/x-raw(memory:NVMM), width={width}, height={height}, framerate={round(fps)}/1, format=NV12 ! "
            f"nvvidconv ! video/x-raw, width={width}, height={height}, format=BGRx ! "
            "videoconvert ! video/x-raw, format=BGR ! appsink drop=true max-buffers=1 sync=false")


def open_csi(sensor: str, *, width: int | None = None, height: int | None = None, fps: float | None = None,
             timeout: float | None = 5.0) -> LiveSource:
    """A MIPI CSI camera on a Jetson (``csi://0``), via GStreamer ``nvarguscamerasrc``."""
    if not sensor.isdigit():
        raise SourceError(f"csi:// needs a sensor number such as csi://0, got {sensor!r}")
    if not has_gstreamer():
        raise SourceError("csi:// needs OpenCV built with GStreamer, and this one has none "
                          "(cv2.getBuildInformation(): GStreamer NO; pip wheels never have it): on a Jetson use "
                          "JetPack's OpenCV (apt install python3-opencv) instead of the opencv-python wheel")
    pipeline = csi_pipeline(int(sensor), width or 1280, height or 720, fps or 30.0)

    def open_() -> cv2.VideoCapture:
        return open_capture(pipeline, cv2.CAP_GSTREAMER, f"CSI camera {sensor}",
                            "check the ribbon cable and sensor id, and that nvargus-daemon is running")

    src = _live(f"csi:{sensor}", open_, timeout=timeout, width=width, height=height)
    src._fps = fps or 30.0
    return src


class VideoFileSource(Source[Frame]):
    """Frames of a video file, in order; ``None`` at the end (or start again with ``loop=True``).

    ``fps`` reports the file's rate; pass ``fps=`` to :func:`edge_sdk.open_source` to play it back at a
    rate instead of as fast as it is read. ``frame_count`` is the container's count (may be ``None``).
    """

    def __init__(self, path: str, *, loop: bool = False, width: int | None = None, height: int | None = None,
                 fps: float | None = None, max_pixels: int | None = None) -> None:
        super().__init__(f"file:{path}", width=width, height=height, fps=fps)
        self.path = Path(path)
        self._max_pixels = check_max_pixels(max_pixels)
        self._loop = loop
        self._cap: cv2.VideoCapture | None = None
        self._count = 0
        self._position = 0
        if not self.path.is_file():
            raise SourceError(f"no such video file: {path}; check the path (file:///abs/clip.mp4 or a relative path)")
        if self.path.stat().st_size == 0:
            raise SourceError(f"video file {path} is empty (zero length); record or copy it again")
        self._cap = self._open()
        ok, first = self._cap.read()
        if not ok or first is None:
            self._cap.release()
            raise SourceError(f"video file {path} has no frames (zero-length or undecodable); "
                              "record it again or re-encode it (ffmpeg -i IN -c:v mjpeg OUT.avi)")
        self._pending: np.ndarray | None = first
        if self._fps is None:
            self._fps = _reported_fps(self._cap)
        n = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.frame_count: int | None = n if n > 0 else None

    def _open(self) -> cv2.VideoCapture:
        with _opening(None):
            cap = cv2.VideoCapture(str(self.path), cv2.CAP_ANY)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"OpenCV cannot decode video file {self.path}; re-encode it "
                              "(ffmpeg -i IN -c:v mjpeg OUT.avi) or check it is a video")
        check_declared_size(cap, self._max_pixels, f"video file {self.path}")
        return cap

    def _next_image(self) -> np.ndarray | None:
        if self._pending is not None:
            image, self._pending = self._pending, None
            return image
        assert self._cap is not None
        ok, image = self._cap.read()
        if ok and image is not None:
            return image
        if not self._loop or self._position == 0:
            return None
        self._cap.release()
        self._cap = self._open()
        self._position = 0
        ok, image = self._cap.read()
        return image if ok else None

    def _read(self) -> Frame | None:
        if self._cap is None:
            return None
        image = self._next_image()
        if image is None:
            return None
        frame = Frame(self._resize(image), self._count, time.perf_counter(),
                      {"source": self.name, "path": str(self.path), "position": self._position})
        self._count += 1
        self._position += 1
        return frame

    def _close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

