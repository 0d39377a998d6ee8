"""A loopback MJPEG camera for tests: ``threading`` + ``http.server`` on 127.0.0.1.

Each frame shows its server-wide sequence number as 16 black/white bars (:func:`encode_number`,
:func:`decode_number` survive JPEG). Paths: ``/stream`` (multipart with Content-Length),
``/stream-nolen`` (parts delimited only by boundaries), ``/snapshot`` (one image/jpeg per request),
``/html`` (not a camera). Options: ``fps``; ``stall_after`` (each connection sends that many frames,
then holds the connection open silently); ``total_frames`` (the server sends that many frames in all, over
every connection, then holds each connection open silently: reconnecting does not end a stall);
``corrupt_every`` (every k-th part is garbage); ``auth=(user, password, "basic" | "digest")`` answers
requests without those credentials with 401 and the scheme's challenge (RFC 7617 Basic, RFC 7616 Digest
with MD5 and qop=auth, as IP cameras do), and counts them in ``refused``.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np

BOUNDARY = "edgesdkframe"
BITS = 16
CELL = 8  # bar width in pixels: one JPEG block
HEIGHT = 32


def encode_number(n: int) -> np.ndarray:
    bits = [(n >> i) & 1 for i in range(BITS)]
    row = np.repeat(np.array(bits, np.uint8) * 255, CELL)
    return np.ascontiguousarray(np.broadcast_to(row[None, :, None], (HEIGHT, BITS * CELL, 3)))


def decode_number(image: np.ndarray) -> int:
    cells = image[:, : BITS * CELL].reshape(image.shape[0], BITS, CELL, -1).mean(axis=(0, 2, 3))
    return sum(1 << i for i, v in enumerate(cells) if v > 127)


def jpeg(n: int) -> bytes:
    ok, data = cv2.imencode(".jpg", encode_number(n), [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return data.tobytes()


class MjpegServer:
    def __init__(self, port: int = 0, *, fps: float = 100.0, stall_after: int | None = None,
                 total_frames: int | None = None, corrupt_every: int | None = None,
                 auth: tuple[str, str, str] | None = None) -> None:
        self.fps, self.stall_after, self.corrupt_every = fps, stall_after, corrupt_every
        self.total_frames = total_frames
        self.counter = 0  # frames sent, all connections
        self.connections = 0
        self.auth, self.refused, self.nonce = auth, 0, secrets.token_hex(8)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                with server._lock:
                    server.connections += 1
                if server.auth is not None and not server._authorized(self):
                    with server._lock:
                        server.refused += 1
                    self.send_response(401)
                    scheme = server.auth[2]
                    self.send_header("WWW-Authenticate", 'Basic realm="camera"' if scheme == "basic" else
                                     f'Digest realm="camera", qop="auth", nonce="{server.nonce}", algorithm=MD5')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                route = {"/stream": server._stream, "/stream-nolen": server._stream, "/snapshot": server._snapshot}
                if self.path not in route:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.end_headers()
                    self.wfile.write(b"<html>not a camera</html>")
                    return
                try:
                    route[self.path](self)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def _authorized(self, h: BaseHTTPRequestHandler) -> bool:
        assert self.auth is not None
        user, password, scheme = self.auth
        header = h.headers.get("Authorization", "")
        if scheme == "basic":
            return header == "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        if not header.startswith("Digest "):
            return False
        f = dict(re.findall(r'(\w+)="?([^",]*)"?', header[7:]))

        def md5(text: str) -> str:
            return hashlib.md5(text.encode()).hexdigest()

        ha1, ha2 = md5(f"{user}:camera:{password}"), md5(f"GET:{f.get('uri', '')}")
        want = md5(f"{ha1}:{self.nonce}:{f.get('nc', '')}:{f.get('cnonce', '')}:auth:{ha2}")
        return f.get("username") == user and f.get("nonce") == self.nonce and f.get("response") == want

    def url(self, path: str = "/stream") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _next(self) -> tuple[int, bytes]:
        with self._lock:
            n = self.counter
            self.counter += 1
        if self.corrupt_every and n % self.corrupt_every == self.corrupt_every - 1:
            return n, b"\xff\xd8 this is not a jpeg " * 20
        return n, jpeg(n)

    def _snapshot(self, h: BaseHTTPRequestHandler) -> None:
        _, data = self._next()
        h.send_response(200)
        h.send_header("Content-Type", "image/jpeg")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _stream(self, h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        h.send_header("Cache-Control", "no-cache")
        h.end_headers()
        with_length = h.path == "/stream"
        sent = 0
        while not self._stop.is_set():
            if (self.stall_after is not None and sent >= self.stall_after) or (
                    self.total_frames is not None and self.counter >= self.total_frames):
                self._stop.wait()  # hold the connection open, send nothing
                break
            _, data = self._next()
            head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
            if with_length:
                head += f"Content-Length: {len(data)}\r\n"
            h.wfile.write(head.encode() + b"\r\n" + data + b"\r\n")
            h.wfile.flush()
            sent += 1
            time.sleep(1.0 / self.fps)

    def stop(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(5)

    def __enter__(self) -> MjpegServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
