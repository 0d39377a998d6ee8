"""Sinks: where frames go. ``open_sink(uri)`` picks one by scheme (:data:`SINK_SCHEMES`).

* ``display://0`` -- ``cv2.imshow`` window (needs an OpenCV with a GUI: opencv-python-headless has
  none, and the SourceError says so). ``sink.is_open`` turns false when the user presses q or Esc.
* ``file://out.mp4`` or a bare ``.mp4`` / ``.avi`` / ``.mkv`` path -- a video (fourcc by extension:
  mp4v / MJPG / FFV1), uint8 frames. The first frame fixes the size; frames go to a hidden temporary
  file beside the target, renamed onto it by ``close()``; on an error in ``write()``, an exception in
  the ``with`` block, or a sink garbage-collected without ``close()``, the temporary file is deleted
  and nothing is left (so use ``with`` or call ``close()``). The rate: ``?fps=`` in the URI, else
  ``open_sink(uri, fps=...)`` (pass the source's ``fps`` to keep the input's rate), else 30.
* ``dir://out/`` or a path ending in ``/`` -- PNGs (8- or 16-bit) named after the source file when
  ``write(frame, name=...)`` gives one or a :class:`Frame` carries ``meta['path']`` (``photo.jpg`` ->
  ``photo.png``; a name met twice gets ``-000007`` appended), else numbered ``000000.png``, ....
* ``null://`` -- counts frames, writes nothing (benchmarks).

``write()`` takes a :class:`Frame`, a :class:`DualFrame` (written side by side, long left) or an array.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
import tempfile
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from edge_sdk._io import atomic_write_bytes
from edge_sdk.camera.frames import DualFrame, Frame
from edge_sdk.errors import InputError, SourceError

if TYPE_CHECKING:
    from typing_extensions import Self

FOURCC_BY_EXTENSION = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "FFV1"}
DEFAULT_FPS = 30.0
QUIT_KEYS = frozenset({ord("q"), 27})


def as_image(frame: Frame | DualFrame | np.ndarray) -> np.ndarray:
    if isinstance(frame, Frame):
        return frame.image
    if isinstance(frame, DualFrame):
        return np.hstack([frame.long, frame.short])
    if isinstance(frame, np.ndarray) and frame.ndim in (2, 3):
        return frame
    raise InputError(f"a sink writes a Frame, DualFrame or H x W (x C) array, got {type(frame).__name__}"
                     + (f" of shape {frame.shape}" if isinstance(frame, np.ndarray) else ""))


def as_bgr(image: np.ndarray) -> np.ndarray:
    """3-channel BGR from gray or BGRA (dtype unchanged)."""
    channels = 1 if image.ndim == 2 else image.shape[2]
    convert = {1: cv2.COLOR_GRAY2BGR, 4: cv2.COLOR_BGRA2BGR}
    if channels == 3:
        return image
    if channels not in convert:
        raise InputError(f"a sink writes images with 1, 3 or 4 channels, got shape {image.shape}")
    return cv2.cvtColor(image, convert[channels])


class Sink:
    """Base: ``write()``, idempotent ``close()``, context manager (an exception in the block aborts)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.frames_written = 0
        self._closed = False
        self._name: str | None = None  # the source file name of the frame being written, if known

    def _write(self, image: np.ndarray) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        """Complete the output (close() without error)."""

    def _abort(self) -> None:
        """Discard a partial output."""
        self._finish()

    def write(self, frame: Frame | DualFrame | np.ndarray, *, name: str | None = None) -> None:
        """Write one frame; ``name`` (or a Frame's ``meta['path']``) names its file in sinks that keep names."""
        if self._closed:
            raise SourceError(f"sink {self.name!r} is closed; open it again with edge_sdk.open_sink()")
        if name is None and isinstance(frame, Frame) and isinstance(frame.meta.get("path"), str):
            name = frame.meta["path"]
        self._name = name
        try:
            self._write(as_image(frame))
        except OSError as e:  # unwritable, read-only or full: a typed one-line error, nothing partial left
            self.abort()
            raise SourceError(f"cannot write to sink {self.name!r}: {e.strerror or e}") from None
        except BaseException:
            self.abort()
            raise
        self.frames_written += 1

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                self._finish()
            except OSError as e:
                self._abort()
                raise SourceError(f"cannot finish sink {self.name!r}: {e.strerror or e}") from None

    def abort(self) -> None:
        """Close, discarding a partial output (no temporary or half-written file is left)."""
        if not self._closed:
            self._closed = True
            self._abort()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.abort() if exc_type is not None else self.close()

    def __del__(self) -> None:
        try:
            self.abort()
        except Exception:  # noqa: BLE001 - never raise from a finaliser
            pass


