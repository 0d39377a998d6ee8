"""Declared image size from the header, read before decoding (stdlib only): a decompression bomb is refused.

A 631-byte JPEG may declare 30000 x 30000 pixels and decode to 2.7 GB. Image sources and MJPEG
frames call :func:`check_pixels` on the encoded bytes first; it parses the width and height from
the header of JPEG (SOF0..SOF15), PNG (IHDR), BMP, GIF, WebP (VP8, VP8L, VP8X), TIFF (first IFD),
PNM/PAM/PFM, Sun raster, Radiance HDR, JPEG 2000 (SIZ / ihdr) and AVIF/HEIF (ispe), and raises
:class:`ImageTooLargeError` when ``width * height`` exceeds the limit (:data:`DEFAULT_MAX_PIXELS`,
64 MP; ``max_pixels=`` per source raises it).

Formats not recognised here are still decoded, under OpenCV's own limit: importing
``edge_sdk.camera`` sets ``OPENCV_IO_MAX_IMAGE_PIXELS`` to the default limit unless the environment
already sets it. OpenCV reads that variable once, when ``cv2`` is first imported, so it only takes
effect when ``edge_sdk.camera`` is imported before ``cv2``; :data:`OPENCV_MAX_PIXELS` is the limit
in force (a ``max_pixels`` above it also needs the variable set before Python starts).
"""

from __future__ import annotations

import mmap
import os
import re
import struct
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge_sdk.errors import SourceError

DEFAULT_MAX_PIXELS = 64_000_000  # 64 MP: e.g. 9248 x 6920; BGR uint8 192 MB, uint16 384 MB
OPENCV_DEFAULT = 1 << 30  # OpenCV's built-in OPENCV_IO_MAX_IMAGE_PIXELS
_ENV = "OPENCV_IO_MAX_IMAGE_PIXELS"
MAX_JPEG_SEGMENTS = 4096  # markers walked before giving up on finding the frame header (then: OpenCV's limit)


def _opencv_limit() -> int:
    if "cv2" not in sys.modules:  # not loaded yet: our default takes effect at its first import
        os.environ.setdefault(_ENV, str(DEFAULT_MAX_PIXELS))
    try:
        return int(os.environ.get(_ENV, OPENCV_DEFAULT))
    except ValueError:
        return OPENCV_DEFAULT


OPENCV_MAX_PIXELS = _opencv_limit()


class ImageTooLargeError(SourceError):
    """An image whose header declares more pixels than the limit; it was not decoded."""


def _mp(n: int) -> str:
    return f"{n / 1e6:.3g} MP"


def check_max_pixels(max_pixels: object) -> int:
    """Validate a ``max_pixels`` option: an int >= 1 (``None``: the default)."""
    if max_pixels is None:
        return DEFAULT_MAX_PIXELS
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
        raise SourceError(f"max_pixels must be a whole number of pixels >= 1, got {max_pixels!r}")
    return max_pixels


def check_size(size: tuple[int, int], max_pixels: int, what: str) -> None:
    """Raise :class:`ImageTooLargeError` when ``size`` (width, height) is over the limit."""
    w, h = size
    n = w * h
    if n > max_pixels:
        raise ImageTooLargeError(f"{what} declares {w}x{h} = {_mp(n)}, over the {_mp(max_pixels)} limit "
                                 f"(max_pixels={n} to raise it); it was not decoded")
    if n > OPENCV_MAX_PIXELS:
        raise ImageTooLargeError(f"{what} declares {w}x{h} = {_mp(n)}, over OpenCV's {_mp(OPENCV_MAX_PIXELS)} "
                                 f"limit; set {_ENV}={n} in the environment before starting Python")


def check_pixels(data: Any, max_pixels: int, what: str) -> tuple[int, int] | None:
    """The declared (width, height) of encoded image ``data`` (``None``: format not recognised), after
    checking it against ``max_pixels``."""
    size = declared_size(data)
    if size is not None:
        check_size(size, max_pixels, what)
    return size


def check_file(path: Path, max_pixels: int) -> tuple[int, int] | None:
    """:func:`check_pixels` on a file's header without reading the whole file (memory-mapped)."""
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            return None
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            size = declared_size(m)
    if size is not None:
        check_size(size, max_pixels, str(path))
    return size


# --- format parsers: each gets a memoryview and returns (width, height) or None ---------------------------


def _u(fmt: str, b: memoryview, off: int) -> tuple[int, ...] | None:
    end = off + struct.calcsize(fmt)
    return struct.unpack(fmt, b[off:end]) if 0 <= off and end <= len(b) else None


