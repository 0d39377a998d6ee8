"""Cameras, video files, image folders and synthetic scenes behind one call: the URI picks the source.

Like jetson-inference's ``videoSource``/``videoOutput``, with Python names (numpy + OpenCV only)::

    from edge_sdk.camera import open_source, open_sink

    with open_source("v4l2:///dev/video0", width=640, height=480) as cam, open_sink("file://out.mp4") as out:
        for frame in cam:  # Frame(image, index, timestamp, meta); ends at the end or on timeout
            out.write(frame)

Source URIs (:func:`open_source`):

==============================================  ================================================
``v4l2:///dev/video0``, ``/dev/video0``, ``0``  V4L2 device / camera index (live)
``csi://0``                                     Jetson CSI camera via GStreamer nvarguscamerasrc (live)
``rtsp://host/path``                            RTSP through OpenCV's FFmpeg backend (live)
``http(s)://host/stream``                       MJPEG over HTTP (multipart/x-mixed-replace) (live)
``file://clip.mp4``, ``clip.mp4``               video file (``file:///abs/clip.mp4`` for absolute)
``dir://frames/``, ``frames/``, ``'f/*.png'``   directory / glob / single image (sorted by name)
``synthetic://dual-exposure?size=640x360&seed=0&split=test&count=N``  raw (long, short) scenes
``synthetic://digits?size=320x240&split=test&seed=S&count=N``          digits with true labels
``dual://?long=URI1&short=URI2``, ``(URI1, URI2)``  two streams paired into (long, short)
``dual://?src=URI&layout=side-by-side``             both exposures in one frame (see *layout*)
==============================================  ================================================

Options (keywords; for ``file``, ``dir``, ``v4l2``, ``csi``, ``synthetic``, ``dual`` also in the query):
``width``/``height`` (camera setting for live sources; frames are resized to it when the device or file
differs; one of them keeps the aspect ratio), ``fps`` (live: camera setting, ``rtsp``: read pacing; otherwise
playback pacing, ``None`` = as fast as read), ``loop`` (files, images, digits: start again at the end), ``timeout``
(seconds ``read()`` waits for a live frame before returning ``None``, default 5, ``math.inf`` = forever),
``layout`` and ``exposures`` (dual exposure, below), ``max_pixels`` (image files, MJPEG frames: an image
whose header declares more pixels is refused before decoding; default 64 MP, see
:mod:`edge_sdk.camera.imagesize`). Options are checked before anything is opened: ``width``/``height``
1..16384, ``fps`` finite in (0, 10000], ``timeout`` > 0, synthetic ``count`` >= 1; else a SourceError.

Live sources keep only the **latest** frame in a background thread: a slow consumer skips frames
(``stats.dropped``, gaps in ``Frame.index``) instead of lagging; a dead stream is reconnected with
exponential back-off (``stats.reconnects``). Every source is iterable and a context manager, with
``close()`` (idempotent), ``fps`` and ``size`` (width, height) where known, and ``stats``
(:class:`SourceStats`: ``frames_read``, ``dropped``, ``reconnects``, ``skipped_corrupt``: corrupt
images in a directory, undecodable or oversized MJPEG parts and images over ``max_pixels`` are skipped,
listed there with the reason, never fatal; a single image file over ``max_pixels`` is a SourceError).

Dual exposure: sources with ``dual = True`` return :class:`DualFrame` (``long``, ``short``, ``index``,
``timestamp``, ``meta``) from ``read()``; :func:`open_dual_source` is :func:`open_source` typed for them
(and a SourceError for single-frame sources). They are ``synthetic://dual-exposure`` (true illuminant
in ``meta['illuminant']``), two streams (``dual://?long=&short=`` or a ``(long_uri, short_uri)``
tuple), any source with ``layout='side-by-side'`` (left half long), ``'top-bottom'`` (top half long)
or ``'interleaved'`` (even rows long, odd rows short), and a local camera with
``layout='alternating', exposures=(long, short)``, which sets ``CAP_PROP_EXPOSURE`` before each
frame and pairs consecutive frames.

Sinks (:func:`open_sink`): ``display://0``, ``file://out.mp4`` / ``.avi`` / ``.mkv`` (atomic: a temporary
file renamed on close), ``dir://out/`` (numbered PNGs), ``null://``; see :mod:`edge_sdk.camera.sinks`.

Errors are :class:`edge_sdk.errors.SourceError` with a one-line message saying what to do.
"""

from __future__ import annotations

import os
from typing import Any

import edge_sdk.camera.imagesize  # noqa: F401 - first: sets OpenCV's pixel limit before cv2 is imported
from edge_sdk.camera.frames import DualFrame, Frame, Source, SourceStats
from edge_sdk.camera.sinks import Sink, open_sink
from edge_sdk.camera.uri import SourceOptions, open_parsed, parse_source_uri
from edge_sdk.errors import SourceError

__all__ = ["DualFrame", "Frame", "Sink", "Source", "SourceStats", "open_dual_source", "open_sink", "open_source"]

SourceURI = str | int | os.PathLike[str] | tuple[str, str]


def open_source(uri: SourceURI, *, width: int | None = None, height: int | None = None, fps: float | None = None,
                loop: bool | None = None, timeout: float | None = None, layout: str | None = None,
                exposures: tuple[float, float] | None = None, max_pixels: int | None = None) -> Source[Any]:
    """Open a camera, stream, file, image folder or synthetic source; see the module docstring.

    Returns a :class:`Source` whose ``read()`` gives a :class:`Frame` (or a :class:`DualFrame` for
    dual-exposure sources, ``source.dual``) or ``None`` at the end / on timeout. Raises
    :class:`~edge_sdk.errors.SourceError` when the source cannot be opened.
    """
    options = SourceOptions(width=width, height=height, fps=fps, loop=loop, timeout=timeout, layout=layout,
                            exposures=exposures, max_pixels=max_pixels)
    if isinstance(uri, tuple):
        if len(uri) != 2 or not all(isinstance(u, str) for u in uri):
            raise SourceError(f"a dual source pair is (long_uri, short_uri), got {uri!r}")
        from urllib.parse import urlencode

        uri = "dual://?" + urlencode({"long": uri[0], "short": uri[1]})
    return open_parsed(parse_source_uri(uri), options)


def open_dual_source(uri: SourceURI, **options: Any) -> Source[DualFrame]:
    """:func:`open_source` for (long, short) sources; a SourceError if ``uri`` gives single frames."""
    source = open_source(uri, **options)
    if not source.dual:
        source.close()
        raise SourceError(f"{source.name} yields single frames, not (long, short) pairs; pass layout="
                          "side-by-side|top-bottom|interleaved|alternating, or use synthetic://dual-exposure "
                          "or dual://?long=URI&short=URI")
    return source