class NullSink(Sink):
    def _write(self, image: np.ndarray) -> None:
        pass


class VideoFileSink(Sink):
    """A video file written atomically (temporary file beside it, renamed on ``close()``)."""

    def __init__(self, path: str, fps: float | None = None) -> None:
        super().__init__(f"file:{path}")
        self.path = Path(path)
        self.fps = float(fps or DEFAULT_FPS)
        self._writer: cv2.VideoWriter | None = None
        self._tmp: Path | None = None
        self.size: tuple[int, int] | None = None
        ext = self.path.suffix.lower()
        if ext not in FOURCC_BY_EXTENSION:
            raise SourceError(f"cannot tell the video format of {path}; use a "
                              + " / ".join(FOURCC_BY_EXTENSION) + " file name")
        self.fourcc = FOURCC_BY_EXTENSION[ext]

    def _open(self, width: int, height: int) -> cv2.VideoWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.stem}.", suffix=f".tmp{self.path.suffix}", dir=self.path.parent)
        os.close(fd)
        self._tmp = Path(tmp)
        writer = cv2.VideoWriter(tmp, cv2.VideoWriter.fourcc(*self.fourcc), self.fps, (width, height))
        if not writer.isOpened():
            raise SourceError(f"OpenCV cannot write {self.fourcc} video to {self.path}; try another extension "
                              "(.avi: MJPG, .mkv: FFV1, .mp4: mp4v)")
        return writer

    def _write(self, image: np.ndarray) -> None:
        if image.dtype != np.uint8:
            raise InputError(f"video sinks write uint8 images, got {image.dtype}; scale to 0..255 first")
        image = as_bgr(image)
        if self.fourcc == "mp4v" and (image.shape[0] % 2 or image.shape[1] % 2):
            # MPEG-4 stores 4:2:0 chroma, so the encoder needs even sizes: pad one black row/column
            # rather than let it drop one silently.
            image = cv2.copyMakeBorder(image, 0, image.shape[0] % 2, 0, image.shape[1] % 2, cv2.BORDER_CONSTANT)
        h, w = image.shape[:2]
        if self._writer is None:
            self.size = (w, h)
            self._writer = self._open(w, h)
        elif self.size != (w, h):
            fw, fh = self.size or (0, 0)
            raise InputError(f"frame {self.frames_written} is {w}x{h}, but {self.path.name} is {fw}x{fh} "
                             "(fixed by the first frame); resize frames before writing")
        self._writer.write(np.ascontiguousarray(image))

    def _release(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None

    def _finish(self) -> None:
        self._release()
        if self._tmp is not None and self.frames_written > 0:
            os.chmod(self._tmp, 0o644)
            os.replace(self._tmp, self.path)
            self._tmp = None
        self._abort()

    def _abort(self) -> None:
        self._release()
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
            self._tmp = None


class ImageDirSink(Sink):
    """Numbered PNG files in a directory, each written atomically."""

    def __init__(self, directory: str) -> None:
        super().__init__(f"dir:{directory}")
        self.directory = Path(directory)
        self._used: set[str] = set()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise SourceError(f"cannot create the output directory {directory} ({e}); check the path") from e

    def _write(self, image: np.ndarray) -> None:
        if image.dtype not in (np.uint8, np.uint16):
            raise InputError(f"PNG sinks write uint8 or uint16 images, got {image.dtype}")
        ok, data = cv2.imencode(".png", image)
        if not ok:
            raise InputError(f"cannot encode a {image.shape} {image.dtype} image as PNG")
        atomic_write_bytes(self.directory / self._file_name(), data.tobytes())

    def _file_name(self) -> str:
        """``<source stem>.png`` (only the last path component: never outside the directory), else numbered.

        Never a file that is already there: a directory may hold the user's own pictures (even the input's:
        ``run m dir://photos/ dir://photos/``), so a taken name gets a ``-N`` suffix instead of being replaced.
        """
        stem = Path(self._name.replace("\\", "/")).stem if self._name else ""
        if not stem or stem.startswith(".") or "\0" in stem:
            stem = f"{self.frames_written:06d}"
        file, n = f"{stem}.png", 0
        while file in self._used or (self.directory / file).exists():
            n += 1
            file = f"{stem}-{n}.png"
        self._used.add(file)
        return file


def has_gui() -> bool:
    """Whether this OpenCV has a HighGUI backend (``GUI:`` in ``cv2.getBuildInformation()``)."""
    m = re.search(r"^\s*GUI:\s*(\S+)", cv2.getBuildInformation(), re.MULTILINE)
    return m is not None and m.group(1).upper() not in ("NONE", "NO")


class DisplaySink(Sink):
    """A ``cv2.imshow`` window; ``is_open`` is false once the user pressed q or Esc."""

    def __init__(self, window: str) -> None:
        super().__init__(f"display:{window}")
        if not has_gui():
            raise SourceError("display:// needs an OpenCV with a GUI, and this one has none (opencv-python-headless): "
                              "pip install opencv-python, or write to file://out.mp4 or dir://frames/ instead")
        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise SourceError("display:// needs a display, and $DISPLAY is unset (headless session): "
                              "write to file://out.mp4 or dir://frames/ instead")
        self.window = f"edge-sdk {window}".strip()
        self.is_open = True

    def _write(self, image: np.ndarray) -> None:
        cv2.imshow(self.window, image)
        if cv2.waitKey(1) & 0xFF in QUIT_KEYS:
            self.is_open = False

    def _finish(self) -> None:
        try:
            cv2.destroyWindow(self.window)
        except cv2.error:
            pass


SINK_SCHEMES: dict[str, Callable[[str, dict[str, str]], Sink]] = {
    "display": lambda target, q: DisplaySink(target or "0"),
    "file": lambda target, q: VideoFileSink(target, fps=float(q["fps"]) if "fps" in q else None),
    "dir": lambda target, q: ImageDirSink(target),
    "null": lambda target, q: NullSink("null"),
}


def _bare_sink_scheme(path: str) -> str:
    if path.endswith(("/", os.sep)) or os.path.isdir(path):
        return "dir"
    if Path(path).suffix.lower() in FOURCC_BY_EXTENSION:
        return "file"
    raise SourceError(f"cannot tell what sink {path!r} is; use file://out.mp4 (.avi, .mkv), dir://frames/, "
                      "display://0 or null://")


def open_sink(uri: str | os.PathLike[str], *, fps: float | None = None) -> Sink:
    """Open a sink; see the module docstring. ``fps`` sets a video file's rate unless the URI has ``?fps=``
    (default 30)."""
    text = os.fspath(uri)
    m = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", text)
    if m is None:
        scheme, target, query = _bare_sink_scheme(text), text, {}
    else:
        scheme = m.group(1).lower()
        if scheme not in SINK_SCHEMES:
            close = difflib.get_close_matches(scheme, list(SINK_SCHEMES), n=1)
            hint = f" (did you mean {close[0]}://?)" if close else ""
            raise SourceError(f"unknown sink scheme {scheme}://{hint}; use one of: "
                              + ", ".join(f"{s}://" for s in SINK_SCHEMES) + " or a .mp4/.avi/.mkv path")
        parts = urllib.parse.urlsplit(text)
        target, query = urllib.parse.unquote(parts.netloc + parts.path), dict(urllib.parse.parse_qsl(parts.query))
    if fps is not None and fps > 0:
        query.setdefault("fps", str(fps))
    if "fps" in query:
        try:
            float(query["fps"])
        except ValueError:
            raise SourceError(f"sink fps must be a number, got {query['fps']!r}") from None
    return SINK_SCHEMES[scheme](target, query)

