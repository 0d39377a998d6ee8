"""HTTP(S) MJPEG cameras over urllib: ``multipart/x-mixed-replace`` parsing with socket timeouts.

A ``multipart/x-mixed-replace`` stream is read part by part (``Content-Length`` when the server sends
it, else up to the next boundary line), in bounded memory (see :class:`MjpegGrabber`). A URL answering
with a single ``image/jpeg`` is polled as a snapshot camera. JPEGs are decoded only when the consumer
takes them, so dropped frames cost nothing; a frame whose header declares more than ``max_pixels`` is
skipped without decoding. ``close()`` shuts the socket down, so the reader thread ends at once.

Credentials in the URL (``http://user:password@camera/video.mjpg``, percent-encoded where they hold
``:``, ``@`` or ``/``) answer the camera's HTTP Basic or Digest challenge (urllib's auth handlers: the
password is sent only when the camera asks, and with Digest never in clear); they are taken out of the
URL before the request, and every message shows the URL with the password replaced by ``***``.
"""

from __future__ import annotations

import re
import socket
import urllib.error
import urllib.parse
import urllib.request
from http.client import HTTPResponse

from edge_sdk.camera.frames import redact
from edge_sdk.camera.latest import LiveSource, Skip
from edge_sdk.errors import SourceError

MAX_LINE = 65536
MAX_HEADERS = 64
MAX_PART = 32 * 1024 * 1024  # default max_part_bytes: bigger parts are skipped (read and dropped), never kept
CHUNK = 1024 * 1024  # bytes read at a time while dropping an oversized part
USER_AGENT = "edge-sdk"
_LENGTH = re.compile(r"[0-9]{1,20}")


def _socket_timeout(timeout: float | None) -> float:
    """Socket timeout: a stalled connection is dropped (and reconnected) after this long."""
    return 10.0 if timeout is None else min(10.0, max(0.5, timeout))


def split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """``url`` without its ``user:password@`` part, and the (percent-decoded) user name and password."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    host = parts.netloc.rpartition("@")[2]
    user = urllib.parse.unquote(parts.username or "")
    return urllib.parse.urlunsplit(parts._replace(netloc=host)), (user, urllib.parse.unquote(parts.password or ""))


def _urlopen(url: str, timeout: float) -> HTTPResponse:
    shown = redact(url)
    try:
        bare, credentials = split_credentials(url)
        request = urllib.request.Request(bare, headers={"User-Agent": USER_AGENT})
        if credentials is None:
            opener = urllib.request.build_opener()
        else:
            passwords = urllib.request.HTTPPasswordMgrWithDefaultRealm()
            passwords.add_password(None, bare, *credentials)
            opener = urllib.request.build_opener(urllib.request.HTTPBasicAuthHandler(passwords),
                                                 urllib.request.HTTPDigestAuthHandler(passwords))
        response = opener.open(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        e.close()
        if e.code == 401:
            how = ("the user name or password in the URL is not accepted" if credentials else
                   "it needs a user name and password: put USER:PASSWORD@ before the host in the URL "
                   "(percent-encode ':', '@' and '/' in them)")
            raise SourceError(f"HTTP camera {shown} answered 401 Unauthorized: {how}") from None
        raise SourceError(f"HTTP camera {shown} answered {e.code} {e.reason}; check the URL path and "
                          "credentials") from None
    except (urllib.error.URLError, OSError) as e:
        reason = redact(str(getattr(e, "reason", e)))
        raise SourceError(f"cannot connect to HTTP camera {shown} ({reason}); check the address and that "
                          "the camera/server is up") from None
    except ValueError as e:  # malformed URL: bad IPv6 host, port out of range, non-numeric port
        raise SourceError(f"invalid HTTP camera URL {shown!r} ({redact(str(e))}); check the host and port") from None
    assert isinstance(response, HTTPResponse)
    return response


def _interrupt(response: HTTPResponse | None) -> None:
    """Shut down the response's socket so a read blocked in another thread returns at once."""
    raw = getattr(getattr(response, "fp", None), "raw", None)
    sock = getattr(raw, "_sock", None)  # socket.SocketIO keeps its socket here
    if isinstance(sock, socket.socket):
        try:
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except OSError:
            pass


