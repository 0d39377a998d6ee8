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

colour-science and scikit-image/scikit-learn are host-side dependencies (``edge-sdk-tools[host]``).
Where they are installed they are the source of truth. Where they are not (the thin device install),
each function reads the copy shipped in :mod:`edge_sdk.assets` (made by ``tools/make_assets.py``):
the spectral tables are exact (float64, the same numbers), and the photographs cover the **test**
split only, stored as JPEG (quality 85, 4:4:4): scenes have the same content, crops, light and noise
draws, the pixel values differ by the JPEG error (on 16 test scenes EMLP's estimate moves by 0.4 deg
at most; tests/edge_sdk/test_assets.py measures it). Anything not shipped raises
:class:`~edge_sdk.errors.DatasetError` naming what to install.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from edge_sdk.assets import load_asset
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


@cache
def _colour() -> Any | None:
    """colour-science, or None where it is not installed (then the copy in :mod:`edge_sdk.assets` is read)."""
    try:
        import colour
    except ImportError:
        return None
    return colour


def _host_hint(what: str) -> str:
    return f"{what} needs the host install (colour-science, scikit-image, scikit-learn): {install_hint('host')}"


@cache
def _shipped_spectra() -> dict[str, np.ndarray]:
    data = load_asset("spectra")
    if not np.array_equal(data["wavelengths"], WAVELENGTHS):
        raise DatasetError("the shipped spectra are on another wavelength grid; run python tools/make_assets.py")
    return data


def _names(values: np.ndarray) -> tuple[str, ...]:
    return tuple(str(v) for v in values)


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
    colour = _colour()
    if colour is None:
        return _names(_shipped_spectra()["camera_names"])
    return tuple(colour.MSDS_CAMERA_SENSITIVITIES.keys())


@cache
def camera_sensitivities(name: str = CAMERA) -> np.ndarray:
    """(31, 3) float64 spectral sensitivities (R, G, B) of a colour-science camera, peak of the green channel = 1."""
    names = camera_names()
    if name not in names:
        raise DatasetError(f"unknown camera {name!r}; colour-science has {', '.join(names)}")
    colour = _colour()
    if colour is None:
        out = _shipped_spectra()["camera_sensitivities"][names.index(name)].copy()
    else:
        msds = colour.MSDS_CAMERA_SENSITIVITIES[name]
        out = normalise_sensitivities(msds.values, msds.wavelengths)
    out.setflags(write=False)
    return out


@lru_cache(maxsize=1)
def mallett_basis() -> np.ndarray:
    """(31, 3) float64 Mallett 2019 basis spectra; reflectance = basis @ linear_srgb."""
    colour = _colour()
    if colour is None:
        return _shipped_spectra()["mallett_basis"].copy()
    b = colour.recovery.MSDS_BASIS_FUNCTIONS_sRGB_MALLETT2019
    return _resample(b.values, b.wavelengths)


@cache
def reflectance_set(name: str) -> np.ndarray:
    """(N, 31) reflectances of one ``colour.SDS_COLOURCHECKERS`` set (e.g. ``'PMC'`` skin tones)."""
    colour = _colour()
    if colour is None:  # the thin install ships the sets the scenes use (CHECKERS)
        data = _shipped_spectra()
        shipped = _names(data["reflectance_names"])
        if name not in shipped:
            raise DatasetError(f"reflectance set {name!r} is not shipped (only {', '.join(shipped)}); "
                               + _host_hint("it"))
        return data[f"reflectance_{shipped.index(name)}"].copy()
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
    if colour is None:
        d = _shipped_spectra()
        return IlluminantBank(d["illuminant_spectra"].copy(), _names(d["illuminant_names"]),
                              _names(d["illuminant_kinds"]), d["illuminant_cct"].copy())
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


# a photo key's source -> the package that ships it on the host
HOST_PACKAGES = {"skimage": "skimage", "sklearn": "sklearn"}


def host_photo(key: str) -> np.ndarray:
    """A sample photograph as the host library ships it: uint8 RGB H x W x 3 or grey H x W.

    Raises ImportError where that library is not installed."""
    source, _, name = key.partition(":")
    if source == "skimage":
        import skimage.data as skd

        return np.asarray(skd.stereo_motorcycle()[0] if name == "motorcycle_left" else getattr(skd, name)())
    if source == "sklearn":
        # read the file scikit-learn ships directly: importing sklearn itself takes ~1 s
        import cv2

        spec = importlib.util.find_spec("sklearn")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError("sklearn", name="sklearn")
        path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "images" / name
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise DatasetError(f"photo {key!r}: cannot read {path}")
        return np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    raise DatasetError(f"unknown photo source {source!r} in {key!r}")


def _host_installed(key: str) -> bool:
    package = HOST_PACKAGES.get(key.partition(":")[0])
    try:
        return package is not None and importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):  # a package blocked or half-installed
        return False


@cache
def _shipped_photos() -> dict[str, np.ndarray]:
    data = load_asset("photos")
    return {key: data[f"photo_{i}"] for i, key in enumerate(_names(data["photo_keys"]))}


def _shipped_photo(key: str) -> np.ndarray:
    import cv2

    encoded = _shipped_photos().get(key)
    if encoded is None:
        raise DatasetError(f"photo {key!r} is not shipped (the thin install has the test split's photographs); "
                           + _host_hint("the train and val splits"))
    img = cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise DatasetError(f"the shipped photo {key!r} cannot be decoded; run python tools/make_assets.py")
    return np.asarray(img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2RGB))


def missing_photos(split: str) -> list[str]:
    """The split's photographs that this install can read neither from the host libraries nor from the
    shipped assets (empty where the host install is present, and for the test split everywhere)."""
    keys = PHOTOS[split] + TEXTURES[split]
    missing = [k for k in keys if not _host_installed(k)]
    return [k for k in missing if k not in _shipped_photos()] if missing else []


@cache
def photo_linear_srgb(key: str) -> np.ndarray:
    """A sample photograph as linear sRGB float32 H x W x 3 in [0, 1] (read-only, cached)."""
    try:
        img = host_photo(key)
    except ImportError:  # the thin install: the copy in edge_sdk.assets
        img = _shipped_photo(key)
    img = np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img[..., :3]
    out = srgb_to_linear(img)
    out.setflags(write=False)
    return out
