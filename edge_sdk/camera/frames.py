"""What sources return: :class:`Frame`, :class:`DualFrame`, :class:`SourceStats`, and the source base class."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import cv2
import numpy as np

from edge_sdk.errors import SourceError

if TYPE_CHECKING:
    from typing_extensions import Self

MAX_SKIPPED_LISTED = 1000  # stats.skipped_corrupt keeps at most this many entries
MAX_SIDE = 16384  # width/height options and derived resize targets stay within this many pixels a side
MAX_RESIZE_PIXELS = 64_000_000  # a resize target derived from the aspect ratio is clamped to this area

# the password of scheme://user:password@host (up to the last @ before the path), and secret-looking query values
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:@/\s?#]*):[^/\s?#]*@")
_SECRET_QUERY = re.compile(r"(?P<head>[?&](?:password|passwd|pass|pwd|token|access_token|api_?key|key|secret|auth)=)"
                           r"[^&#\s]*", re.IGNORECASE)
REDACTED = "***"


def redact(text: str) -> str:
    """``text`` with the passwords of URLs in it replaced by ``***`` (``rtsp://user:***@host/path``; the
    user name stays, for diagnosis) and the values of secret-looking query keys (``password``, ``token``,
    ``key``, ...) too. Used for source names, reprs, frame metadata, stats and error messages."""
    return _SECRET_QUERY.sub(rf"\g<head>{REDACTED}", _USERINFO.sub(rf"\g<head>:{REDACTED}@", text))


@dataclass
class Frame:
    """One image from a source.

    ``image`` is H x W x C (BGR for cameras, video files and 8-bit images; 16-bit images keep their
    depth); ``index`` counts frames captured by the source (a gap means frames were dropped);
    ``timestamp`` is the capture time on the :func:`time.perf_counter` clock; ``meta`` holds what the
    source knows about the frame (``source``, and e.g. ``label``, ``illuminant``, ``path``).
    """

    image: np.ndarray
    index: int
    timestamp: float
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class DualFrame:
    """A (long, short) exposure pair from a dual-exposure source; same fields as :class:`Frame`."""

    long: np.ndarray
    short: np.ndarray
    index: int
    timestamp: float
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class SourceStats:
    """Counters of a source: frames handed to the caller, frames dropped (live sources keep only the
    latest frame), reconnects, and the skipped inputs: corrupt (file names or frame descriptions) or
    refused (an image over ``max_pixels``, an oversized stream part; the entry says why)."""

    frames_read: int = 0
    dropped: int = 0
    reconnects: int = 0
    skipped_corrupt: list[str] = field(default_factory=list)

    def skip(self, what: str) -> None:
        if len(self.skipped_corrupt) < MAX_SKIPPED_LISTED:
            self.skipped_corrupt.append(redact(what))


F = TypeVar("F", Frame, DualFrame)


def resize_to(image: np.ndarray, width: int | None, height: int | None) -> np.ndarray:
    """Resize to ``width`` x ``height``; with only one given, keep the aspect ratio (the other side clamped
    to :data:`MAX_SIDE` and the area to :data:`MAX_RESIZE_PIXELS`, for extreme aspect ratios); with none, no-op."""
    if width is None and height is None:
        return image
    h, w = image.shape[:2]
    if width is not None and height is not None:
        tw, th = width, height
    elif width is not None:
        tw = width
        th = max(1, min(round(h * tw / w), MAX_SIDE, MAX_RESIZE_PIXELS // tw))
    else:
        th = height or h
        tw = max(1, min(round(w * th / h), MAX_SIDE, MAX_RESIZE_PIXELS // th))
    if (tw, th) == (w, h):
        return image
    interp = cv2.INTER_AREA if tw < w and th < h else cv2.INTER_LINEAR
    return cv2.resize(image, (tw, th), interpolation=interp)


class Source(Generic[F]):
    """Base of every source: ``read()`` -> frame or ``None`` (end or timeout), iteration, context
    manager, idempotent ``close()``; ``fps``, ``size`` (width, height) where known, ``stats``.

    Subclasses implement ``_read()`` and ``_close()``. ``width``/``height`` resize the output when the
    device cannot deliver that size itself; ``fps`` paces non-live sources (files, images, synthetic)
    to that rate (``None``: as fast as the consumer reads).
    """

    dual = False  # True for sources of DualFrame
    live = False  # live sources keep only the latest frame; fps is a device setting, not pacing

    def __init__(self, name: str, *, width: int | None = None, height: int | None = None,
                 fps: float | None = None) -> None:
        self.name = redact(name)  # never a password: the name goes into reprs, metadata and messages
        self.stats = SourceStats()
        self._width, self._height = width, height
        self._fps = fps  # reported rate; subclasses set what the file/device says
        self._pace = fps  # requested rate: paces non-live sources
        self._next_due: float | None = None
        self._closed = False
        self._lock = threading.Lock()
        self.size: tuple[int, int] | None = (width, height) if width is not None and height is not None else None

    @property
    def fps(self) -> float | None:
        """Frames per second where known (the file's rate, the requested rate), else ``None``."""
        return self._fps

    @property
    def closed(self) -> bool:
        return self._closed

    def _read(self) -> F | None:
        raise NotImplementedError

    def _close(self) -> None:
        """Release resources; called once."""

    def _resize(self, image: np.ndarray) -> np.ndarray:
        return resize_to(image, self._width, self._height)

    def read(self) -> F | None:
        """The next frame, or ``None`` at the end of the stream or when a live source times out."""
        if self._closed:
            raise SourceError(f"source {self.name!r} is closed; open it again with edge_sdk.open_source()")
        if self._pace and not self.live:
            now = time.perf_counter()
            if self._next_due is not None and now < self._next_due:
                time.sleep(self._next_due - now)
            self._next_due = max(now, self._next_due or now) + 1.0 / self._pace
        frame = self._read()
        if frame is not None:
            self.stats.frames_read += 1
            if self.size is None:
                img = frame.image if isinstance(frame, Frame) else frame.long
                self.size = (int(img.shape[1]), int(img.shape[0]))
        return frame

    def close(self) -> None:
        """Release the device/file/connection. Safe to call more than once."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> F:
        frame = self.read()
        if frame is None:
            raise StopIteration
        return frame

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - never raise from a finaliser
            pass

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} size={self.size} fps={self.fps}>"
