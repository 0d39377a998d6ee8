"""Image sources: a directory of images (sorted by name), a glob pattern, or one image file.

Files that do not decode are skipped and listed in ``stats.skipped_corrupt`` (never fatal). Images are
read as 3-channel BGR, keeping 16-bit depth (raw captures stay raw).

The declared size is read from the file's header before decoding (:mod:`edge_sdk.camera.imagesize`):
an image over ``max_pixels`` (default 64 MP) is never decoded. In a directory or glob it is skipped and
listed in ``stats.skipped_corrupt`` with the reason; a single image file raises
:class:`~edge_sdk.camera.imagesize.ImageTooLargeError` (a SourceError). So is a file bigger than any
image within the limit could be (8 bytes per pixel, plus 16 MiB of metadata).
"""

from __future__ import annotations

import glob
import time
from pathlib import Path

import cv2
import numpy as np

from edge_sdk.camera.frames import Frame, Source
from edge_sdk.camera.imagesize import DEFAULT_MAX_PIXELS, ImageTooLargeError, check_file, check_max_pixels
from edge_sdk.errors import SourceError

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pnm"})
GLOB_CHARS = frozenset("*?[")


def is_glob(pattern: str) -> bool:
    return any(c in GLOB_CHARS for c in pattern)


def list_images(target: str) -> list[Path]:
    """The image files a directory, glob or single image names, sorted; a SourceError if there are none."""
    if is_glob(target):
        try:
            paths = sorted(Path(p) for p in glob.glob(target, recursive=True) if Path(p).is_file())
        except (OSError, ValueError) as e:
            raise SourceError(f"cannot read the glob {target!r} ({e}); check the pattern and permissions") from e
        if not paths:
            raise SourceError(f"the glob {target!r} matches no files; check the pattern (quote it in the shell)")
        return paths
    path = Path(target)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise SourceError(f"no such image directory or file: {target}; check the path")
    try:
        paths = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
    except OSError as e:
        raise SourceError(f"cannot list the image directory {target} ({e}); check its permissions") from e
    if not paths:
        raise SourceError(f"no images ({', '.join(sorted(IMAGE_EXTENSIONS))}) in directory {target}; "
                          "point at a directory of images or a glob such as 'frames/*.png'")
    return paths


MAX_BYTES_PER_PIXEL = 8  # 16-bit RGBA uncompressed
MAX_METADATA_BYTES = 16 * 1024 * 1024


def read_image(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray | None:
    """BGR (8- or 16-bit) image, or ``None`` if it cannot be read or decoded; :class:`ImageTooLargeError`
    when its header declares more than ``max_pixels`` pixels (it is not decoded) or the file is larger
    than such an image could be."""
    try:
        check_file(path, max_pixels)
        size = path.stat().st_size
        if size > max_pixels * MAX_BYTES_PER_PIXEL + MAX_METADATA_BYTES:
            raise ImageTooLargeError(f"{path} is {size / 2**20:.0f} MiB, more than an image of at most "
                                     f"{max_pixels / 1e6:.3g} MP can be (max_pixels=N to raise the limit); "
                                     "it was not read")
        data = np.fromfile(path, np.uint8)
        if data.size == 0:
            return None
        return cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH)
    except (OSError, cv2.error):
        return None


class ImageSource(Source[Frame]):
    """Images in order; ``None`` after the last (or start again with ``loop=True``)."""

    def __init__(self, target: str, *, loop: bool = False, width: int | None = None, height: int | None = None,
                 fps: float | None = None, max_pixels: int | None = None) -> None:
        super().__init__(f"images:{target}", width=width, height=height, fps=fps)
        self.max_pixels = check_max_pixels(max_pixels)
        self.paths = list_images(target)
        self._single = not is_glob(target) and Path(target).is_file()  # one file: too large is an error
        if self._single:
            try:
                check_file(self.paths[0], self.max_pixels)
            except OSError:
                pass  # unreadable: skipped as corrupt when read, as before
        self._loop = loop
        self._pos = 0
        self._count = 0
        self._pass_had_frame = False
        self._skipped: set[Path] = set()

    def _read(self) -> Frame | None:
        while True:
            if self._pos >= len(self.paths):
                if not (self._loop and self._pass_had_frame):
                    return None
                self._pos, self._pass_had_frame = 0, False
            path = self.paths[self._pos]
            self._pos += 1
            try:
                image = read_image(path, self.max_pixels)
                entry = str(path)
            except ImageTooLargeError as e:
                if self._single:
                    raise
                image, entry = None, str(e)  # the message starts with the path
            if image is None:
                if path not in self._skipped:
                    self._skipped.add(path)
                    self.stats.skip(entry)
                continue
            self._pass_had_frame = True
            frame = Frame(self._resize(image), self._count, time.perf_counter(),
                          {"source": self.name, "path": str(path)})
            self._count += 1
            return frame
