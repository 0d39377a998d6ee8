"""Spectral data behind the synthetic dual-exposure generator, loaded once from colour-science.

Everything is resampled to one wavelength grid, :data:`WAVELENGTHS` (400-700 nm in 10 nm steps,
31 samples: every dataset used here covers it), and cached as plain numpy arrays, so the generator
itself never calls colour-science per scene.

* Camera: ``colour.MSDS_CAMERA_SENSITIVITIES['Nikon 5100 (NPL)']`` (31 x 3, R G B) by default; any
  other sensor's curves through :mod:`edge_sdk.data.sensors` (a colour-science name or a CSV file).
* Illuminants (:func:`illuminant_bank`): CIE D series 4000-10000 K in 100 K steps, Planckian
  (blackbody) 2500-10000 K in 100 K steps, fluorescent FL1-FL12 and FL3.1-FL3.15, LED-B1..B5,
  LED-BH1, LED-RGB1, LED-V1, LED-V2. Each spectrum is normalised to a unit maximum.
* Reflectances: the Mallett & Yuksel (2019) sRGB basis (31 x 3; a pixel's *linear* sRGB values are
  the coefficients of the three basis spectra, and (1, 1, 1) gives a flat 100 % reflector), the
  ColorChecker sets and the PMC skin set of ``colour.SDS_COLOURCHECKERS``.
* Photographs (:func:`photo_linear_srgb`): scikit-image and scikit-learn sample photos shipped with
  the packages (no download), decoded from sRGB to linear sRGB float32. Colour photos
  (:data:`PHOTOS`) and grayscale ones used as textures (:data:`TEXTURES`) are assigned to the
  train/val/test splits disjointly.

colour-science and scikit-image/scikit-learn are host-side dependencies (``edge-sdk[host]``); a
missing one raises :class:`~edge_sdk.errors.DatasetError` naming what to install.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from edge_sdk.errors import DatasetError, install_hint

WAVELENGTHS = np.arange(400.0, 701.0, 10.0)
CAMERA = "Nikon 5100 (NPL)"

# The photographs each split draws from. Disjoint by construction (checked at import below):
# train, val and test never share scene content. stereo_motorcycle's two views are one scene and
# only its left view is used, in one split.
PHOTOS: dict[str, tuple[str, ...]] = {
    "train": (
        "skimage:astronaut", "skimage:coffee", "skimage:rocket", "sklearn:china.jpg",
        "skimage:immunohistochemistry", "skimage:colorwheel", "skimage:hubble_deep_field",
    ),
    "val": ("skimage:chelsea", "skimage:retina"),
    "test": ("skimage:motorcycle_left", "sklearn:flower.jpg"),
}
# Grayscale photographs used as textures (tinted by a random reflectance colour per use), also disjoint.
TEXTURES: dict[str, tuple[str, ...]] = {
    "train": ("skimage:camera", "skimage:brick", "skimage:grass", "skimage:moon", "skimage:page"),
    "val": ("skimage:gravel", "skimage:text"),
    "test": ("skimage:coins", "skimage:clock"),
}
# ColorChecker measurements pasted into scenes, one per split (the same physical chart measured by
# different labs, as in real AWB datasets where a chart sits in every scene), plus skin tones.
CHECKERS: dict[str, str] = {"train": "BabelColor Average", "val": "ColorChecker N Ohta", "test": "ISO 17321-1"}

_all_photos = [p for d in (PHOTOS, TEXTURES) for ps in d.values() for p in ps]
assert len(_all_photos) == len(set(_all_photos)), "photo splits overlap"


def _colour() -> Any:
    try:
        import colour
    except ImportError as e:  # pragma: no cover - host extra
        raise DatasetError("the synthetic dual-exposure data needs colour-science: " + install_hint("host")) from e
    return colour


def _resample(values: np.ndarray, wavelengths: np.ndarray) -> np.ndarray:
    """Linear interpolation onto :data:`WAVELENGTHS` (edge values held beyond the measured range)."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        return np.interp(WAVELENGTHS, wavelengths, values)
    return np.stack([np.interp(WAVELENGTHS, wavelengths, values[:, i]) for i in range(values.shape[1])], axis=1)


def normalise_sensitivities(values: np.ndarray, wavelengths: np.ndarray) -> np.ndarray:
    """(31, 3) float64: curves resampled onto :data:`WAVELENGTHS`, negatives clipped, green peak = 1."""
    s = _resample(values, wavelengths)
    s = np.clip(s, 0.0, None)
    return s / s[:, 1].max()


def camera_names() -> tuple[str, ...]:
    """The camera sensitivity sets colour-science ships (``colour.MSDS_CAMERA_SENSITIVITIES``)."""
    return tuple(_colour().MSDS_CAMERA_SENSITIVITIES.keys())


