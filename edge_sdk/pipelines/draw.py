"""Draw pipeline results on frames (numpy + OpenCV): 8-bit BGR images for sinks, displays and videos.

    image = draw_prediction(frame.image, classifier(frame))      # top-1, top-k, timings
    image = draw_white_balance(white_balance(pair))               # before | after, gains, error

Colour follows a threshold, never plain green: a top-1 score below ``threshold`` (default
:data:`SCORE_THRESHOLD`) is drawn amber, and a white-balance angular error above ``threshold_deg``
(default :data:`ERROR_THRESHOLD_DEG`) red (amber for a fallback estimate; white when the truth is unknown).

Safe for any frame of at least 1 x 1 pixel and any aspect ratio: tiny frames are upscaled at most to
:data:`MAX_UPSCALE_SIDE` on their longer side, and the font scale is clamped to
[:data:`MIN_TEXT_SCALE`, :data:`MAX_TEXT_SCALE`] (an unclamped scale made OpenCV crash on a 1-pixel-wide
frame); text that does not fit is clipped.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge_sdk.awb.metrics import angular_error_deg
from edge_sdk.camera.frames import DualFrame
from edge_sdk.pipelines.classifier import Prediction
from edge_sdk.pipelines.timing import Timings
from edge_sdk.pipelines.white_balance import WhiteBalanceResult, apply_gains, dtype_max, to_display

MIN_SIDE = 240  # frames smaller than this are upscaled (nearest) so the text stays legible
MAX_UPSCALE_SIDE = 4096  # ... but never beyond this on the longer side (a 1 x 3000 frame stays 1 x 3000)
MIN_TEXT_SCALE, MAX_TEXT_SCALE = 0.4, 4.0
FONT = cv2.FONT_HERSHEY_SIMPLEX
GREEN, WHITE, GRAY = (80, 220, 80), (255, 255, 255), (190, 190, 190)
AMBER, RED = (0, 170, 255), (60, 60, 235)  # BGR
SCORE_THRESHOLD = 0.5  # top-1 probability drawn green at or above this
ERROR_THRESHOLD_DEG = 3.0  # angular error drawn green at or below this (about where a colour cast shows)


def score_colour(score: float, threshold: float = SCORE_THRESHOLD) -> tuple[int, int, int]:
    return GREEN if score >= threshold else AMBER


def error_colour(error_deg: float | None, threshold_deg: float = ERROR_THRESHOLD_DEG,
                 fallback: bool = False) -> tuple[int, int, int]:
    if error_deg is None:
        return AMBER if fallback else WHITE
    return RED if error_deg > threshold_deg else AMBER if fallback else GREEN


def to_bgr8(image: np.ndarray) -> np.ndarray:
    """Any camera frame (gray/BGR/BGRA, uint8/uint16/float in [0, 1]) -> contiguous uint8 BGR."""
    if image.ndim == 3 and image.shape[2] not in (1, 3, 4):
        image = image[:, :, :1]  # 2 or 5+ channels: show the first as gray
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = (np.clip(image.astype(np.float32), 0, 1) * 255 + 0.5).astype(np.uint8)
    if image.ndim == 2 or image.shape[2] == 1:
        image = cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2BGR)
    elif image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return np.ascontiguousarray(image)


def upscale(image: np.ndarray, min_side: int = MIN_SIDE) -> np.ndarray:
    """Integer nearest-neighbour upscale until the shorter side is at least ``min_side``, the longer side
    staying within :data:`MAX_UPSCALE_SIDE`."""
    k = -(-min_side // max(1, min(image.shape[:2])))
    k = min(k, max(1, MAX_UPSCALE_SIDE // max(1, max(image.shape[:2]))))
    return cv2.resize(image, None, fx=k, fy=k, interpolation=cv2.INTER_NEAREST) if k > 1 else image


def timings_text(t: Timings) -> str:
    """Compact stage times; a stage at exactly 0 was not measured (capture of a frame passed in directly)."""
    short = {"capture": "cap", "preprocess": "pre", "infer": "inf", "postprocess": "post"}
    return " ".join(f"{short.get(k, k)} {v:.1f}" for k, v in t.ms.items() if v) + " ms"


def text_scale(height: int) -> float:
    """Font scale for an image ``height`` pixels high, clamped to [MIN_TEXT_SCALE, MAX_TEXT_SCALE]."""
    return min(MAX_TEXT_SCALE, max(MIN_TEXT_SCALE, height / 600))


def _metrics(scale: float) -> tuple[int, int, int]:
    """(thickness, line step, padding) in pixels for a font scale."""
    thick = max(1, round(scale * 1.6))
    return thick, cv2.getTextSize("Ag", FONT, scale, thick)[0][1] + round(12 * scale), round(6 * scale)


def put_lines(image: np.ndarray, lines: list[tuple[str, tuple[int, int, int]]], x: int = 0, y: int = 0,
              scale: float | None = None, box: bool = True, bottom: bool = False) -> np.ndarray:
    """Draw text lines (text, colour) from (x, y) (``bottom``: ending at the bottom edge) on a dark box;
    sized to the image height unless ``scale`` is given (clamped to at most twice MAX_TEXT_SCALE). In place;
    returns ``image``."""
    scale = min(2 * MAX_TEXT_SCALE, max(0.1, scale or text_scale(image.shape[0])))
    x, y = max(0, x), max(0, y)
    thick, step, pad = _metrics(scale)
    sizes = [cv2.getTextSize(text, FONT, scale, thick)[0] for text, _ in lines]
    if bottom:
        y = max(0, image.shape[0] - step * len(lines) - pad)
    if box and lines:
        w = max(s[0] for s in sizes) + 2 * pad
        roi = image[y : y + step * len(lines) + pad, x : x + w]
        roi[:] = (roi * 0.35).astype(np.uint8)  # darken, keep the picture visible
    for i, (text, colour) in enumerate(lines):
        cv2.putText(image, text, (x + pad, y + (i + 1) * step), FONT, scale, colour, thick, cv2.LINE_AA)
    return image


def draw_prediction(image: np.ndarray, prediction: Prediction, threshold: float = SCORE_THRESHOLD) -> np.ndarray:
    """The frame (upscaled if tiny) with the top-1 label and score (green at or above ``threshold``, else
    amber), the top-k list and stage timings."""
    out = upscale(to_bgr8(image)).copy()
    lines = [(f"{prediction.label}  {prediction.score:.0%}", score_colour(prediction.score, threshold))]
    lines += [(f"{lab} {s:.2f}", WHITE) for lab, s in zip(prediction.labels[1:], prediction.scores[1:])]
    lines.append((timings_text(prediction.timings), GRAY))
    put_lines(out, lines[:1], scale=2 * text_scale(out.shape[0]))
    return put_lines(out, lines[1:], bottom=True)


def draw_white_balance(pair_or_result: WhiteBalanceResult | DualFrame | tuple[np.ndarray, np.ndarray],
                       white_level: float | None = None, black_level: float | None = None,
                       threshold_deg: float = ERROR_THRESHOLD_DEG) -> np.ndarray:
    """Side by side, 8-bit BGR: the long exposure as captured (left) | with the gains (right), and below,
    a text band: gains, estimated illuminant, angular error vs ``meta['illuminant']`` if known, timings.

    Levels default to the frame's ``meta`` (``white_level``, ``black_level``), else the dtype range. A bare
    pair (no result) is drawn with unit gains.
    """
    result = pair_or_result if isinstance(pair_or_result, WhiteBalanceResult) else None
    frame = result.frame if result is not None else pair_or_result
    meta = frame.meta if isinstance(frame, DualFrame) else {}
    if isinstance(frame, DualFrame):
        long = frame.long
    elif isinstance(frame, tuple):
        long = frame[0]
    elif result is not None and result.corrected is not None:
        long = result.corrected  # no source frame kept: show the corrected frame on both sides
    else:
        raise TypeError("draw_white_balance needs a WhiteBalanceResult with its frame, a DualFrame or a pair")
    white = float(white_level if white_level is not None else meta.get("white_level", dtype_max(long)))
    black = float(black_level if black_level is not None else meta.get("black_level", 0.0))
    gains = result.gains if result is not None else np.ones(3, np.float32)
    corrected = result.corrected if result is not None and result.corrected is not None else \
        apply_gains(long, gains, white)
    out = np.hstack([to_display(long, white, black), to_display(corrected, white, black)])
    put_lines(out, [("before", WHITE)], box=True)
    put_lines(out, [("after", WHITE)], x=long.shape[1], box=True)
    lines = [(f"gains R {gains[0]:.2f} G {gains[1]:.2f} B {gains[2]:.2f}", WHITE)]
    if result is not None:
        ill = result.illuminant
        text = f"illuminant rgb ({ill[0]:.3f}, {ill[1]:.3f}, {ill[2]:.3f})"
        error = float(angular_error_deg(ill, meta["illuminant"])) if "illuminant" in meta else None
        if error is not None:
            text += f"  error {error:.2f} deg"
        fallback = f"  fallback: {result.fallback}" if result.fallback else ""
        lines += [(text, error_colour(error, threshold_deg, bool(result.fallback))),
                  (timings_text(result.timings) + fallback, GRAY)]
    scale = text_scale(long.shape[0])
    _, step, pad = _metrics(scale)
    band = np.zeros((step * len(lines) + 2 * pad, out.shape[1], 3), np.uint8)
    put_lines(band, lines, scale=scale, box=False)
    return np.vstack([out, band])
