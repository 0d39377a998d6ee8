"""OpenCV ``VideoCapture`` sources: video files, V4L2 devices, camera indices, RTSP, Jetson CSI.

RTSP (OpenCV's FFmpeg backend) is tuned for latency, measured against GStreamer's RTSP server on
127.0.0.1 (``tests/edge_sdk/test_rtsp.py``; 320x240 H.264 at 30 fps, 2-core x86):

- :data:`RTSP_CAPTURE_OPTIONS`: FFmpeg's default probe reads about a second of video at open and then
  hands it out as a burst of stale frames (open 1.0 s, first frame 0.95 s old, the first ~30 frames
  stale); probing one packet opens in about 0.1 s with the first frame 60 ms old. ``fflags;nobuffer``
  is left out: it throws the probed keyframe away, so the first frame waits for the next keyframe
  (a whole GOP, 1 s here). Entries of your own in ``OPENCV_FFMPEG_CAPTURE_OPTIONS`` win over these.
- :data:`RTSP_DECODER_THREADS`: FFmpeg's frame threads (one per core by default) each hold a frame:
  steady-state lag 38 ms with 1 thread, 70 ms with 2, 271 ms with 8.
- A read that waits out the whole timeout (the stream went silent while the connection stayed open)
  ends the connection: FFmpeg would hand back the frame it held from before the stall as if new, and
  then fail every read; the source reconnects instead.
- The connection counts as open only once a first frame is decoded within the timeout: a server that
  answers but never sends decodable video is a SourceError, not a source of size ``None``.
- ``fps=`` is honoured by pacing: ``read()`` returns at most that many frames a second, each the newest
  (an RTSP client cannot set the camera's rate).
"""

from __future__ import annotations

import math
import os
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_sdk.camera.frames import Frame, Source, redact, resize_to
from edge_sdk.camera.imagesize import DEFAULT_MAX_PIXELS, check_max_pixels, check_size
from edge_sdk.camera.latest import LiveSource
from edge_sdk.errors import SourceError

FFMPEG_OPTIONS_ENV = "OPENCV_FFMPEG_CAPTURE_OPTIONS"  # OpenCV reads it at each open: "key;value|key;value"
RTSP_CAPTURE_OPTIONS: dict[str, str] = {
    "rtsp_flags": "prefer_tcp",  # TCP first (no UDP loss, passes NAT), UDP if the camera refuses TCP
    "probesize": "32",  # probe one packet, not ~1 s of video that comes out later as a stale burst
    "analyzeduration": "0",
}
RTSP_DECODER_THREADS = 1  # each extra frame thread adds a frame of lag
RTSP_DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322}
RTSP_INFINITE_TIMEOUT = 30.0  # FFmpeg's open/read timeout when the source waits forever (timeout=inf)
RTSP_PROBE_REPLY_BYTES = 4096  # the diagnosis reads at most this much of the server's answer


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


def ffmpeg_options(defaults: dict[str, str]) -> str:
    """``defaults`` merged with the user's ``OPENCV_FFMPEG_CAPTURE_OPTIONS`` (the user's entries win), in
    that variable's ``key;value|key;value`` syntax."""
    merged = dict(defaults)
    for entry in os.environ.get(FFMPEG_OPTIONS_ENV, "").split("|"):
        key, sep, value = entry.partition(";")
        if key.strip() and sep:
            merged[key.strip()] = value
    return "|".join(f"{k};{v}" for k, v in merged.items())


