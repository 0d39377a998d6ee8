"""A real RTSP server on 127.0.0.1 for tests: GStreamer's gst-rtsp-server, run by the system Python (gi).

OpenCV's pip wheels have no GStreamer, and the venv has no ``gi``: the server runs in a subprocess of
``/usr/bin/python3`` (Debian: ``python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base
gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly``). :func:`missing` says what is absent (tests skip
with that reason). This file is both the test helper (:class:`RtspServer`, :func:`decode_frame`) and,
run as a script, the server itself; the script part uses the standard library and gi only.

Each client gets its own pipeline (a media factory that is not shared): ``appsrc`` frames, H.264 by
x264 (ultrafast, zerolatency, one slice per frame: FFmpeg garbles x264's sliced threads) over RTP.
A frame is gray with two rows of :data:`BITS` black/white bars: the top row is ``CLOCK_MONOTONIC`` in
milliseconds when the frame was made (the clock of :func:`time.perf_counter` and ``Frame.timestamp``
on Linux, so a frame's age is measurable), the bottom row the frame's number in its session.

Paths: ``/live`` (frames at ``fps``), ``/secure`` (the same, basic auth :data:`USER` /
:data:`PASSWORD`), ``/no-video`` (describes an H.264 stream, then sends only frames that cannot be
decoded: the keyframes are dropped). Control: :meth:`RtspServer.stall` / :meth:`RtspServer.resume`
(no session gets frames; open connections stay open and new ones wait for their first frame: a silent
network stall), :meth:`RtspServer.kill` (SIGKILL: a crashed camera) and :meth:`RtspServer.start`
again on the same port.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import tempfile
import time
from functools import lru_cache
from typing import Any

SYSTEM_PYTHON = "/usr/bin/python3"
DEBIAN_PACKAGES = ("python3-gi", "gir1.2-gst-rtsp-server-1.0", "gstreamer1.0-plugins-base",
                   "gstreamer1.0-plugins-good", "gstreamer1.0-plugins-ugly")
ELEMENTS = ("appsrc", "videoconvert", "x264enc", "rtph264pay")
BITS = 32
CELL = 10  # bar width in pixels
WIDTH, HEIGHT = BITS * CELL, 240
USER, PASSWORD = "viewer", "s3cret-Pa55"
START_TIMEOUT = 15.0

_CHECK = f"""
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gst, GstRtspServer
Gst.init(None)
missing = [e for e in {ELEMENTS!r} if Gst.ElementFactory.find(e) is None]
print(" ".join(missing))
"""


@lru_cache(maxsize=1)
def missing() -> str | None:
    """Why the server cannot run here (``None``: it can)."""
    install = "apt-get install " + " ".join(DEBIAN_PACKAGES)
    if not os.path.exists(SYSTEM_PYTHON):
        return f"no {SYSTEM_PYTHON} for the GStreamer RTSP server ({install})"
    try:
        done = subprocess.run([SYSTEM_PYTHON, "-c", _CHECK], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"cannot run {SYSTEM_PYTHON}: {e}"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return f"GStreamer RTSP server not usable by {SYSTEM_PYTHON} ({last}); {install}"
    if done.stdout.strip():
        return f"GStreamer elements missing: {done.stdout.strip()}; {install}"
    return None


def decode_frame(image: Any) -> tuple[float, int]:
    """(``CLOCK_MONOTONIC`` seconds when the server made the frame, its number in the session) from a
    BGR or gray frame; the millisecond stamp is taken modulo 2**32 and unwrapped against now."""
    import numpy as np

    gray = image if image.ndim == 2 else image.mean(axis=2)
    h = gray.shape[0]
    rows = (gray[h // 8: 3 * h // 8], gray[5 * h // 8: 7 * h // 8])
    values = []
    for row in rows:
        cells = np.asarray(row[:, : BITS * CELL], np.float64).reshape(row.shape[0], BITS, CELL)[:, :, 2:-2]
        values.append(sum(1 << i for i, v in enumerate(cells.mean(axis=(0, 2))) if v > 127))
    now_ms = int(time.monotonic() * 1000)
    stamp_ms = now_ms - ((now_ms - values[0]) % (1 << BITS))
    return stamp_ms / 1000.0, values[1]


class RtspServer:
    """The server subprocess; ``port=0`` picks a free port, kept by :meth:`start` after a :meth:`kill`."""

    def __init__(self, port: int = 0, *, fps: float = 30.0) -> None:
        self.port, self.fps = port, fps
        self.proc: subprocess.Popen[str] | None = None
        self._log = tempfile.TemporaryFile("w+")  # the server's stderr (a pipe nobody reads could fill up)
        self.start()

    def start(self) -> None:
        """Start (again, on the same port); returns once it listens."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.proc = subprocess.Popen([SYSTEM_PYTHON, __file__, str(self.port), str(self.fps)], text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log)
        words = self._reply(START_TIMEOUT).split()
        if words[:1] != ["ready"]:
            self.kill()
            raise RuntimeError(f"RTSP server did not start: {words}")
        self.port = int(words[1])

    def _reply(self, timeout: float) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            err = ""
            try:
                self.proc.wait(1.0)
            except subprocess.TimeoutExpired:
                pass
            if self.proc.poll() is not None:
                self._log.seek(0)
                err = self._log.read()[-2000:]
            raise RuntimeError(f"RTSP server gave no answer within {timeout} s {err}")
        return line.strip()

    def _command(self, word: str) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(word + "\n")
        self.proc.stdin.flush()
        assert self._reply(5.0) == "ok"

    def stall(self) -> None:
        """Every session stops sending; the connections stay open."""
        self._command("stall")

    def resume(self) -> None:
        self._command("resume")

    def kill(self) -> None:
        """SIGKILL: the server dies like a crashed camera (the kernel closes its connections)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if self.proc is not None:
            for pipe in (self.proc.stdin, self.proc.stdout):
                if pipe is not None:
                    pipe.close()

    stop = kill

    def url(self, path: str = "/live", *, auth: str | None = None) -> str:
        return f"rtsp://{auth + '@' if auth else ''}127.0.0.1:{self.port}{path}"

    def __enter__(self) -> RtspServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()
        self._log.close()


# ---------------------------------------------------------------- the server (system Python + gi) ---

def _bars(value: int) -> bytes:
    return b"".join((b"\xff" if (value >> i) & 1 else b"\x00") * CELL for i in range(BITS))


def _frame(stamp_ms: int, number: int) -> bytes:
    gray, q = b"\x80" * WIDTH, HEIGHT // 4
    top, bottom = _bars(stamp_ms % (1 << BITS)), _bars(number)
    return gray * (q // 2) + top * q + gray * q + bottom * q + gray * (HEIGHT - 3 * q - q // 2)


def _serve(port: int, fps: float) -> None:  # pragma: no cover - runs in the server subprocess
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer

    Gst.init(None)
    stalled = [False]
    rate = round(fps)
    encode = (f"appsrc name=src is-live=true do-timestamp=true format=time leaky-type=downstream max-buffers=2 "
              f"caps=video/x-raw,format=GRAY8,width={WIDTH},height={HEIGHT},framerate={rate}/1 "
              "! videoconvert ! video/x-raw,format=I420 "
              f"! x264enc speed-preset=ultrafast tune=zerolatency sliced-threads=false threads=1 key-int-max={rate}")
    pay = "rtph264pay name=pay0 pt=96 config-interval=-1"

    class Factory(GstRtspServer.RTSPMediaFactory):  # type: ignore[misc]
        def __init__(self, silent: bool) -> None:
            super().__init__()
            self.silent = silent
            self.set_launch(f"( {encode} ! {pay} )")
            self.set_shared(False)  # a pipeline per client
            self.connect("media-configure", self._configure)

        def _configure(self, _factory: Any, media: Any) -> None:
            src = media.get_element().get_child_by_name("src")
            number = [0]
            if self.silent:  # drop the keyframes: the decoder never gets a frame it can decode
                def keyframes(_pad: Any, info: Any) -> Any:
                    delta = info.get_buffer().has_flags(Gst.BufferFlags.DELTA_UNIT)
                    return Gst.PadProbeReturn.OK if delta else Gst.PadProbeReturn.DROP

                pad = media.get_element().get_child_by_name("pay0").get_static_pad("sink")
                pad.add_probe(Gst.PadProbeType.BUFFER, keyframes)

            def push() -> bool:  # never media.get_status(): it blocks while the media prepares
                if not stalled[0]:
                    src.emit("push-buffer", Gst.Buffer.new_wrapped(_frame(int(time.monotonic() * 1000), number[0])))
                    number[0] += 1
                return True

            timer = GLib.timeout_add(max(1, round(1000 / fps)), push)
            media.connect("unprepared", lambda *_: GLib.source_remove(timer))

    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    server.get_thread_pool().set_max_threads(64)  # default 1: one client waiting would hold up all
    auth = GstRtspServer.RTSPAuth()
    for role, credentials in (("anonymous", None), ("viewer", (USER, PASSWORD))):
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", role)
        if credentials is None:
            auth.set_default_token(token)
        else:
            auth.add_basic(GstRtspServer.RTSPAuth.make_basic(*credentials), token)
    server.set_auth(auth)
    # access false: 404 (no such path); construct false: 401 (the client retries with its credentials)
    roles = {"/live": {"anonymous": True, "viewer": True}, "/no-video": {"anonymous": True, "viewer": True},
             "/secure": {"anonymous": False, "viewer": True}}
    mounts = server.get_mount_points()
    for path in roles:
        factory = Factory(silent=path == "/no-video")
        for role, construct in roles[path].items():
            rule = (f"{role}, media.factory.access=(boolean)true, "
                    f"media.factory.construct=(boolean){str(construct).lower()}")
            factory.add_role_from_structure(Gst.Structure.from_string(rule)[0])
        mounts.add_factory(path, factory)

    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{port}", flush=True)
        sys.exit(1)
    print(f"ready {server.get_bound_port()}", flush=True)
    loop = GLib.MainLoop()

    def command(stream: Any, _condition: Any) -> bool:
        word = stream.readline().strip()
        if not word:  # the test process went away
            loop.quit()
            return False
        stalled[0] = word == "stall"
        print("ok", flush=True)
        return True

    GLib.io_add_watch(sys.stdin, GLib.IO_IN | GLib.IO_HUP, command)
    loop.run()


if __name__ == "__main__":  # pragma: no cover
    _serve(int(sys.argv[1]), float(sys.argv[2]))
