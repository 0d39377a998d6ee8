"""Make the data shipped in edge_sdk/assets/ from the host libraries (deterministic).

    python tools/make_assets.py              # rewrite edge_sdk/assets/*.npz
    python tools/make_assets.py --out DIR    # write elsewhere (the test compares with the shipped files)

Needs the host install (colour-science, scikit-learn, scikit-image). The thin device install reads these
files where those libraries are missing (see edge_sdk/assets/__init__.py): the digits and the spectral
tables exactly as the host computes them, and the test split's photographs as JPEG. The files are
plain .npz (no pickles), zip entries in sorted order with a fixed timestamp, so the same libraries give
the same bytes.
"""

from __future__ import annotations

import argparse
import io
import sys
import zipfile
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edge_sdk.assets import ASSETS_DIR, NAMES, PHOTO_QUALITY  # noqa: E402
from edge_sdk.data import digits, spectra  # noqa: E402
from runtimes.atomic import atomic_write_bytes  # noqa: E402

PHOTO_SPLIT = "test"  # the split the thin install's synthetic://dual-exposure can render (its default)
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
JPEG_PARAMS = [cv2.IMWRITE_JPEG_QUALITY, PHOTO_QUALITY,  # 4:4:4: no chroma subsampling (colour matters here)
               cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]


def _require_host() -> None:
    for module in ("colour", "sklearn", "skimage"):
        __import__(module)  # ImportError here: this tool needs the host install
    assert spectra._colour() is not None


def digits_arrays() -> dict[str, np.ndarray]:
    images, labels = digits.host_digits()
    return {"images": images, "labels": labels}


def spectra_arrays() -> dict[str, np.ndarray]:
    names = spectra.camera_names()
    bank = spectra.illuminant_bank()
    checkers = sorted(set(spectra.CHECKERS.values()))
    return {
        "wavelengths": spectra.WAVELENGTHS,
        "camera_names": np.array(names),
        "camera_sensitivities": np.stack([spectra.camera_sensitivities(n) for n in names]),
        "mallett_basis": spectra.mallett_basis(),
        "illuminant_spectra": bank.spectra,
        "illuminant_names": np.array(bank.names),
        "illuminant_kinds": np.array(bank.kinds),
        "illuminant_cct": bank.cct,
        "reflectance_names": np.array(checkers),
        **{f"reflectance_{i}": spectra.reflectance_set(n) for i, n in enumerate(checkers)},
    }


def photos_arrays() -> dict[str, np.ndarray]:
    keys = spectra.PHOTOS[PHOTO_SPLIT] + spectra.TEXTURES[PHOTO_SPLIT]
    out: dict[str, np.ndarray] = {"photo_keys": np.array(keys)}
    for i, key in enumerate(keys):
        img = spectra.host_photo(key)
        bgr = img if img.ndim == 2 else cv2.cvtColor(img[..., :3], cv2.COLOR_RGB2BGR)
        ok, encoded = cv2.imencode(".jpg", bgr, JPEG_PARAMS)
        if not ok:
            raise RuntimeError(f"OpenCV could not encode {key}")
        out[f"photo_{i}"] = encoded.reshape(-1)
    return out


BUILDERS = {"digits": digits_arrays, "spectra": spectra_arrays, "photos": photos_arrays}
assert tuple(BUILDERS) == NAMES


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An .npz that np.load reads with allow_pickle=False, byte-identical for identical arrays."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for key in sorted(arrays):
            array = np.ascontiguousarray(arrays[key])
            if array.dtype.hasobject:
                raise TypeError(f"{key}: object arrays would need pickle")
            entry = io.BytesIO()
            np.lib.format.write_array(entry, array, allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=ZIP_TIME)
            info.external_attr = 0o644 << 16
            zf.writestr(info, entry.getvalue(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    return buf.getvalue()


def build_all() -> dict[str, dict[str, np.ndarray]]:
    _require_host()
    return {name: build() for name, build in BUILDERS.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=ASSETS_DIR, help=f"output directory (default {ASSETS_DIR})")
    args = p.parse_args(argv)
    total = 0
    for name, arrays in build_all().items():
        data = npz_bytes(arrays)
        atomic_write_bytes(args.out / f"{name}.npz", data)
        total += len(data)
        print(f"{args.out / f'{name}.npz'}: {len(data) / 1024:.1f} KiB, {len(arrays)} arrays")
    print(f"total {total / 1024:.1f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
