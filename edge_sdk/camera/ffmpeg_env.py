"""FFmpeg capture options for OpenCV, which reads them from one process-wide environment variable at each
``cv2.VideoCapture`` open: :func:`ffmpeg_options` merges defaults with the user's own entries, and
``_opening`` sets the variable for one open without another open (another camera, a video file) seeing
it."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

FFMPEG_OPTIONS_ENV = "OPENCV_FFMPEG_CAPTURE_OPTIONS"  # OpenCV reads it at each open: "key;value|key;value"


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


_opening = _FFmpegEnvironment().use  # every cv2.VideoCapture of edge_sdk.camera.capture is constructed inside it
