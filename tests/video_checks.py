"""Reading written videos back, and judging white balance from their pixels alone."""

from __future__ import annotations

import cv2
import numpy as np

GRAY = np.ones(3) / np.sqrt(3)


def read_video(path) -> list[np.ndarray]:  # noqa: ANN001
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, image = cap.read()
        if not ok:
            break
        frames.append(image)
    cap.release()
    return frames


def angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b), -1, 1))))


def white_surface_casts(frames: list[np.ndarray], truths: list[np.ndarray], w: int, h: int) -> tuple[list, list]:
    """For before|after frames (each half w x h, labels in the top 24 rows): the colour cast (degrees
    from gray) of a white surface under the true light, before and after the applied gains.

    The gains are measured from the video's pixels: linearise (gamma 2.2) both halves and take the
    per-channel median ratio after/before over pixels unclipped in both. Robust to compression and
    to the scene content; a white surface renders as the light's colour before, gains x light after.
    """
    before_cast, after_cast = [], []
    for image, light in zip(frames, truths):
        assert image.shape[1] == 2 * w and image.shape[0] > h
        before = (image[24:h, :w].reshape(-1, 3)[:, ::-1] / 255.0) ** 2.2
        after = (image[24:h, w:].reshape(-1, 3)[:, ::-1] / 255.0) ** 2.2
        ok = (before.min(1) > 0.02) & (before.max(1) < 0.8) & (after.max(1) < 0.8) & (after.min(1) > 0.02)
        assert ok.mean() > 0.05
        gains = np.median(after[ok] / before[ok], axis=0)
        before_cast.append(angle_deg(light, GRAY))
        after_cast.append(angle_deg(gains * light, GRAY))
    return before_cast, after_cast