class MjpegGrabber:
    """One connection to a ``multipart/x-mixed-replace`` stream; ``read()`` returns the next JPEG's bytes.

    Memory is bounded: lines are read at most ``MAX_LINE`` bytes at a time, a part over ``max_part`` bytes
    (by its Content-Length, or before the next boundary) is read and dropped, and so are ``max_part``
    bytes that hold no boundary; each such case returns a :class:`Skip` and the stream goes on.
    """

    def __init__(self, response: HTTPResponse, boundary: str, url: str = "", max_part: int = MAX_PART) -> None:
        self._response = response
        self._boundary = boundary.strip().lstrip("-").encode("latin-1")
        self._url = url
        self._max_part = max_part
        self._pushback: bytes | None = None  # a boundary line read while looking for a part's end

    def _chunk(self) -> bytes:
        """The next line, or the next ``MAX_LINE`` bytes of a longer one."""
        if self._pushback is not None:
            line, self._pushback = self._pushback, None
            return line
        line = self._response.readline(MAX_LINE)
        if not line:
            raise EOFError("stream ended")
        return line

    def _line(self) -> bytes:
        line = self._chunk()
        if len(line) >= MAX_LINE and not line.endswith(b"\n"):
            raise ValueError("multipart header line too long")
        return line

    def _is_boundary(self, line: bytes) -> bool:
        return line.startswith(b"--") and line.strip().lstrip(b"-").rstrip(b"-") == self._boundary

    def _skip(self, what: str) -> Skip:
        return Skip(f"{self._url}: {what}, over the {self._max_part} byte limit (max_part_bytes); dropped")

    def read(self) -> bytes | Skip | None:
        try:
            line, scanned, at_start = self._chunk(), 0, True
            while not (at_start and self._is_boundary(line)):  # preamble or CRLF before the delimiter
                scanned += len(line)
                if scanned > self._max_part:
                    return self._skip(f"{scanned} bytes without a boundary")
                at_start = line.endswith(b"\n")
                line = self._chunk()
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
            if _LENGTH.fullmatch(length):
                return self._fixed(int(length))
            return self._until_boundary()
        except (EOFError, ValueError, OSError):
            return None

    def _fixed(self, length: int) -> bytes | Skip | None:
        if length <= self._max_part:
            data = self._response.read(length)
            return data if len(data) == length else None
        left = length
        while left > 0:  # drop it without keeping it
            got = self._response.read(min(CHUNK, left))
            if not got:
                return None
            left -= len(got)
        return self._skip(f"part of {length} bytes (Content-Length)")

    def _until_boundary(self) -> bytes | Skip:
        """A part without Content-Length: everything up to the next boundary line (kept for next read)."""
        chunks: list[bytes] = []
        size, at_start = 0, True
        while True:
            line = self._chunk()
            if at_start and self._is_boundary(line):
                self._pushback = line
                break
            at_start = line.endswith(b"\n")
            size += len(line)
            if size <= self._max_part:
                chunks.append(line)
            elif chunks:
                chunks = []  # over the limit: drop what was kept, read on to the boundary
        if size > self._max_part:
            return self._skip(f"part of more than {self._max_part} bytes (no Content-Length)")
        data = b"".join(chunks)
        return data[:-2] if data.endswith(b"\r\n") else data.rstrip(b"\n")

    def interrupt(self) -> None:
        _interrupt(self._response)

    def close(self) -> None:
        self._response.close()


def _read_capped(response: HTTPResponse, url: str, max_part: int) -> bytes | Skip:
    declared = response.headers.get("Content-Length", "")
    if _LENGTH.fullmatch(declared) and int(declared) > max_part:
        return Skip(f"{url}: snapshot of {declared} bytes, over the {max_part} byte limit (max_part_bytes); dropped")
    data = response.read(max_part + 1)
    if len(data) > max_part:
        return Skip(f"{url}: snapshot of more than {max_part} bytes, over the limit (max_part_bytes); dropped")
    return data


class SnapshotGrabber:
    """A URL serving one ``image/jpeg`` per request: each ``read()`` fetches a new snapshot."""

    def __init__(self, url: str, timeout: float, first: bytes | Skip | None, max_part: int = MAX_PART) -> None:
        self._url, self._timeout, self._first, self._max_part = url, timeout, first, max_part
        self._response: HTTPResponse | None = None
        self._stopped = False

    def read(self) -> bytes | Skip | None:
        if self._first is not None:
            data, self._first = self._first, None
            return data
        if self._stopped:
            return None
        try:
            with _urlopen(self._url, self._timeout) as response:
                self._response = response
                if self._stopped:
                    return None
                return _read_capped(response, self._url, self._max_part)
        except (SourceError, OSError):
            return None
        finally:
            self._response = None

    def interrupt(self) -> None:
        self._stopped = True
        _interrupt(self._response)

    def close(self) -> None:
        self._first = None


def connect(url: str, timeout: float | None, max_part: int = MAX_PART) -> MjpegGrabber | SnapshotGrabber:
    """Open one connection; the grabber type follows the response's Content-Type."""
    sock_timeout = _socket_timeout(timeout)
    response = _urlopen(url, sock_timeout)
    ctype = response.headers.get_content_type()
    if ctype.startswith("multipart/"):
        boundary = response.headers.get_param("boundary")
        if not isinstance(boundary, str) or not boundary:
            response.close()
            raise SourceError(f"HTTP camera {redact(url)} sends {ctype} without a boundary; it is not an MJPEG stream")
        return MjpegGrabber(response, boundary, url, max_part)
    if ctype.startswith("image/"):
        with response:
            return SnapshotGrabber(url, sock_timeout, _read_capped(response, url, max_part), max_part)
    response.close()
    raise SourceError(f"{redact(url)} serves {ctype}, not an MJPEG stream (multipart/x-mixed-replace) or a JPEG "
                      "snapshot; for a video file over HTTP download it and open file://PATH")


def open_mjpeg(url: str, *, width: int | None = None, height: int | None = None, fps: float | None = None,
               timeout: float | None = 5.0, max_pixels: int | None = None,
               max_part_bytes: int = MAX_PART) -> LiveSource:
    """An HTTP(S) MJPEG camera (keeps only the latest frame; reconnects with back-off).

    Frames declaring more than ``max_pixels`` (default 64 MP) and parts over ``max_part_bytes``
    (default 32 MiB) are skipped and listed in ``stats.skipped_corrupt``; the stream goes on.
    """
    if isinstance(max_part_bytes, bool) or not isinstance(max_part_bytes, int) or max_part_bytes < 1:
        raise SourceError(f"max_part_bytes must be a whole number of bytes >= 1, got {max_part_bytes!r}")
    src = LiveSource(url, lambda: connect(url, timeout, max_part_bytes), timeout=timeout, width=width,
                     height=height, max_pixels=max_pixels)
    src._fps = fps
    return src
