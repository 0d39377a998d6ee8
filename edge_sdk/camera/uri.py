"""Source URIs: parse, merge options, and dispatch on the scheme through one table.

``scheme://target?options``; a bare path, glob, ``/dev/videoN`` or camera index is classified by
:data:`BARE_RULES` (first match wins). Schemes in :data:`OPTION_SCHEMES` take the generic options
(``width``, ``height``, ``fps``, ``loop``, ``timeout``, ``layout``, ``max_pixels``) from the query string
too; keyword arguments win. ``http(s)://`` and ``rtsp://`` queries belong to the camera's URL and are
passed on. Every option is checked before anything is opened or allocated (:func:`validate_options`):
``width``/``height`` 1..:data:`MAX_SIDE`, ``fps`` finite in (0, :data:`MAX_FPS`], ``timeout`` > 0 (``inf``:
forever), ``max_pixels`` >= 1; a malformed URL (bad IPv6 host, port out of range) is a SourceError too.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from edge_sdk.camera import capture, images, mjpeg, rtsp, synthetic
from edge_sdk.camera.dual import SPLITTERS, AlternatingExposureSource, PairedDualSource, SplitDualSource
from edge_sdk.camera.frames import MAX_SIDE, Frame, Source, redact
from edge_sdk.camera.imagesize import check_max_pixels
from edge_sdk.errors import SourceError

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_TRUE, _FALSE = frozenset({"1", "true", "yes", "on"}), frozenset({"0", "false", "no", "off"})
MAX_FPS = 10_000.0


@dataclass(frozen=True)
class SourceOptions:
    """Options every source understands (``None``: not given)."""

    width: int | None = None
    height: int | None = None
    fps: float | None = None
    loop: bool | None = None
    timeout: float | None = None
    layout: str | None = None
    exposures: tuple[float, float] | None = None
    max_pixels: int | None = None  # image files and MJPEG frames: refuse images declaring more pixels

    def merged(self, **given: Any) -> SourceOptions:
        return replace(self, **{k: v for k, v in given.items() if v is not None})


@dataclass(frozen=True)
class ParsedURI:
    scheme: str  # a key of SOURCE_SCHEMES ("index" for camera numbers)
    target: str  # path, URL, camera index or synthetic kind
    query: dict[str, str] = field(default_factory=dict)  # scheme-specific leftovers (seed, long, ...)
    options: SourceOptions = field(default_factory=SourceOptions)


def _bool(key: str, text: str) -> bool:
    low = text.lower()
    if low not in _TRUE | _FALSE:
        raise SourceError(f"option {key} must be true/false (1/0), got {text!r}")
    return low in _TRUE


def _number(kind: Callable[[str], Any]) -> Callable[[str, str], Any]:
    def convert(key: str, text: str) -> Any:
        try:
            return kind(text)
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            raise SourceError(f"option {key} must be {what}, got {text!r}") from None

    return convert


_CONVERT: dict[str, Callable[[str, str], Any]] = {
    "width": _number(int), "height": _number(int), "fps": _number(float), "timeout": _number(float),
    "loop": _bool, "layout": lambda key, text: text, "max_pixels": _number(int),
}


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def validate_options(o: SourceOptions) -> SourceOptions:
    """A SourceError naming the option if one is out of range or of the wrong type."""
    for key in ("width", "height"):
        v = getattr(o, key)
        if v is not None and not (_is_int(v) and 1 <= v <= MAX_SIDE):
            raise SourceError(f"option {key} must be a whole number of pixels in 1..{MAX_SIDE}, got {v!r}")
    if o.fps is not None and not (_is_number(o.fps) and math.isfinite(o.fps) and 0 < o.fps <= MAX_FPS):
        raise SourceError(f"option fps must be a number in (0, {MAX_FPS:g}] frames per second, got {o.fps!r}")
    if o.timeout is not None and not (_is_number(o.timeout) and o.timeout > 0 and not math.isnan(o.timeout)):
        raise SourceError(f"option timeout must be a number of seconds > 0 (inf: wait forever), got {o.timeout!r}")
    if o.loop is not None and not isinstance(o.loop, bool):
        raise SourceError(f"option loop must be True or False, got {o.loop!r}")
    if o.layout is not None and not isinstance(o.layout, str):
        raise SourceError(f"option layout must be a string, got {o.layout!r}")
    if o.exposures is not None:
        e = o.exposures
        if not (isinstance(e, (tuple, list)) and len(e) == 2
                and all(_is_number(x) and math.isfinite(x) and x > 0 for x in e)):
            raise SourceError(f"option exposures must be (long, short): two finite numbers > 0, got {e!r}")
    check_max_pixels(o.max_pixels)
    return o


def _split_query(query: str) -> tuple[SourceOptions, dict[str, str]]:
    opts: dict[str, Any] = {}
    rest: dict[str, str] = {}
    for key, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        if key in _CONVERT:
            opts[key] = _CONVERT[key](key, value)
        else:
            rest[key] = value
    return SourceOptions(**opts), rest


BARE_RULES: list[tuple[Callable[[str], bool], str]] = [
    (str.isdigit, "index"),
    (lambda s: s.startswith("/dev/video"), "v4l2"),
    (images.is_glob, "dir"),
    (os.path.isdir, "dir"),
    (lambda s: Path(s).suffix.lower() in images.IMAGE_EXTENSIONS, "dir"),
    (lambda s: True, "file"),
]
URL_SCHEMES = frozenset({"http", "https", "rtsp", "rtsps"})  # the whole URL is the target
PATH_SCHEMES = frozenset({"file", "dir", "v4l2"})  # netloc + path is a filesystem path


def parse_source_uri(uri: str | int | os.PathLike[str]) -> ParsedURI:
    """Classify ``uri``; a SourceError for an unknown scheme."""
    if isinstance(uri, bool) or not isinstance(uri, (str, int, os.PathLike)):
        raise SourceError(f"a source is a URI string, path or camera index, got {uri!r}")
    if isinstance(uri, int):
        return ParsedURI("index", str(uri))
    text = os.fspath(uri)
    m = _SCHEME.match(text)
    if m is None:
        scheme = next(name for rule, name in BARE_RULES if rule(text))
        return ParsedURI(scheme, text)
    scheme = m.group(1).lower()
    if scheme not in SOURCE_SCHEMES or scheme == "index":
        known = sorted(s for s in SOURCE_SCHEMES if s != "index")
        close = difflib.get_close_matches(scheme, known, n=1)
        hint = f" Did you mean {close[0]}://?" if close else ""
        raise SourceError(f"unknown source scheme {scheme}://.{hint} Use one of: "
                          + ", ".join(f"{s}://" for s in known) + ", a path, a glob or a camera index")
    try:
        parts = urllib.parse.urlsplit(text)
        _ = parts.port  # raises for a port out of range or not a number
    except ValueError as e:
        raise SourceError(f"cannot parse the source URI {redact(text)!r} ({e}); check the host, port and brackets "
                          "(a path with [ ] is given without file:// or dir://)") from e
    if scheme in URL_SCHEMES:
        return ParsedURI(scheme, text)
    options, rest = _split_query(parts.query)
    target = urllib.parse.unquote(parts.netloc + parts.path if scheme in PATH_SCHEMES else parts.netloc or parts.path)
    return ParsedURI(scheme, target, rest, options)


def _no_extra(parsed: ParsedURI) -> None:
    if parsed.query:
        raise SourceError(f"{parsed.scheme}:// does not take {', '.join(sorted(parsed.query))}; it takes "
                          + ", ".join(f.name for f in fields(SourceOptions) if f.name != "exposures"))


def _live_kwargs(o: SourceOptions) -> dict[str, Any]:
    return {"width": o.width, "height": o.height, "fps": o.fps, "timeout": o.timeout}


def _file_kwargs(o: SourceOptions) -> dict[str, Any]:
    return {"width": o.width, "height": o.height, "fps": o.fps, "loop": bool(o.loop)}


def _image_kwargs(o: SourceOptions) -> dict[str, Any]:
    return {**_file_kwargs(o), "max_pixels": o.max_pixels}


def _open_file(p: ParsedURI, o: SourceOptions) -> Source[Any]:
    _no_extra(p)
    as_images = images.is_glob(p.target) or os.path.isdir(p.target) or p.target.endswith("/")
    if as_images or Path(p.target).suffix.lower() in images.IMAGE_EXTENSIONS:
        return images.ImageSource(p.target, **_image_kwargs(o))
    return capture.VideoFileSource(p.target, **_image_kwargs(o))


def _open_dir(p: ParsedURI, o: SourceOptions) -> Source[Any]:
    _no_extra(p)
    return images.ImageSource(p.target, **_image_kwargs(o))


MAX_CAMERA_INDEX = 99_999  # OpenCV indices may add a backend (e.g. 200 + n for V4L2); larger is no camera


def _camera_index(text: str) -> int:
    index = int(text) if text.isascii() and text.lstrip("-").isdigit() and len(text) <= 12 else -1
    if not 0 <= index <= MAX_CAMERA_INDEX:
        raise SourceError(f"camera index must be 0..{MAX_CAMERA_INDEX}, got {text}; list cameras with "
                          "`ls /dev/video*`")
    return index


def _open_index(p: ParsedURI, o: SourceOptions) -> Source[Any]:
    return capture.open_index(_camera_index(p.target), **_live_kwargs(o))


def _open_v4l2(p: ParsedURI, o: SourceOptions) -> Source[Any]:
    _no_extra(p)
    return capture.open_v4l2(p.target, **_live_kwargs(o))


def _open_csi(p: ParsedURI, o: SourceOptions) -> Source[Any]:
    _no_extra(p)
    return capture.open_csi(p.target, **_live_kwargs(o))


def _open_rtsp(p: ParsedURI, o: SourceOptions) -> Source[Any]:
    return rtsp.open_rtsp(p.target, **_live_kwargs(o))


def _open_http(p: ParsedURI, o: SourceOptions) -> Source[Any]:
    return mjpeg.open_mjpeg(p.target, **_live_kwargs(o), max_pixels=o.max_pixels)


def _open_synthetic(p: ParsedURI, o: SourceOptions) -> Source[Any]:
    return synthetic.open_synthetic(p.target, p.query, **_file_kwargs(o))


def _open_dual(p: ParsedURI, o: SourceOptions) -> Source[Any]:
    q = p.query
    if set(q) == {"long", "short"}:
        inner = replace(o, width=None, height=None, layout=None)
        long = open_parsed(parse_source_uri(q["long"]), inner)
        try:
            short = open_parsed(parse_source_uri(q["short"]), inner)
        except BaseException:
            long.close()
            raise
        return PairedDualSource(long, short, width=o.width, height=o.height)
    if set(q) == {"src"} and o.layout:
        return open_parsed(parse_source_uri(q["src"]), o)
    raise SourceError("dual:// needs ?long=URI&short=URI (two streams) or ?src=URI&layout="
                      + "|".join(SPLITTERS) + " (both exposures in one frame)")


SOURCE_SCHEMES: dict[str, Callable[[ParsedURI, SourceOptions], Source[Any]]] = {
    "file": _open_file,
    "dir": _open_dir,
    "index": _open_index,
    "v4l2": _open_v4l2,
    "csi": _open_csi,
    "rtsp": _open_rtsp,
    "rtsps": _open_rtsp,
    "http": _open_http,
    "https": _open_http,
    "synthetic": _open_synthetic,
    "dual": _open_dual,
}
ALTERNATING_SCHEMES = frozenset({"index", "v4l2"})


def _open_alternating(p: ParsedURI, o: SourceOptions) -> Source[Any]:
    if p.scheme not in ALTERNATING_SCHEMES:
        raise SourceError(f"layout=alternating needs a local camera (an index or /dev/videoN), not {p.scheme}://")
    if o.exposures is None:
        raise SourceError("layout=alternating needs exposures=(long, short) in the driver's CAP_PROP_EXPOSURE units")
    _no_extra(p)
    target: int | str = _camera_index(p.target) if p.scheme == "index" else p.target
    return AlternatingExposureSource(target, o.exposures, width=o.width, height=o.height, fps=o.fps)


def _open_split(p: ParsedURI, o: SourceOptions) -> Source[Any]:
    layout = o.layout or ""
    if layout not in SPLITTERS:
        raise SourceError(f"unknown dual layout {layout!r}; use one of: {', '.join(SPLITTERS)}, alternating")
    inner: Source[Frame] = SOURCE_SCHEMES[p.scheme](p, replace(o, width=None, height=None, layout=None))
    if inner.dual:
        inner.close()
        raise SourceError(f"{p.scheme}:// already yields (long, short) pairs; drop layout={layout}")
    return SplitDualSource(inner, layout, width=o.width, height=o.height)


def open_parsed(parsed: ParsedURI, options: SourceOptions) -> Source[Any]:
    """Open a parsed URI; ``options`` (from keywords) override those of the URI's query. A SourceError
    never shows a password that the URI holds (:func:`~edge_sdk.camera.frames.redact`)."""
    o = validate_options(parsed.options.merged(**{f.name: getattr(options, f.name) for f in fields(options)}))
    if o.timeout is None:
        o = replace(o, timeout=5.0)
    if o.layout is None or parsed.scheme == "dual":
        opener = SOURCE_SCHEMES[parsed.scheme]
    else:
        opener = _open_alternating if o.layout == "alternating" else _open_split
    try:
        return opener(parsed, o)
    except SourceError as e:
        e.args = tuple(redact(a) if isinstance(a, str) else a for a in e.args)
        raise