class _FFmpegEnvironment:
    """FFmpeg options for one ``cv2.VideoCapture`` open, through the process-wide environment variable:
    opens with the same options run together (several RTSP cameras reconnecting at once), an open with
    other options (or none: video files) waits until they are done, so none sees another's options."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._options: str | None = None
        self._users = 0
        self._before: str | None = None

    @contextmanager
    def use(self, options: str | None) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: self._users == 0 or self._options == options)
            if self._users == 0 and options is not None:
                self._before = os.environ.get(FFMPEG_OPTIONS_ENV)
                os.environ[FFMPEG_OPTIONS_ENV] = options
            self._options = options
            self._users += 1
        try:
            yield
        finally:
            with self._cond:
                self._users -= 1
                if self._users == 0:
                    if self._options is not None:
                        if self._before is None:
                            os.environ.pop(FFMPEG_OPTIONS_ENV, None)
                        else:
                            os.environ[FFMPEG_OPTIONS_ENV] = self._before
                    self._options = None
                    self._cond.notify_all()


_opening = _FFmpegEnvironment().use  # every cv2.VideoCapture of this module is constructed inside it


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


def _rtsp_diagnosis(url: str, seconds: float) -> str:
    """Why OpenCV could not open ``url``, in one line: nothing listening, or the server's RTSP status for
    the path (asked with one DESCRIBE, without the credentials; only the status code is used)."""
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or "", parts.port or RTSP_DEFAULT_PORTS.get(parts.scheme.lower(), 554)
    where = f"{host}:{port}"
    if not host:
        return "the URL names no host; write rtsp://HOST[:PORT]/PATH"
    try:
        with socket.create_connection((host, port), timeout=min(seconds, 3.0)) as sock:
            if parts.scheme.lower() != "rtsp":
                return f"the server at {where} accepts connections but the RTSPS session failed"
            netloc = f"[{host}]" if ":" in host else host
            plain = urllib.parse.urlunsplit(("rtsp", f"{netloc}:{port}", parts.path or "/", parts.query, ""))
            sock.sendall(f"DESCRIBE {plain} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n"
                         "User-Agent: edge-sdk\r\n\r\n".encode("ascii", "replace"))
            reply = sock.recv(RTSP_PROBE_REPLY_BYTES)
    except OSError as e:
        reason = e.strerror or type(e).__name__
        return (f"no RTSP server answers at {where} ({reason}); check the host and port (default 554) and that "
                "the camera is on and reachable")
    m = re.match(rb"RTSP/\d\.\d (\d{3})", reply)
    code = int(m.group(1)) if m else 0
    if code == 401:
        given = parts.password is not None or parts.username is not None
        return (f"the RTSP server at {where} refused the credentials in the URL (401 Unauthorized); check the "
                "user name and password" if given else
                f"the RTSP server at {where} needs credentials (401 Unauthorized): put them in the URL before the "
                "host, as USER:PASSWORD@")
    hints = {
        404: f"the RTSP server at {where} has no stream at {parts.path or '/'!r} (404 Not Found); check the "
             "stream path in the camera's manual or web page",
        403: f"the RTSP server at {where} forbids {parts.path or '/'!r} (403 Forbidden); check the user's rights",
        200: f"the RTSP server at {where} offers the stream but FFmpeg could not open it within {seconds:g} s "
             "(codec or transport); try it with ffplay",
    }
    if code in hints:
        return hints[code]
    return (f"the server at {where} answered {f'RTSP status {code}' if code else 'but not as an RTSP server'}; "
            "check the URL and try it with ffplay")


def open_rtsp(url: str, *, width: int | None = None, height: int | None = None, fps: float | None = None,
              timeout: float | None = 5.0) -> LiveSource:
    """An RTSP stream through OpenCV's FFmpeg backend, tuned for latency (see the module docstring).

    ``timeout`` bounds the open, the first frame and each read (``inf``: 30 s for FFmpeg, ``read()`` waits
    forever); ``fps`` paces ``read()`` to that rate. A SourceError, never showing the password, when nothing
    listens, the path or credentials are wrong, or no decodable video arrives within ``timeout``.
    """
    shown = redact(url)
    seconds = timeout if timeout is not None and math.isfinite(timeout) else RTSP_INFINITE_TIMEOUT
    ms = max(1, int(1000 * seconds))
    params = (cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms,
              cv2.CAP_PROP_N_THREADS, RTSP_DECODER_THREADS)

    def open_() -> CaptureGrabber:
        start = time.perf_counter()
        cap = open_capture(url, cv2.CAP_FFMPEG, f"RTSP stream {shown}", lambda: _rtsp_diagnosis(url, seconds),
                           params=params, ffmpeg=ffmpeg_options(RTSP_CAPTURE_OPTIONS))
        ok, image = cap.read()  # after an open that waited out the timeout, this frame is that old
        if not ok or image is None or time.perf_counter() - start >= seconds:
            cap.release()
            raise SourceError(f"RTSP stream {shown} connected but sent no decodable video within {seconds:g} s; "
                              "check that the camera streams (its web page or ffplay), or raise timeout")
        return CaptureGrabber(cap, first=image, dead_after=seconds)

    return _live(shown, open_, timeout=timeout, width=width, height=height, pace=fps)


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