@cache
def camera_sensitivities(name: str = CAMERA) -> np.ndarray:
    """(31, 3) float64 spectral sensitivities (R, G, B) of a colour-science camera, peak of the green channel = 1."""
    colour = _colour()
    if name not in colour.MSDS_CAMERA_SENSITIVITIES:
        raise DatasetError(f"unknown camera {name!r}; colour-science has {', '.join(camera_names())}")
    msds = colour.MSDS_CAMERA_SENSITIVITIES[name]
    out = normalise_sensitivities(msds.values, msds.wavelengths)
    out.setflags(write=False)
    return out


@lru_cache(maxsize=1)
def mallett_basis() -> np.ndarray:
    """(31, 3) float64 Mallett 2019 basis spectra; reflectance = basis @ linear_srgb."""
    colour = _colour()
    b = colour.recovery.MSDS_BASIS_FUNCTIONS_sRGB_MALLETT2019
    return _resample(b.values, b.wavelengths)


@cache
def reflectance_set(name: str) -> np.ndarray:
    """(N, 31) reflectances of one ``colour.SDS_COLOURCHECKERS`` set (e.g. ``'PMC'`` skin tones)."""
    colour = _colour()
    if name not in colour.SDS_COLOURCHECKERS:
        raise DatasetError(f"unknown reflectance set {name!r}")
    sds = colour.SDS_COLOURCHECKERS[name]
    return np.stack([_resample(sd.values, sd.wavelengths) for sd in sds.values()])


@dataclass(frozen=True)
class IlluminantBank:
    spectra: np.ndarray  # (N, 31), unit maximum
    names: tuple[str, ...]
    kinds: tuple[str, ...]  # "daylight" | "planckian" | "fluorescent" | "led"
    cct: np.ndarray  # (N,) nominal CCT in kelvin, nan for FL/LED


@lru_cache(maxsize=1)
def illuminant_bank() -> IlluminantBank:
    colour = _colour()
    spectra, names, kinds, ccts = [], [], [], []

    def add(values: np.ndarray, wl: np.ndarray, name: str, kind: str, cct: float) -> None:
        v = np.clip(_resample(values, wl), 0.0, None)
        spectra.append(v / v.max())
        names.append(name)
        kinds.append(kind)
        ccts.append(cct)

    shape = colour.SpectralShape(380, 780, 5)
    for t in range(4000, 10001, 100):
        xy = colour.temperature.CCT_to_xy_CIE_D(t * 1.4388 / 1.4380)
        sd = colour.sd_CIE_illuminant_D_series(xy)
        add(sd.values, sd.wavelengths, f"D{t}K", "daylight", float(t))
    for t in range(2500, 10001, 100):
        sd = colour.sd_blackbody(t, shape)
        add(sd.values, sd.wavelengths, f"P{t}K", "planckian", float(t))
    for name, sd in colour.SDS_ILLUMINANTS.items():
        if name.startswith("FL"):
            add(sd.values, sd.wavelengths, name, "fluorescent", float("nan"))
        elif name.startswith("LED-"):
            add(sd.values, sd.wavelengths, name, "led", float("nan"))
    return IlluminantBank(np.stack(spectra), tuple(names), tuple(kinds), np.asarray(ccts))


def srgb_to_linear(img_u8: np.ndarray) -> np.ndarray:
    x = img_u8.astype(np.float32) / 255.0
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


@cache
def photo_linear_srgb(key: str) -> np.ndarray:
    """A sample photograph as linear sRGB float32 H x W x 3 in [0, 1] (read-only, cached)."""
    source, _, name = key.partition(":")
    try:
        if source == "skimage":
            import skimage.data as skd

            img = skd.stereo_motorcycle()[0] if name == "motorcycle_left" else getattr(skd, name)()
        elif source == "sklearn":
            # read the file scikit-learn ships directly: importing sklearn itself takes ~1 s
            import importlib.util

            import cv2

            spec = importlib.util.find_spec("sklearn")
            if spec is None or not spec.submodule_search_locations:
                raise ImportError("sklearn")
            path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "images" / name
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if bgr is None:
                raise DatasetError(f"photo {key!r}: cannot read {path}")
            img = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        else:
            raise DatasetError(f"unknown photo source {source!r} in {key!r}")
    except ImportError as e:  # pragma: no cover - host extra
        raise DatasetError(f"photo {key!r} needs scikit-image and scikit-learn: " + install_hint("host")) from e
    img = np.asarray(img)
    img = np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img[..., :3]
    out = srgb_to_linear(img)
    out.setflags(write=False)
    return out
