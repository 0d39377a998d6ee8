"""Image sources: a directory of images (sorted by name), a glob pattern, or one image file.

Files that do not decode are skipped and listed in ``stats.skipped_corrupt`` (never fatal). Images are
read as 3-channel BGR, keeping 16-bit depth (raw captures stay raw).
"""

from __future__ import annotations

import glob
import time
from pathlib import Path

import cv2
import numpy as np

from edge_sdk.camera.frames import Frame, Source
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


def read_image(path: Path) -> np.ndarray | None:
    """BGR (8- or 16-bit) image, or ``None`` if it cannot be read or decoded."""
    try:
        data = np.fromfile(path, np.uint8)
        if data.size == 0:
            return None
        return cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH)
    except (OSError, cv2.error):
        return None


class ImageSource(Source[Frame]):
    """Images in order; ``None`` after the last (or start again with ``loop=True``)."""

    def __init__(self, target: str, *, loop: bool = False, width: int | None = None, height: int | None = None,
                 fps: float | None = None) -> None:
        super().__init__(f"images:{target}", width=width, height=height, fps=fps)
        self.paths = list_images(target)
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
            image = read_image(path)
            if image is None:
                if path not in self._skipped:
                    self._skipped.add(path)
                    self.stats.skip(str(path))
                continue
            self._pass_had_frame = True
            frame = Frame(self._resize(image), self._count, time.perf_counter(),
                          {"source": self.name, "path": str(path)})
            self._count += 1
            return frame
