"""Physically based synthetic dual-exposure raw scenes (long + short frame) with a known illuminant.

Image formation, per scene (all deterministic from ``(split, seed)``):

1. **Reflectance.** A random crop (35-100 % of the largest crop with the target aspect, random
   horizontal flip) of one of the split's source photographs (:data:`edge_sdk.data.spectra.PHOTOS`;
   train, val and test use *disjoint* photographs). Each pixel's linear sRGB triplet is the set of
   coefficients of the Mallett 2019 basis spectra, so the pixel's reflectance is ``B @ rgb``. Zero to
   four rectangular tiles cut from the split's other photographs or from its grayscale textures
   (tinted by a random colour), and zero to three flat rectangles of a random colour (linear sRGB
   uniform in [0.02, 0.9]^3) make each scene a collage. A mild
   per-scene tint (log-normal, sigma 0.1 per channel) varies the scene's mean colour. Zero to four
   ColorChecker patches (the split's own chart measurement) are pasted in with their measured spectra.
2. **Illuminant.** One spectrum of :func:`edge_sdk.data.spectra.illuminant_bank`, drawn 35 % CIE
   daylight (4000-10000 K), 35 % Planckian (2500-10000 K), 15 % fluorescent, 15 % LED. For the
   Mallett-basis photo, rendering under illuminant ``E`` with camera ``S`` is one 3x3 matrix
   ``S^T diag(E) B`` per scene (exact, since the reflectance is linear in the coefficients).
3. **Geometry/shading.** A smooth log-normal shading field (a random 3x4..6x8 grid, bicubic
   upsampled, sigma 0.45 in log space) times a random linear ramp, plus zero to three Gaussian
   specular highlights of the illuminant's own colour (dichromatic model) 0.5-4x the scene's
   98th-percentile brightness.
4. **Exposure.** The long exposure maps the 98th percentile of the brightest channel to
   0.6-2.5x the full well, so most scenes clip in the long frame. The exposure ratio is
   log-uniform in [4, 16]; if the short frame would reach 90 % of the full well, both exposures are
   lowered together (ratio unchanged), so the short frame never clips.
5. **Sensor.** Per-channel full well, 96.5-100 % of ``white_level - black_level`` (per scene), clipped
   before read-out; shot noise as a Gaussian approximation of Poisson (variance ``gain * signal``,
   gain 0.3-1.2 DN per electron) plus Gaussian read noise (sigma 1.5-5 DN); black level
   :data:`BLACK_LEVEL` = 64 DN added, rounded, clipped to ``[0, white_level]``, 12-bit
   (:data:`WHITE_LEVEL` = 4095). Frames are demosaiced linear raw RGB, ``uint16`` H x W x 3.

The camera ``S`` and the levels are the ``sensor``'s (:mod:`edge_sdk.data.sensors`: a colour-science
camera name or a curves CSV; default Nikon D5100, 12-bit, black 64, which the shipped weights use).
The same seed under another sensor gives the same scene content, light and exposure draws.

Without the host install (colour-science, scikit-image, scikit-learn) the test split renders from the
data shipped in :mod:`edge_sdk.assets`: exact spectra, JPEG-compressed photographs (same scenes, pixel
values within the JPEG error; :mod:`edge_sdk.data.spectra`). The train and val splits need the host.

Ground truth: the camera RGB of the illuminant, ``S^T E`` (the raw colour of a perfect white
reflector), unit L2 norm, float32 (3,).

Seeds: split ``s`` and seed ``n`` (``0 <= n < SEEDS_PER_SPLIT``) give the effective seed
``SPLIT_INDEX[s] * SEEDS_PER_SPLIT + n``, so the three splits never share a seed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import cv2
import numpy as np

from edge_sdk.data import spectra
from edge_sdk.data.sensors import Sensor, load_sensor
from edge_sdk.errors import DatasetError

SPLITS = ("train", "val", "test")
SEEDS_PER_SPLIT = 1_000_000_000
WHITE_LEVEL = 4095
BLACK_LEVEL = 64
MIN_SIZE, MAX_SIZE = 16, 8192
# The resolution make_feature_dataset renders at: a 3x3-pixel block per cell of the 64x36 AWB grid.
FEATURE_HEIGHT, FEATURE_WIDTH = 108, 192
_KIND_PROBS = (("daylight", 0.35), ("planckian", 0.35), ("fluorescent", 0.15), ("led", 0.15))


@dataclass(frozen=True)
class DualExposureScene:
    long: np.ndarray  # uint16 H x W x 3, linear raw RGB
    short: np.ndarray  # uint16 H x W x 3
    illuminant: np.ndarray  # float32 (3,), unit norm camera RGB of the illuminant
    ratio: float  # long / short exposure
    white_level: int
    black_level: int
    meta: dict[str, Any] = field(default_factory=dict)


def _check(split: str, height: int, width: int) -> None:
    if split not in SPLITS:
        raise DatasetError(f"unknown dual-exposure split {split!r}; choose one of {', '.join(SPLITS)}")
    for name, v in (("height", height), ("width", width)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or not MIN_SIZE <= v <= MAX_SIZE:
            raise DatasetError(f"scene {name} must be an int in [{MIN_SIZE}, {MAX_SIZE}], got {v!r}")


def _effective_seed(split: str, seed: int) -> int:
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or not 0 <= seed < SEEDS_PER_SPLIT:
        raise DatasetError(f"scene seed must be an int in [0, {SEEDS_PER_SPLIT}), got {seed!r}")
    return SPLITS.index(split) * SEEDS_PER_SPLIT + int(seed)


@lru_cache(maxsize=1)
def _bank_by_kind() -> dict[str, np.ndarray]:
    kinds = np.asarray(spectra.illuminant_bank().kinds)
    return {k: np.flatnonzero(kinds == k) for k, _ in _KIND_PROBS}


@lru_cache(maxsize=4)
def _renderers(sensor: Sensor) -> tuple[np.ndarray, np.ndarray]:
    """Per bank illuminant: the (3, 3) photo matrix S^T diag(E) B and the white-reflector RGB S^T E."""
    bank = spectra.illuminant_bank().spectra  # (N, 31)
    s, b = sensor.sensitivities, spectra.mallett_basis()
    mats = np.einsum("wc,nw,wk->nck", s, bank, b)
    whites = bank @ s
    return mats, whites


def _crop(photo: np.ndarray, rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    ph, pw = photo.shape[:2]
    aspect = width / height
    ch_max = min(ph, pw / aspect)
    scale = rng.uniform(0.35, 1.0)
    ch = max(4, int(ch_max * scale))
    cw = max(4, min(pw, int(round(ch * aspect))))
    y0 = int(rng.integers(0, ph - ch + 1))
    x0 = int(rng.integers(0, pw - cw + 1))
    crop = photo[y0 : y0 + ch, x0 : x0 + cw]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    interp = cv2.INTER_AREA if (cw > width and ch > height) else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(crop), (width, height), interpolation=interp)


def _smooth_field(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    gh, gw = int(rng.integers(3, 7)), int(rng.integers(4, 9))
    grid = np.exp(rng.normal(0.0, 0.45, size=(gh, gw))).astype(np.float32)
    field_ = cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
    ang = rng.uniform(0, 2 * math.pi)
    amp = rng.uniform(0.0, 0.6)
    ramp_x = np.linspace(-0.5, 0.5, width, dtype=np.float32) * math.cos(ang) * amp
    ramp_y = np.linspace(-0.5, 0.5, height, dtype=np.float32) * math.sin(ang) * amp
    ramp = 1.0 + ramp_y[:, None] + ramp_x[None, :]
    return np.clip(field_ * ramp, 0.05, None)


def generate_scene(
    seed: int, split: str = "train", height: int = 360, width: int = 640, sensor: Sensor | str | None = None
) -> DualExposureScene:
    """One dual-exposure raw scene; the same ``(seed, split, height, width, sensor)`` gives the same arrays."""
    _check(split, height, width)
    eff = _effective_seed(split, seed)
    sensor = load_sensor(sensor)
    rng = np.random.default_rng(eff)
    bank = spectra.illuminant_bank()
    mats, whites = _renderers(sensor)

    # illuminant
    kind = _KIND_PROBS[int(rng.choice(len(_KIND_PROBS), p=[p for _, p in _KIND_PROBS]))][0]
    ill = int(rng.choice(_bank_by_kind()[kind]))
    white_rgb = whites[ill]

    # reflectance (photo crop + tint), rendered by one 3x3 matrix
    photos = spectra.PHOTOS[split]
    photo_key = photos[int(rng.integers(len(photos)))]
    lin = _crop(spectra.photo_linear_srgb(photo_key), rng, height, width)
    # a collage: tiles of the split's other photos and tinted textures, and flat random colours
    sources = photos + spectra.TEXTURES[split]
    n_tiles, n_flat = int(rng.integers(0, 5)), int(rng.integers(0, 4))
    for i in range(n_tiles + n_flat):
        th = max(2, int(height * rng.uniform(0.15, 0.5)))
        tw = max(2, int(width * rng.uniform(0.1, 0.4)))
        y0, x0 = int(rng.integers(0, height - th + 1)), int(rng.integers(0, width - tw + 1))
        colour = rng.uniform(0.02, 0.9, size=3).astype(np.float32)
        if i < n_tiles:
            key = sources[int(rng.integers(len(sources)))]
            tile = _crop(spectra.photo_linear_srgb(key), rng, th, tw)
            if key in spectra.TEXTURES[split]:
                tile = tile * (colour / max(float(colour.max()), 1e-6))
            lin[y0 : y0 + th, x0 : x0 + tw] = tile
        else:
            lin[y0 : y0 + th, x0 : x0 + tw] = colour
    tint = np.exp(rng.normal(0.0, 0.1, size=3))
    m = (mats[ill] * tint[None, :]).astype(np.float32)
    radiance = cv2.transform(lin, m)  # H x W x 3 float32, per-pixel 3x3 matrix

    # ColorChecker patches with their measured spectra
    chart = spectra.reflectance_set(spectra.CHECKERS[split])
    n_patches = int(rng.integers(0, 5))
    patch_rgb = (chart * bank.spectra[ill][None, :]) @ sensor.sensitivities  # (24, 3)
    for _ in range(n_patches):
        ph = max(2, int(height * rng.uniform(0.05, 0.2)))
        pw = max(2, int(width * rng.uniform(0.04, 0.12)))
        y0, x0 = int(rng.integers(0, height - ph + 1)), int(rng.integers(0, width - pw + 1))
        radiance[y0 : y0 + ph, x0 : x0 + pw] = patch_rgb[int(rng.integers(len(chart)))]

    # shading
    shade = _smooth_field(rng, height, width)
    radiance = cv2.multiply(radiance, cv2.merge([shade, shade, shade]))
    sub = radiance[:: max(1, height // 64), :: max(1, width // 64)].max(axis=2)
    p98 = float(np.percentile(sub, 98)) + 1e-12

    # specular highlights in the illuminant's colour
    n_spec = int(rng.integers(0, 4))
    ys, xs = np.arange(height, dtype=np.float32), np.arange(width, dtype=np.float32)
    spec_rgb = (white_rgb / white_rgb.max()).astype(np.float32).reshape(3, 1)
    for _ in range(n_spec):
        sigma = rng.uniform(0.01, 0.05) * min(height, width) + 0.5
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        gy = np.exp(-0.5 * ((ys - cy) / sigma) ** 2)
        gx = np.exp(-0.5 * ((xs - cx) / sigma) ** 2)
        amp = np.float32(rng.uniform(0.5, 4.0) * p98)
        blob = np.outer(gy * amp, gx)
        cv2.add(radiance, cv2.transform(blob, spec_rgb), dst=radiance)

    # exposure
    white_level, black_level = sensor.white_level, sensor.black_level
    full_range = white_level - black_level
    full_well = (full_range * rng.uniform(0.965, 1.0, size=3)).astype(np.float32)
    k_long = rng.uniform(0.6, 2.5) * float(full_well.min()) / p98
    ratio = float(np.exp(rng.uniform(math.log(4.0), math.log(16.0))))
    peak = float(radiance.max()) + 1e-12
    k_short_max = 0.9 * float(full_well.min()) / peak
    if k_long / ratio > k_short_max:
        k_long = ratio * k_short_max
    gain = float(rng.uniform(0.3, 1.2))
    read_noise = float(rng.uniform(1.5, 5.0))
    noise_seeds = rng.integers(0, 2**31 - 1, size=2)
    flat = (height, width * 3)  # single-channel view: OpenCV scalars then apply to every value

    def expose(k: float, noise_seed: int) -> np.ndarray:
        signal = np.minimum(radiance * np.float32(k), full_well).reshape(flat)
        sd = cv2.sqrt(cv2.addWeighted(signal, gain, signal, 0.0, read_noise**2))
        z = np.empty(flat, np.float32)
        cv2.setRNGSeed(int(noise_seed))  # OpenCV's (thread-local) RNG: a fast, seeded Gaussian
        cv2.randn(z, 0.0, 1.0)  # type: ignore[call-overload]  # OpenCV scalars are not in the stubs
        noisy = cv2.add(cv2.multiply(sd, z), signal)
        # + black level, round to nearest, saturate to [0, 65535], then clip at the white level
        raw = cv2.add(noisy, float(black_level), dtype=cv2.CV_16U)  # type: ignore[call-overload]
        raw = cv2.min(raw, white_level)  # type: ignore[call-overload]
        return np.ascontiguousarray(raw.reshape(height, width, 3))

    long = expose(k_long, int(noise_seeds[0]))
    short = expose(k_long / ratio, int(noise_seeds[1]))
    gt = (white_rgb / np.linalg.norm(white_rgb)).astype(np.float32)
    meta = {
        "seed": eff,
        "split": split,
        "photo": photo_key,
        "illuminant": bank.names[ill],
        "illuminant_kind": kind,
        "cct": float(bank.cct[ill]),
        "camera": sensor.name,
        "sensor_sha256": sensor.sha256,
        "exposure_long": k_long,
        "gain": gain,
        "read_noise": read_noise,
        "full_well": [float(v) for v in full_well],
        "n_tiles": n_tiles,
        "n_flat": n_flat,
        "n_patches": n_patches,
        "n_speculars": n_spec,
    }
    for a in (long, short, gt):
        a.setflags(write=False)
    return DualExposureScene(long, short, gt, ratio, white_level, black_level, meta)


def iter_scenes(
    split: str, start_seed: int = 0, height: int = 360, width: int = 640, sensor: Sensor | str | None = None
) -> Iterator[DualExposureScene]:
    """Scenes ``start_seed, start_seed + 1, ...`` of one split, forever (for a ``synthetic://`` camera)."""
    _check(split, height, width)
    sensor = load_sensor(sensor)
    seed = start_seed
    while True:
        yield generate_scene(seed % SEEDS_PER_SPLIT, split, height, width, sensor)
        seed += 1


@lru_cache(maxsize=8)
def awb_inputs(split: str, n: int, sensor: Sensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(emlp features (n x 15), log-chroma histogram inputs (n x W), illuminants (n x 3))`` of scenes 0..n-1
    of a split at the feature size: each scene rendered once for every white-balance model (EMLP, ECCC, CCC),
    cached per process; read-only arrays."""
    from edge_sdk.awb.features import N_FEATURES, extract_features
    from edge_sdk.awb.histogram import histogram_features, histogram_width

    emlp = np.empty((n, N_FEATURES), np.float32)
    hist = np.empty((n, histogram_width()), np.float32)
    y = np.empty((n, 3), np.float32)
    for i in range(n):
        sc = generate_scene(i, split, FEATURE_HEIGHT, FEATURE_WIDTH, sensor)
        emlp[i] = extract_features(sc.long, sc.short, white_level=sc.white_level, black_level=sc.black_level)
        hist[i] = histogram_features(sc.long, sc.short, white_level=sc.white_level, black_level=sc.black_level)[0]
        y[i] = sc.illuminant
    for a in (emlp, hist, y):
        a.setflags(write=False)
    return emlp, hist, y


@lru_cache(maxsize=8)
def _feature_dataset(
    split: str, n: int, height: int, width: int, start_seed: int, sensor: Sensor
) -> tuple[np.ndarray, np.ndarray]:
    from edge_sdk.awb.features import extract_features

    if (height, width, start_seed) == (FEATURE_HEIGHT, FEATURE_WIDTH, 0):  # shared with ECCC/CCC: render once
        emlp, _, y = awb_inputs(split, n, sensor)
        return emlp, y

    xs = np.empty((n, 0), np.float32)
    rows, ys = [], np.empty((n, 3), np.float32)
    for i in range(n):
        sc = generate_scene(start_seed + i, split, height, width, sensor)
        rows.append(extract_features(sc.long, sc.short, white_level=sc.white_level, black_level=sc.black_level))
        ys[i] = sc.illuminant
    xs = np.stack(rows).astype(np.float32) if rows else xs
    xs.setflags(write=False)
    ys.setflags(write=False)
    return xs, ys


def make_feature_dataset(
    split: str,
    n: int,
    *,
    height: int = FEATURE_HEIGHT,
    width: int = FEATURE_WIDTH,
    start_seed: int = 0,
    sensor: Sensor | str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)``: EMLP features (float32 n x F, see :func:`edge_sdk.awb.features.extract_features`) and
    unit-norm illuminants (float32 n x 3) of scenes ``start_seed .. start_seed + n - 1`` of a split.

    Rendered at a small size (default 108 x 192, 3x3 pixels per AWB-grid cell); results are cached
    per process, so callers get fresh copies. ``sensor``: see :func:`generate_scene`.
    """
    _check(split, height, width)
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise DatasetError(f"dataset size n must be a positive int, got {n!r}")
    x, y = _feature_dataset(split, int(n), int(height), int(width), int(start_seed), load_sensor(sensor))
    return x.copy(), y.copy()
