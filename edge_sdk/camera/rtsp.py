"""RTSP camera streams (``rtsp://``, ``rtsps://``), and a one-line diagnosis when one does not open.

RTSP (OpenCV's FFmpeg backend) is tuned for latency, measured against GStreamer's RTSP server on
127.0.0.1 (``tests/edge_sdk/test_rtsp.py``; 320x240 H.264 at 30 fps, 2-core x86):

- :data:`RTSP_CAPTURE_OPTIONS`: FFmpeg's default probe reads about a second of video at open and then
  hands it out as a burst of stale frames (open 1.0 s, first frame 0.95 s old, the first ~30 frames
  stale); probing one packet opens in about 0.1 s with the first frame 60 ms old. ``fflags;nobuffer``
  is left out: it throws the probed keyframe away, so the first frame waits for the next keyframe
  (a whole GOP, 1 s here). Entries of your own in ``OPENCV_FFMPEG_CAPTURE_OPTIONS`` win over these.
- :data:`RTSP_DECODER_THREADS`: FFmpeg's frame threads (one per core by default) each hold a frame:
  steady-state lag 38 ms with 1 thread, 70 ms with 2, 271 ms with 8.
- A read that waits out the whole timeout (the stream went silent while the connection stayed open)
  ends the connection: FFmpeg would hand back the frame it held from before the stall as if new, and
  then fail every read; the source reconnects instead.
- The connection counts as open only once a first frame is decoded within the timeout: a server that
  answers but never sends decodable video is a SourceError, not a source of size ``None``.
- ``fps=`` is honoured by pacing: ``read()`` returns at most that many frames a second, each the newest
  (an RTSP client cannot set the camera's rate).
"""


from __future__ import annotations

import math
import re
import socket
import time
import urllib.parse

import cv2

from edge_sdk.camera.capture import CaptureGrabber, _live, open_capture
from edge_sdk.camera.ffmpeg_env import ffmpeg_options
from edge_sdk.camera.frames import redact
from edge_sdk.camera.latest import LiveSource
from edge_sdk.errors import SourceError

RTSP_CAPTURE_OPTIONS: dict[str, str] = {
    "rtsp_flags": "prefer_tcp",  # TCP first (no UDP loss, passes NAT), UDP if the camera refuses TCP
    "probesize": "32",  # probe one packet, not ~1 s of video that comes out later as a stale burst
    "analyzeduration": "0",
}
RTSP_DECODER_THREADS = 1  # each extra frame thread adds a frame of lag
RTSP_DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322}
RTSP_INFINITE_TIMEOUT = 30.0  # FFmpeg's open/read timeout when the source waits forever (timeout=inf)
RTSP_PROBE_REPLY_BYTES = 4096  # the diagnosis reads at most this much of the server's answer


def _rtsp_diagnosis(url: str, seconds: float) -> str:
    """Why OpenCV could not open ``url``, in one line: nothing listening, or the server's RTSP status for
    the path (asked with one DESCRIBE, without the credentials; only the status code is used)."""
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or "", parts.port or RTSP_DEFAULT_PORTS.get(parts.scheme.lower(), 554)
    where = f"{host}:{port}"
    if not host:
        return "the URL names no host; write rtsp://HOST[:PORT]/PATH"
    try:
        with socket.create_connection((host, port), timeout=min(seconds, 3.0)) as sock:
            if parts.scheme.lower() != "rtsp":
                return f"the server at {where} accepts connections but the RTSPS session failed"
            netloc = f"[{host}]" if ":" in host else host
            plain = urllib.parse.urlunsplit(("rtsp", f"{netloc}:{port}", parts.path or "/", parts.query, ""))
            sock.sendall(f"DESCRIBE {plain} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n"
                         "User-Agent: edge-sdk\r\n\r\n".encode("ascii", "replace"))
            reply = sock.recv(RTSP_PROBE_REPLY_BYTES)
    except OSError as e:
        reason = e.strerror or type(e).__name__
        return (f"no RTSP server answers at {where} ({reason}); check the host and port (default 554) and that "
                "the camera is on and reachable")
    m = re.match(rb"RTSP/\d\.\d (\d{3})", reply)
    code = int(m.group(1)) if m else 0
    if code == 401:
        given = parts.password is not None or parts.username is not None
        return (f"the RTSP server at {where} refused the credentials in the URL (401 Unauthorized); check the "
                "user name and password" if given else
                f"the RTSP server at {where} needs credentials (401 Unauthorized): put them in the URL before the "
                "host, as USER:PASSWORD@")
    hints = {
        404: f"the RTSP server at {where} has no stream at {parts.path or '/'!r} (404 Not Found); check the "
             "stream path in the camera's manual or web page",
        403: f"the RTSP server at {where} forbids {parts.path or '/'!r} (403 Forbidden); check the user's rights",
        200: f"the RTSP server at {where} offers the stream but FFmpeg could not open it within {seconds:g} s "
             "(codec or transport); try it with ffplay",
    }
    if code in hints:
        return hints[code]
    return (f"the server at {where} answered {f'RTSP status {code}' if code else 'but not as an RTSP server'}; "
            "check the URL and try it with ffplay")


def open_rtsp(url: str, *, width: int | None = None, height: int | None = None, fps: float | None = None,
              timeout: float | None = 5.0) -> LiveSource:
    """An RTSP stream through OpenCV's FFmpeg backend, tuned for latency (see the module docstring).

    ``timeout`` bounds the open, the first frame and each read (``inf``: 30 s for FFmpeg, ``read()`` waits
    forever); ``fps`` paces ``read()`` to that rate. A SourceError, never showing the password, when nothing
    listens, the path or credentials are wrong, or no decodable video arrives within ``timeout``.
    """
    shown = redact(url)
    seconds = timeout if timeout is not None and math.isfinite(timeout) else RTSP_INFINITE_TIMEOUT
    ms = max(1, int(1000 * seconds))
    params = (cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms,
              cv2.CAP_PROP_N_THREADS, RTSP_DECODER_THREADS)

    def open_() -> CaptureGrabber:
        start = time.perf_counter()
        cap = open_capture(url, cv2.CAP_FFMPEG, f"RTSP stream {shown}", lambda: _rtsp_diagnosis(url, seconds),
                           params=params, ffmpeg=ffmpeg_options(RTSP_CAPTURE_OPTIONS))
        ok, image = cap.read()  # after an open that waited out the timeout, this frame is that old
        if not ok or image is None or time.perf_counter() - start >= seconds:
            cap.release()
            raise SourceError(f"RTSP stream {shown} connected but sent no decodable video within {seconds:g} s; "
                              "check that the camera streams (its web page or ffplay), or raise timeout")
        return CaptureGrabber(cap, first=image, dead_after=seconds)

    return _live(shown, open_, timeout=timeout, width=width, height=height, pace=fps)
