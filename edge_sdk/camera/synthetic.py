"""``synthetic://`` sources with ground truth in ``meta``; no camera needed.

* ``synthetic://dual-exposure?size=640x360&seed=0&split=test&count=N`` -- dual-exposure raw scenes of
  :mod:`edge_sdk.data.dual_exposure` as :class:`DualFrame` (uint16 linear raw RGB, long and short);
  ``meta['illuminant']`` is the true illuminant (unit-norm camera RGB, float32 (3,)), with ``ratio``,
  ``white_level``, ``black_level`` and the generator's scene meta (its illuminant's name moves to
  ``illuminant_name``). Scene ``i`` is seed ``seed + i``: deterministic. On the thin install (no
  colour-science, scikit-image) it renders from the data shipped in :mod:`edge_sdk.assets`: the test
  split only, same scenes, photographs JPEG-compressed (see :mod:`edge_sdk.data.spectra`).
* ``synthetic://digits?size=320x240&split=test&seed=S&count=N`` -- digits-28 images upscaled onto a
  black uint8 BGR frame, ``meta['label']`` the true digit and ``meta['bbox']`` (x, y, w, h). In split
  order, or shuffled by ``seed``; ``None`` after the split (or again from the start with ``loop``).
  ``count=N`` gives exactly N frames: fewer than the split takes the first N, more goes round the split
  again (``meta['pass']`` counts the rounds, from 0), so ``count=100000`` gives 100,000 frames.
  The same frames with or without scikit-learn (the digits ship in :mod:`edge_sdk.assets`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import cv2
import numpy as np

from edge_sdk.camera.frames import MAX_RESIZE_PIXELS, MAX_SIDE, DualFrame, Frame, Source
from edge_sdk.errors import EdgeSDKError, SourceError, install_hint

DIGIT_FILL = 1.0  # the 28x28 digit canvas (with its own 2-px margin) spans the shorter side, as in training


def _size(query: Mapping[str, str], default: tuple[int, int], width: int | None,
          height: int | None) -> tuple[int, int]:
    text = query.get("size")
    w, h = default
    if text is not None:
        parts = text.lower().split("x")
        if len(parts) != 2 or not all(p.isascii() and p.isdigit() and len(p) <= 9 and int(p) > 0 for p in parts):
            raise SourceError(f"synthetic size must look like 640x360 (width x height), got {text!r}")
        w, h = int(parts[0]), int(parts[1])
    w, h = (width or w, height or h)
    if not (w <= MAX_SIDE and h <= MAX_SIDE and w * h <= MAX_RESIZE_PIXELS):
        raise SourceError(f"synthetic size {w}x{h} is too large: at most {MAX_SIDE} pixels a side and "
                          f"{MAX_RESIZE_PIXELS // 1_000_000} MP")
    return w, h


def _int(query: Mapping[str, str], key: str, default: int | None, least: int = 0) -> int | None:
    text = query.get(key)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit() and len(text) <= 18 and int(text) >= least):
        raise SourceError(f"synthetic {key} must be a whole number {least}..{10**18 - 1}, got {text!r}")
    return int(text)


def _check_keys(query: Mapping[str, str], allowed: set[str], kind: str) -> None:
    unknown = sorted(set(query) - allowed)
    if unknown:
        raise SourceError(f"synthetic://{kind} does not take {', '.join(unknown)}; "
                          f"it takes {', '.join(sorted(allowed))}")


class SyntheticDualSource(Source[DualFrame]):
    """Dual-exposure scenes from the generator, one per ``read()``."""

    dual = True

    def __init__(self, query: Mapping[str, str], *, loop: bool = False, width: int | None = None,
                 height: int | None = None, fps: float | None = None) -> None:
        _check_keys(query, {"size", "seed", "split", "count"}, "dual-exposure")
        w, h = _size(query, (640, 360), width, height)
        super().__init__(f"synthetic:dual-exposure:{query.get('split', 'test')}", fps=fps)
        self.size = (w, h)
        self._split = query.get("split", "test")
        self._seed = _int(query, "seed", 0) or 0
        self._count = _int(query, "count", None, least=1)
        self._loop = loop
        self._i = 0
        from edge_sdk.data import dual_exposure, spectra

        self._generate: Callable[..., Any] = dual_exposure.generate_scene
        if self._split not in dual_exposure.SPLITS:
            raise SourceError(f"synthetic://dual-exposure split must be one of {', '.join(dual_exposure.SPLITS)}, "
                              f"got {self._split!r}")
        lo, hi = dual_exposure.MIN_SIZE, dual_exposure.MAX_SIZE
        if not (lo <= w <= hi and lo <= h <= hi):
            raise SourceError(f"synthetic://dual-exposure size must be {lo}..{hi} pixels a side, got {w}x{h}")
        missing = spectra.missing_photos(self._split)
        if missing:
            raise SourceError(f"synthetic://dual-exposure?split={self._split} needs {len(missing)} photographs from "
                              f"scikit-image/scikit-learn; the thin install ships the test split's only (split=test, "
                              f"the default); for the others: {install_hint('host')}")

    def _read(self) -> DualFrame | None:
        if self._count is not None and self._i >= self._count:
            if not (self._loop and self._count > 0):
                return None
            self._i = 0
        w, h = self.size or (640, 360)
        seed = self._seed + self._i
        try:
            scene = self._generate(seed, self._split, h, w)
        except EdgeSDKError as e:
            raise SourceError(f"synthetic://dual-exposure scene {seed}: {e}") from e
        meta = {**scene.meta, "source": self.name, "illuminant_name": scene.meta.get("illuminant"),
                "illuminant": scene.illuminant, "ratio": scene.ratio, "white_level": scene.white_level,
                "black_level": scene.black_level, "scene_seed": seed}
        frame = DualFrame(scene.long, scene.short, self.stats.frames_read, time.perf_counter(), meta)
        self._i += 1
        return frame


class DigitsSource(Source[Frame]):
    """digits-28 images on a frame, with the true label; see the module docstring."""

    def __init__(self, query: Mapping[str, str], *, loop: bool = False, width: int | None = None,
                 height: int | None = None, fps: float | None = None) -> None:
        _check_keys(query, {"size", "seed", "split", "count"}, "digits")
        w, h = _size(query, (320, 240), width, height)
        split = query.get("split", "test")
        super().__init__(f"synthetic:digits:{split}", fps=fps)
        self.size = (w, h)
        from edge_sdk.data.digits import load_digits28

        try:
            x, y = load_digits28(split)
        except EdgeSDKError as e:
            raise SourceError(f"synthetic://digits: {e}") from e
        seed = _int(query, "seed", None)
        self._order = np.arange(len(y)) if seed is None else np.random.default_rng(seed).permutation(len(y))
        count = _int(query, "count", None, least=1)
        self._count = len(self._order) if count is None else count  # beyond the split: go round it again
        self._x, self._y = x, y
        self._loop = loop
        self._i = 0
        side = max(1, int(min(w, h) * DIGIT_FILL))
        self._bbox = ((w - side) // 2, (h - side) // 2, side, side)

    def _read(self) -> Frame | None:
        if self._i >= self._count:
            if not (self._loop and len(self._order)):
                return None
            self._i = 0
        rounds, at = divmod(self._i, len(self._order))
        k = int(self._order[at])
        self._i += 1
        w, h = self.size or (320, 240)
        bx, by, side, _ = self._bbox
        digit = cv2.resize(self._x[k, 0], (side, side), interpolation=cv2.INTER_LINEAR)
        image = np.zeros((h, w, 3), np.uint8)
        image[by : by + side, bx : bx + side] = np.clip(digit * 255.0 + 0.5, 0, 255).astype(np.uint8)[:, :, None]
        meta = {"source": self.name, "label": int(self._y[k]), "bbox": self._bbox, "dataset_index": k, "pass": rounds}
        return Frame(image, self.stats.frames_read, time.perf_counter(), meta)


SYNTHETIC_KINDS: dict[str, Callable[..., Source[Any]]] = {
    "dual-exposure": SyntheticDualSource,
    "digits": DigitsSource,
}


def open_synthetic(kind: str, query: Mapping[str, str], **options: Any) -> Source[Any]:
    try:
        factory = SYNTHETIC_KINDS[kind]
    except KeyError:
        raise SourceError(f"unknown synthetic source {kind!r}; use one of: "
                          + ", ".join(f"synthetic://{k}" for k in SYNTHETIC_KINDS)) from None
    return factory(query, **options)