def _jpeg(b: memoryview) -> tuple[int, int] | None:
    pos = 2
    for _ in range(MAX_JPEG_SEGMENTS):
        while pos < len(b) and b[pos] != 0xFF:  # tolerate junk between segments, as libjpeg does
            pos += 1
        while pos < len(b) and b[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= len(b):
            return None
        marker = b[pos]
        pos += 1
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # standalone markers: no length
            continue
        if marker in (0xD9, 0xDA):  # end of image / start of scan before any frame header
            return None
        length = _u(">H", b, pos)
        if length is None or length[0] < 2:
            return None
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # SOFn (not DHT, JPG, DAC)
            hw = _u(">HH", b, pos + 3)
            return None if hw is None else (hw[1], hw[0])
        pos += length[0]
    return None


def _png(b: memoryview) -> tuple[int, int] | None:
    if bytes(b[12:16]) != b"IHDR":
        return None
    wh = _u(">II", b, 16)
    return None if wh is None else (wh[0], wh[1])


def _bmp(b: memoryview) -> tuple[int, int] | None:
    header = _u("<I", b, 14)
    if header is None:
        return None
    wh = _u("<hh", b, 18) if header[0] == 12 else _u("<ii", b, 18)
    return None if wh is None else (abs(wh[0]), abs(wh[1]))


def _gif(b: memoryview) -> tuple[int, int] | None:
    wh = _u("<HH", b, 6)
    return None if wh is None else (wh[0], wh[1])


def _webp(b: memoryview) -> tuple[int, int] | None:
    chunk = bytes(b[12:16])
    if chunk == b"VP8 ":
        wh = _u("<HH", b, 26)
        return None if wh is None else (wh[0] & 0x3FFF, wh[1] & 0x3FFF)
    if chunk == b"VP8L":
        bits = _u("<I", b, 21)
        return None if bits is None else ((bits[0] & 0x3FFF) + 1, ((bits[0] >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8X":
        raw = bytes(b[24:30])
        if len(raw) < 6:
            return None
        return int.from_bytes(raw[0:3], "little") + 1, int.from_bytes(raw[3:6], "little") + 1
    return None


def _tiff(b: memoryview) -> tuple[int, int] | None:
    e = "<" if bytes(b[:2]) == b"II" else ">"
    ifd = _u(e + "I", b, 4)
    count = None if ifd is None else _u(e + "H", b, ifd[0])
    if ifd is None or count is None:
        return None
    found: dict[int, int] = {}
    for i in range(min(count[0], 512)):
        entry = _u(e + "HHI", b, ifd[0] + 2 + 12 * i)
        if entry is None:
            return None
        tag, kind, _ = entry
        if tag in (256, 257):
            value = _u(e + ("H" if kind == 3 else "I"), b, ifd[0] + 2 + 12 * i + 8)
            if value is None:
                return None
            found[tag] = value[0]
    return (found[256], found[257]) if 256 in found and 257 in found else None


_TOKEN = re.compile(rb"(?:\s|#[^\n]*\n?)*(\S+)")


def _pnm(b: memoryview) -> tuple[int, int] | None:
    head = bytes(b[:4096])
    if head[:2] == b"P7":  # PAM: WIDTH / HEIGHT lines
        w = re.search(rb"\nWIDTH\s+(\d+)", head)
        h = re.search(rb"\nHEIGHT\s+(\d+)", head)
        return (int(w.group(1)), int(h.group(1))) if w and h else None
    tokens = []
    pos = 2
    for _ in range(2):
        m = _TOKEN.match(head, pos)
        if m is None or not m.group(1).isdigit():
            return None
        tokens.append(int(m.group(1)))
        pos = m.end()
    return tokens[0], tokens[1]


def _sun(b: memoryview) -> tuple[int, int] | None:
    wh = _u(">II", b, 4)
    return None if wh is None else (wh[0], wh[1])


def _hdr(b: memoryview) -> tuple[int, int] | None:
    m = re.search(rb"\n\n([-+])([YX]) (\d+) ([-+])([YX]) (\d+)", bytes(b[:65536]))
    if m is None:
        return None
    first, second = int(m.group(3)), int(m.group(6))
    return (second, first) if m.group(2) == b"Y" else (first, second)


def _j2k(b: memoryview) -> tuple[int, int] | None:  # codestream: SOC, SIZ marker, Lsiz, Rsiz, then sizes
    xy = _u(">IIII", b, 8)  # Xsiz, Ysiz, XOsiz, YOsiz
    return None if xy is None else (max(0, xy[0] - xy[2]), max(0, xy[1] - xy[3]))


def _jp2(b: memoryview) -> tuple[int, int] | None:
    i = bytes(b[:65536]).find(b"ihdr")
    hw = None if i < 0 else _u(">II", b, i + 4)
    return None if hw is None else (hw[1], hw[0])


def _isobmff(b: memoryview) -> tuple[int, int] | None:  # AVIF/HEIF: the image spatial extents property
    i = bytes(b[:65536]).find(b"ispe")
    wh = None if i < 0 else _u(">II", b, i + 8)
    return None if wh is None else (wh[0], wh[1])


_SIGNATURES: tuple[tuple[bytes, Callable[[memoryview], tuple[int, int] | None]], ...] = (
    (b"\xff\xd8", _jpeg),
    (b"\x89PNG\r\n\x1a\n", _png),
    (b"BM", _bmp),
    (b"GIF87a", _gif),
    (b"GIF89a", _gif),
    (b"II*\x00", _tiff),
    (b"MM\x00*", _tiff),
    (b"\x59\xa6\x6a\x95", _sun),
    (b"#?RADIANCE", _hdr),
    (b"#?RGBE", _hdr),
    (b"\xff\x4f\xff\x51", _j2k),
    (b"\x00\x00\x00\x0cjP  ", _jp2),
)
_PNM = re.compile(rb"P[1-7]\s|P[Ff]\s")


def declared_size(data: Any) -> tuple[int, int] | None:
    """(width, height) as the header of encoded image ``data`` declares it, or ``None`` if the format is
    not recognised or the header is cut short (the decoder then decides)."""
    b = memoryview(data).cast("B")
    head = bytes(b[:16])
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _webp(b)
    if head[4:8] == b"ftyp":
        return _isobmff(b)
    if _PNM.match(head):
        return _pnm(b)
    for magic, parse in _SIGNATURES:
        if head.startswith(magic):
            return parse(b)
    return None
