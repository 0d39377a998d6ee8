"""Dual-exposure sources built from cameras and files: each ``read()`` gives a (long, short) DualFrame.

* One frame carrying both exposures (staggered-HDR sensors), long first: ``layout="side-by-side"``
  (left half long), ``"top-bottom"`` (top half long) or ``"interleaved"`` (even rows long, odd short).
* Two streams (:class:`PairedDualSource`): ``dual://?long=URI1&short=URI2`` or ``open_source((URI1, URI2))``.
* A webcam alternating its exposure (:class:`AlternatingExposureSource`, ``layout="alternating"``,
  ``exposures=(long, short)`` in the driver's ``CAP_PROP_EXPOSURE`` units; V4L2: 100 us).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from edge_sdk.camera.capture import open_capture
from edge_sdk.camera.frames import DualFrame, Frame, Source, resize_to
from edge_sdk.errors import SourceError

Splitter = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def _side_by_side(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    half = image.shape[1] // 2
    return image[:, :half], image[:, half : 2 * half]


def _top_bottom(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    half = image.shape[0] // 2
    return image[:half], image[half : 2 * half]


def _interleaved(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows = image.shape[0] // 2 * 2
    return image[0:rows:2], image[1:rows:2]


SPLITTERS: dict[str, Splitter] = {
    "side-by-side": _side_by_side,
    "top-bottom": _top_bottom,
    "interleaved": _interleaved,
}


class SplitDualSource(Source[DualFrame]):
    """Splits each frame of ``inner`` into its long and short exposure by ``layout`` (long first)."""

    dual = True

    def __init__(self, inner: Source[Frame], layout: str, *, width: int | None = None,
                 height: int | None = None) -> None:
        if layout not in SPLITTERS:
            raise SourceError(f"unknown dual layout {layout!r}; use one of: {', '.join(SPLITTERS)}, alternating")
        super().__init__(f"{inner.name}#{layout}", width=width, height=height)
        self.inner = inner
        self.live = inner.live
        self.stats = inner.stats  # the inner source counts reads, drops, reconnects, corrupt inputs
        self._split = SPLITTERS[layout]
        self.layout = layout

    @property
    def fps(self) -> float | None:
        return self.inner.fps

    def read(self) -> DualFrame | None:
        if self.closed:
            raise SourceError(f"source {self.name!r} is closed; open it again with edge_sdk.open_source()")
        frame = self.inner.read()
        if frame is None:
            return None
        long, short = (np.ascontiguousarray(self._resize(a)) for a in self._split(frame.image))
        self.size = (int(long.shape[1]), int(long.shape[0]))
        return DualFrame(long, short, frame.index, frame.timestamp, {**frame.meta, "layout": self.layout})

    def _close(self) -> None:
        self.inner.close()


class PairedDualSource(Source[DualFrame]):
    """Two streams, one exposure each: one frame from each per ``read()``; ``meta['skew']`` is
    ``short.timestamp - long.timestamp`` (seconds)."""

    dual = True

    def __init__(self, long: Source[Frame], short: Source[Frame], *, width: int | None = None,
                 height: int | None = None) -> None:
        super().__init__(f"dual:{long.name}+{short.name}", width=width, height=height)
        self.long, self.short = long, short
        self.live = long.live or short.live

    @property
    def fps(self) -> float | None:
        return self.long.fps

    def _read(self) -> DualFrame | None:
        a = self.long.read()
        b = self.short.read() if a is not None else None
        if a is None or b is None:
            return None
        for key in ("dropped", "reconnects"):
            setattr(self.stats, key, getattr(self.long.stats, key) + getattr(self.short.stats, key))
        self.stats.skipped_corrupt = self.long.stats.skipped_corrupt + self.short.stats.skipped_corrupt
        meta = {"source": self.name, "long": a.meta, "short": b.meta, "skew": b.timestamp - a.timestamp}
        return DualFrame(self._resize(a.image), self._resize(b.image), self.stats.frames_read, a.timestamp, meta)

    def _close(self) -> None:
        self.long.close()
        self.short.close()


# CAP_PROP_AUTO_EXPOSURE value meaning "manual" for OpenCV's V4L2 backend (V4L2_EXPOSURE_MANUAL).
V4L2_MANUAL_EXPOSURE = 1.0


class AlternatingExposureSource(Source[DualFrame]):
    """A webcam switching ``CAP_PROP_EXPOSURE`` between ``exposures=(long, short)`` every frame; each
    read gives one consecutive (long, short) pair. After each switch ``settle`` frames are discarded
    (counted in ``stats.dropped``): drivers apply a new exposure a frame or two late. Synchronous: the
    exposure must be set before each capture, so no latest-frame thread here.
    """

    dual = True
    live = True

    def __init__(self, target: int | str, exposures: tuple[float, float], *, settle: int = 1,
                 width: int | None = None, height: int | None = None, fps: float | None = None) -> None:
        super().__init__(f"alternating:{target}", width=width, height=height)
        self._cap: cv2.VideoCapture | None = None
        if len(exposures) != 2 or not exposures[0] > exposures[1]:
            raise SourceError("alternating exposure needs exposures=(long, short) with long > short, "
                              f"got {exposures!r}")
        api = cv2.CAP_V4L2 if isinstance(target, str) else cv2.CAP_ANY
        what = f"V4L2 device {target}" if isinstance(target, str) else f"camera index {target}"
        self._cap = open_capture(target, api, what,
                                 "no such camera: list cameras with `ls /dev/video*` and pass an existing "
                                 "index or device path", width=width, height=height, fps=fps)
        self._cap.set(cv2.CAP_PROP_AUTO_EXPOSURE, V4L2_MANUAL_EXPOSURE)
        self.exposures = (float(exposures[0]), float(exposures[1]))
        self._settle = settle
        self._fps = fps
        self._count = 0

    def _capture(self, exposure: float) -> tuple[np.ndarray, float] | None:
        assert self._cap is not None
        self._cap.set(cv2.CAP_PROP_EXPOSURE, exposure)
        for _ in range(self._settle):
            if not self._cap.grab():
                return None
            self.stats.dropped += 1
        ok, image = self._cap.read()
        return (image, time.perf_counter()) if ok and image is not None else None

    def _read(self) -> DualFrame | None:
        if self._cap is None:
            return None
        long = self._capture(self.exposures[0])
        short = self._capture(self.exposures[1]) if long is not None else None
        if long is None or short is None:
            return None
        meta: dict[str, Any] = {"source": self.name, "exposures": self.exposures, "skew": short[1] - long[1]}
        frame = DualFrame(resize_to(long[0], self._width, self._height), resize_to(short[0], self._width, self._height),
                          self._count, long[1], meta)
        self._count += 1
        return frame

    def _close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
