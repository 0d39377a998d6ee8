"""Source URIs: parse, merge options, and dispatch on the scheme through one table.

``scheme://target?options``; a bare path, glob, ``/dev/videoN`` or camera index is classified by
:data:`BARE_RULES` (first match wins). Schemes in :data:`OPTION_SCHEMES` take the generic options
(``width``, ``height``, ``fps``, ``loop``, ``timeout``, ``layout``) from the query string too; keyword
arguments win. ``http(s)://`` and ``rtsp://`` queries belong to the camera's URL and are passed on.
"""

from __future__ import annotations

import difflib
import os
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from edge_sdk.camera import capture, images, mjpeg, synthetic
from edge_sdk.camera.dual import SPLITTERS, AlternatingExposureSource, PairedDualSource, SplitDualSource
from edge_sdk.camera.frames import Frame, Source
from edge_sdk.errors import SourceError

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_TRUE, _FALSE = frozenset({"1", "true", "yes", "on"}), frozenset({"0", "false", "no", "off"})


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
            raise SourceError(f"option {key} must be a {kind.__name__}, got {text!r}") from None

    return convert


_CONVERT: dict[str, Callable[[str, str], Any]] = {
    "width": _number(int), "height": _number(int), "fps": _number(float), "timeout": _number(float),
    "loop": _bool, "layout": lambda key, text: text,
}


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
    if scheme in URL_SCHEMES:
        return ParsedURI(scheme, text)
    parts = urllib.parse.urlsplit(text)
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


def _open_file(p: ParsedURI, o: SourceOptions) -> Source[Any]:
    _no_extra(p)
    as_images = images.is_glob(p.target) or os.path.isdir(p.target) or p.target.endswith("/")
    if as_images or Path(p.target).suffix.lower() in images.IMAGE_EXTENSIONS:
        return images.ImageSource(p.target, **_file_kwargs(o))
    return capture.VideoFileSource(p.target, **_file_kwargs(o))


def _open_dir(p: ParsedURI, o: SourceOptions) -> Source[Any]:
    _no_extra(p)
    return images.ImageSource(p.target, **_file_kwargs(o))


def _open_index(p: ParsedURI, o: SourceOptions) -> Source[Any]:
    return capture.open_index(int(p.target), **_live_kwargs(o))


def _open_v4l2(p: ParsedURI, o: SourceOptions) -> Source[Any]:
    _no_extra(p)
    return capture.open_v4l2(p.target, **_live_kwargs(o))


def _open_csi(p: ParsedURI, o: SourceOptions) -> Source[Any]:
    _no_extra(p)
    return capture.open_csi(p.target, **_live_kwargs(o))


def _open_rtsp(p: ParsedURI, o: SourceOptions) -> Source[Any]:
    return capture.open_rtsp(p.target, **_live_kwargs(o))


def _open_http(p: ParsedURI, o: SourceOptions) -> Source[Any]:
    return mjpeg.open_mjpeg(p.target, **_live_kwargs(o))


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
    target: int | str = int(p.target) if p.scheme == "index" else p.target
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
    """Open a parsed URI; ``options`` (from keywords) override those of the URI's query."""
    o = parsed.options.merged(**{f.name: getattr(options, f.name) for f in fields(options)})
    if o.timeout is None:
        o = replace(o, timeout=5.0)
    if o.layout is None or parsed.scheme == "dual":
        return SOURCE_SCHEMES[parsed.scheme](parsed, o)
    opener = _open_alternating if o.layout == "alternating" else _open_split
    return opener(parsed, o)
