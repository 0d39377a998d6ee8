"""HTTP(S) MJPEG cameras over urllib: ``multipart/x-mixed-replace`` parsing with socket timeouts.

A ``multipart/x-mixed-replace`` stream is read part by part (``Content-Length`` when the server sends
it, else up to the next boundary line). A URL answering with a single ``image/jpeg`` is polled as a
snapshot camera. JPEGs are decoded only when the consumer takes them, so dropped frames cost nothing.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from http.client import HTTPResponse

from edge_sdk.camera.latest import LiveSource
from edge_sdk.errors import SourceError

MAX_LINE = 65536
MAX_HEADERS = 64
MAX_PART = 64 * 1024 * 1024
USER_AGENT = "edge-sdk"


def _socket_timeout(timeout: float | None) -> float:
    """Socket timeout: a stalled connection is dropped (and reconnected) after this long."""
    return 10.0 if timeout is None else min(10.0, max(0.5, timeout))


def _urlopen(url: str, timeout: float) -> HTTPResponse:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - the caller's camera URL
    except urllib.error.HTTPError as e:
        raise SourceError(f"HTTP camera {url} answered {e.code} {e.reason}; check the URL path and credentials") from e
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise SourceError(f"cannot connect to HTTP camera {url} ({reason}); check the address and that "
                          "the camera/server is up") from e
    assert isinstance(response, HTTPResponse)
    return response


class MjpegGrabber:
    """One connection to a ``multipart/x-mixed-replace`` stream; ``read()`` returns the next JPEG's bytes."""

    def __init__(self, response: HTTPResponse, boundary: str) -> None:
        self._response = response
        self._boundary = boundary.strip().lstrip("-").encode("latin-1")
        self._pushback: bytes | None = None  # a boundary line read while looking for a part's end

    def _line(self) -> bytes:
        if self._pushback is not None:
            line, self._pushback = self._pushback, None
            return line
        line = self._response.readline(MAX_LINE + 1)
        if not line:
            raise EOFError("stream ended")
        if len(line) > MAX_LINE:
            raise ValueError("multipart line too long")
        return line

    def _is_boundary(self, line: bytes) -> bool:
        return line.startswith(b"--") and line.strip().lstrip(b"-").rstrip(b"-") == self._boundary

    def read(self) -> bytes | None:
        try:
            line = self._line()
            while not self._is_boundary(line):  # preamble or CRLF before the delimiter
                line = self._line()
            if line.strip().endswith(self._boundary + b"--"):
                return None  # close delimiter: the server ended the stream
            headers: dict[str, str] = {}
            for _ in range(MAX_HEADERS):
                line = self._line()
                if not line.strip():
                    break
                key, _, value = line.decode("latin-1").partition(":")
                headers[key.strip().lower()] = value.strip()
            length = headers.get("content-length", "")
            if length.isdigit() and int(length) <= MAX_PART:
                data = self._response.read(int(length))
                return data if len(data) == int(length) else None
            return self._until_boundary()
        except (EOFError, ValueError, OSError):
            return None

    def _until_boundary(self) -> bytes:
        """A part without Content-Length: everything up to the next boundary line (kept for next read)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            line = self._response.readline(MAX_LINE + 1)
            if not line:
                raise EOFError("stream ended inside a part")
            if self._is_boundary(line):
                self._pushback = line
                break
            chunks.append(line)
            size += len(line)
            if size > MAX_PART:
                raise ValueError("multipart part too large")
        data = b"".join(chunks)
        return data[:-2] if data.endswith(b"\r\n") else data.rstrip(b"\n")

    def close(self) -> None:
        self._response.close()


class SnapshotGrabber:
    """A URL serving one ``image/jpeg`` per request: each ``read()`` fetches a new snapshot."""

    def __init__(self, url: str, timeout: float, first: bytes | None) -> None:
        self._url, self._timeout, self._first = url, timeout, first

    def read(self) -> bytes | None:
        if self._first is not None:
            data, self._first = self._first, None
            return data
        try:
            with _urlopen(self._url, self._timeout) as response:
                return response.read(MAX_PART)
        except (SourceError, OSError):
            return None

    def close(self) -> None:
        self._first = None


def connect(url: str, timeout: float | None) -> MjpegGrabber | SnapshotGrabber:
    """Open one connection; the grabber type follows the response's Content-Type."""
    sock_timeout = _socket_timeout(timeout)
    response = _urlopen(url, sock_timeout)
    ctype = response.headers.get_content_type()
    if ctype.startswith("multipart/"):
        boundary = response.headers.get_param("boundary")
        if not isinstance(boundary, str) or not boundary:
            response.close()
            raise SourceError(f"HTTP camera {url} sends {ctype} without a boundary; it is not an MJPEG stream")
        return MjpegGrabber(response, boundary)
    if ctype.startswith("image/"):
        with response:
            return SnapshotGrabber(url, sock_timeout, response.read(MAX_PART))
    response.close()
    raise SourceError(f"{url} serves {ctype}, not an MJPEG stream (multipart/x-mixed-replace) or a JPEG "
                      "snapshot; for a video file over HTTP download it and open file://PATH")


def open_mjpeg(url: str, *, width: int | None = None, height: int | None = None, fps: float | None = None,
               timeout: float | None = 5.0) -> LiveSource:
    """An HTTP(S) MJPEG camera (keeps only the latest frame; reconnects with back-off)."""
    src = LiveSource(url, lambda: connect(url, timeout), timeout=timeout, width=width, height=height)
    src._fps = fps
    return src
