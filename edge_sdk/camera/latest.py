"""Live sources: a background thread keeps only the latest frame; reconnect with exponential back-off.

A slow consumer never works on a stale backlog: every captured frame replaces the previous one, and a
frame replaced before anyone read it counts in ``stats.dropped``. When the stream dies (read fails,
connection drops), the thread reconnects with back-off (0.1 s, doubling, at most 5 s); ``read()``
returns ``None`` when no new frame arrives within ``timeout`` seconds.

A grabber may return :class:`Skip` for a part it refused (too large, no boundary): it is listed in
``stats.skipped_corrupt`` and the stream goes on. Encoded frames are checked against ``max_pixels``
from their header before decoding (:mod:`edge_sdk.camera.imagesize`); over the limit, they are skipped
and listed the same way. ``close()`` interrupts a grabber blocked in a read (``Grabber.interrupt()``,
e.g. shutting its socket down), so the reader thread and its connection end within ``JOIN_TIMEOUT``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import cv2
import numpy as np

from edge_sdk.camera.frames import Frame, Source, SourceStats
from edge_sdk.camera.imagesize import ImageTooLargeError, check_max_pixels, check_pixels

BACKOFF_INITIAL = 0.1
BACKOFF_MAX = 5.0
JOIN_TIMEOUT = 1.0  # close() waits this long for the thread; it is a daemon and finishes on its own


@dataclass(frozen=True)
class Skip:
    """What a grabber returns for a part it refused; ``reason`` goes to ``stats.skipped_corrupt``."""

    reason: str


class Grabber(Protocol):
    """One connection to a live stream. ``read()`` blocks for the next frame: an image, encoded bytes
    (decoded only when the consumer takes it, so dropped frames cost no decode), a :class:`Skip`, or
    ``None`` when the stream ended or broke. Grabbers may also have ``interrupt()``, called from another
    thread to make a blocked ``read()`` return (then ``close()`` is called by the reader thread)."""

    def read(self) -> np.ndarray | bytes | Skip | None: ...

    def close(self) -> None: ...


class LatestFrameReader:
    """Runs ``grabber.read()`` in a daemon thread, keeping only the newest result."""

    def __init__(self, connect: Callable[[], Grabber], grabber: Grabber, stats: SourceStats, name: str,
                 *, backoff_initial: float = BACKOFF_INITIAL, backoff_max: float = BACKOFF_MAX) -> None:
        self._connect = connect
        self._stats = stats
        self._backoff = (backoff_initial, backoff_max)
        self._cond = threading.Condition()
        self._latest: tuple[np.ndarray | bytes, int, float] | None = None
        self._seq = -1  # sequence number of the newest capture
        self._taken = -1  # sequence number of the last one handed out
        self._stop = threading.Event()
        self._grabber: Grabber | None = grabber  # the current connection, for interrupt() from stop()
        self._thread = threading.Thread(target=self._run, args=(grabber,), name=f"edge-sdk-live:{name}", daemon=True)
        self._thread.start()

    def _run(self, grabber: Grabber | None) -> None:
        delay = self._backoff[0]
        try:
            while not self._stop.is_set():
                if grabber is None:
                    if self._stop.wait(delay):
                        break
                    delay = min(delay * 2, self._backoff[1])
                    try:
                        grabber = self._connect()
                    except Exception:  # noqa: BLE001 - still down: back off and retry
                        continue
                    with self._cond:
                        self._stats.reconnects += 1
                        self._grabber = grabber
                    if self._stop.is_set():  # closed while connecting
                        break
                try:
                    item = grabber.read()
                except Exception:  # noqa: BLE001 - a broken stream is a reconnect, not a dead thread
                    item = None
                stamp = time.perf_counter()
                if isinstance(item, Skip):
                    with self._cond:
                        self._stats.skip(item.reason)
                    continue
                if item is None:
                    with self._cond:
                        self._grabber = None
                    grabber.close()
                    grabber = None
                    continue
                delay = self._backoff[0]
                with self._cond:
                    if self._seq > self._taken:
                        self._stats.dropped += 1
                    self._seq += 1
                    self._latest = (item, self._seq, stamp)
                    self._cond.notify_all()
        finally:
            if grabber is not None:
                grabber.close()

    def get(self, timeout: float | None) -> tuple[np.ndarray | bytes, int, float] | None:
        """The newest capture not yet handed out, waiting up to ``timeout`` s; ``None`` on timeout."""
        with self._cond:
            self._cond.wait_for(lambda: self._seq > self._taken or self._stop.is_set(), timeout)
            if self._stop.is_set() or self._latest is None or self._seq <= self._taken:
                return None
            self._taken = self._seq
            return self._latest

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
            grabber = self._grabber
        interrupt = getattr(grabber, "interrupt", None)
        if interrupt is not None:
            try:
                interrupt()
            except Exception:  # noqa: BLE001 - best effort: the thread also ends at its next read
                pass
        if self._thread is not threading.current_thread():
            self._thread.join(JOIN_TIMEOUT)


def decode_image(data: bytes, max_pixels: int | None = None, what: str = "frame") -> np.ndarray | None:
    """Decode an encoded image (JPEG, PNG, ...) to BGR, or ``None`` if corrupt; :class:`ImageTooLargeError`
    (not decoded) when its header declares more than ``max_pixels`` (default 64 MP)."""
    check_pixels(data, check_max_pixels(max_pixels), what)
    try:
        return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error:
        return None


class LiveSource(Source[Frame]):
    """A live stream (camera, RTSP, HTTP MJPEG): only the latest frame is kept; reconnects on failure.

    ``connect()`` opens one connection and raises :class:`~edge_sdk.errors.SourceError` when it
    cannot; it is called once here (so an absent camera fails at open) and again by the reader thread
    after the stream dies. ``pace`` (frames per second) limits ``read()`` to that rate for streams whose
    rate the SDK cannot set (RTSP): ``read()`` waits for the next slot and hands out the newest frame then,
    the frames in between count in ``stats.dropped``.
    """

    live = True

    def __init__(self, name: str, connect: Callable[[], Grabber], *, timeout: float | None = 5.0,
                 width: int | None = None, height: int | None = None, fps: float | None = None,
                 meta: dict[str, Any] | None = None, max_pixels: int | None = None,
                 pace: float | None = None) -> None:
        super().__init__(name, width=width, height=height, fps=fps)
        self.max_pixels = check_max_pixels(max_pixels)
        self._timeout = None if timeout is None or math.isinf(timeout) else timeout
        self._meta = {"source": self.name, **(meta or {})}  # self.name: redacted
        self._live_pace = pace
        self._reader: LatestFrameReader | None = None
        grabber = connect()
        self._reader = LatestFrameReader(connect, grabber, self.stats, self.name)

    def _wait_for_pace(self) -> None:
        """With ``pace``: at most that many frames a second; the frame handed out is the newest at the time."""
        if not self._live_pace:
            return
        now = time.perf_counter()
        if self._next_due is not None and now < self._next_due:
            time.sleep(self._next_due - now)
            now = self._next_due
        self._next_due = max(now, self._next_due or now) + 1.0 / self._live_pace

    def _read(self) -> Frame | None:
        assert self._reader is not None
        self._wait_for_pace()
        deadline = None if self._timeout is None else time.perf_counter() + self._timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.perf_counter())
            got = self._reader.get(left)
            if got is None:
                return None
            item, seq, stamp = got
            what = f"{self.name} frame {seq}"
            try:
                image = decode_image(item, self.max_pixels, what) if isinstance(item, bytes) else item
            except ImageTooLargeError as e:
                self.stats.skip(str(e))
                continue
            if image is None:
                self.stats.skip(f"{what}: undecodable image")
                continue
            return Frame(self._resize(image), seq, stamp, dict(self._meta))

    def _close(self) -> None:
        if self._reader is not None:
            self._reader.stop()
