"""Small data shipped inside the package, so the thin device install (no colour-science, scikit-learn or
scikit-image) still has the ``synthetic://`` cameras.

Made from those host libraries by ``python tools/make_assets.py`` (deterministic; a test regenerates
them and checks the shipped files match). Where the host libraries are installed they stay the source
of truth and these files are not read. Each file is a plain ``.npz`` read with ``allow_pickle=False``:

* ``digits.npz`` -- scikit-learn's 1,797 handwritten digits as published (8 x 8, grey levels 0-16,
  uint8) and their labels: every split of digits-28, bit for bit.
* ``spectra.npz`` -- on the renderer's 400-700 nm grid (float64, exactly what
  :mod:`edge_sdk.data.spectra` computes from colour-science): the camera sensitivities, the illuminant
  bank (spectra, names, kinds, CCTs), the Mallett 2019 basis and the ColorChecker reflectance sets.
* ``photos.npz`` -- the test split's photographs and textures as JPEG (quality :data:`PHOTO_QUALITY`,
  4:4:4 chroma; decoded with OpenCV), the only approximation here: see :mod:`edge_sdk.data.spectra`.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

from edge_sdk.errors import DatasetError

ASSETS_DIR = Path(__file__).resolve().parent
NAMES = ("digits", "spectra", "photos")
PHOTO_QUALITY = 85
MAKE_COMMAND = "python tools/make_assets.py"


def asset_path(name: str) -> Path:
    if name not in NAMES:
        raise DatasetError(f"unknown shipped asset {name!r}; there are {', '.join(NAMES)}")
    return ASSETS_DIR / f"{name}.npz"


@cache
def load_asset(name: str) -> dict[str, np.ndarray]:
    """The arrays of one shipped asset (read-only, cached)."""
    path = asset_path(name)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:
        raise DatasetError(f"the shipped asset {path} is missing or unreadable ({e}); reinstall edge-sdk-tools, "
                           f"or in the source tree run {MAKE_COMMAND}") from None
    for a in arrays.values():
        a.setflags(write=False)
    return arrays
