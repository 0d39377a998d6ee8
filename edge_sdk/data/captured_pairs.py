"""Captured dual-exposure pairs with a measured illuminant: the ``edge-sdk train emlp --data DIR`` layout.

AWB datasets are made by photographing each scene with a grey card or colour chart in it and reading the
illuminant's raw colour off the card. For EMLP, each scene is a long/short exposure pair::

    DIR/
      pairs.csv            one row per pair (header required; '#' lines: optional sensor levels)
      frames/0001_long.png 16-bit PNG/TIFF (H x W x 3 colour, or H x W Bayer) or .npy (uint16/uint8/float32)
      frames/0001_short.png
      ...

``pairs.csv``::

    # name=my-sensor        (optional: the sensor's name and levels; default: --sensor's, else 12-bit, black 64)
    # black_level=64
    # white_level=4095
    long,short,r,g,b[,pattern][,split]
    frames/0001_long.png,frames/0001_short.png,0.31,0.62,0.72,RGGB,train

* ``long``, ``short``: paths relative to DIR (they must stay inside DIR), same shape and dtype.
  3-channel PNG/TIFF files are read as OpenCV stores them (BGR) and turned to RGB; ``.npy`` arrays are
  taken as RGB. Frames hold linear raw values (no gamma, no white balance).
* ``r, g, b``: the illuminant's raw colour (e.g. the grey card's black-subtracted mean), any scale.
* ``pattern`` (optional): the CFA layout of 2-D Bayer frames (RGGB, BGGR, GRBG, GBRG); empty for H x W x 3.
* ``split`` (optional): ``train`` or ``val``; without it the last 10 % of the rows validate.

Every problem (missing column, unreadable frame, a path outside DIR, a pair the feature extractor refuses)
raises :class:`~edge_sdk.errors.DatasetError` naming the row. ``.npy`` files are read without pickle.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_sdk.data.sensors import DEFAULT_BIT_DEPTH, DEFAULT_BLACK_LEVEL, describe_entry
from edge_sdk.errors import DatasetError, EdgeSDKError

PAIRS_CSV = "pairs.csv"
REQUIRED = ("long", "short", "r", "g", "b")
OPTIONAL = ("pattern", "split")
MAX_CSV_BYTES = 16 << 20
MAX_PAIRS = 100_000
MAX_FRAME_BYTES = 1 << 30
MAX_PIXELS = 64 * 2**20  # per frame (a 64-megapixel sensor)
SUFFIXES = (".png", ".tif", ".tiff", ".npy")
LEVEL_KEYS = ("black_level", "white_level", "bit_depth")


@dataclass
class CapturedPairs:
    x: np.ndarray  # float32 n x 15 EMLP features
    y: np.ndarray  # float32 n x 3 unit-norm illuminants
    is_val: np.ndarray  # bool (n,)
    sensor: dict[str, Any]  # name, sha256 ('' without curves), levels


def _read_npy(path: Path) -> np.ndarray:
    """A plain numeric .npy array: memory-mapped first (no pickle, nothing allocated), sized, then read."""
    try:
        mapped = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise DatasetError(f"{path}: not a plain numeric .npy array: {e}") from None
    if not isinstance(mapped, np.ndarray) or mapped.size > 3 * MAX_PIXELS:
        raise DatasetError(f"{path}: expected one frame of at most {MAX_PIXELS} pixels")
    return np.array(mapped)


def read_frame(path: Path) -> np.ndarray:
    """One raw frame: H x W x 3 RGB or H x W (Bayer), uint16 / uint8 / float32."""
    import cv2

    if path.suffix.lower() not in SUFFIXES:
        raise DatasetError(f"{path}: frames must be {', '.join(SUFFIXES)} files")
    try:
        size = path.stat().st_size
    except OSError as e:
        raise DatasetError(f"{path}: cannot read the frame: {e}") from None
    if size > MAX_FRAME_BYTES:
        raise DatasetError(f"{path}: {size} bytes; a frame file is at most {MAX_FRAME_BYTES} bytes")
    img: np.ndarray
    if path.suffix.lower() == ".npy":
        img = _read_npy(path)
    else:
        decoded = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if decoded is None:
            raise DatasetError(f"{path}: OpenCV cannot decode this image")
        img = decoded
        if img.ndim == 3 and img.shape[2] == 3:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] != 3):
        raise DatasetError(f"{path}: expected H x W x 3 or H x W (Bayer) frames, got shape {img.shape}")
    if img.shape[0] * img.shape[1] > MAX_PIXELS:
        raise DatasetError(f"{path}: {img.shape[1]} x {img.shape[0]} is more than {MAX_PIXELS} pixels")
    if img.dtype not in (np.uint16, np.uint8, np.float32):
        raise DatasetError(f"{path}: expected uint16 (or uint8/float32) raw values, got {img.dtype}")
    return np.ascontiguousarray(img)


def _inside(root: Path, text: str, where: str) -> Path:
    if not text:
        raise DatasetError(f"{where}: empty frame path")
    path = (root / text).resolve()
    if not path.is_relative_to(root):
        raise DatasetError(f"{where}: {text!r} points outside {root}; frame paths are relative to the data folder")
    return path


def _header_and_rows(csv_path: Path) -> tuple[dict[str, int], list[list[str]], dict[str, str]]:
    try:
        size = csv_path.stat().st_size
        if size > MAX_CSV_BYTES:
            raise DatasetError(f"{csv_path}: {size} bytes; {PAIRS_CSV} is at most {MAX_CSV_BYTES} bytes")
        text = csv_path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DatasetError(
            f"{csv_path.parent}: no {PAIRS_CSV}; a captured-pairs folder holds {PAIRS_CSV} with the columns "
            f"{','.join(REQUIRED)} (see: edge-sdk train --help)"
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"{csv_path}: cannot read: {e}") from None
    notes: dict[str, str] = {}
    body = []
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            key, sep, value = line.lstrip()[1:].partition("=")
            if sep:
                notes[key.strip().lower()] = value.strip()
        elif line.strip():
            body.append(line)
    rows = list(csv.reader(io.StringIO("\n".join(body))))
    if not rows:
        raise DatasetError(f"{csv_path}: empty; expected the header {','.join(REQUIRED)}")
    header = [c.strip().lower() for c in rows[0]]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise DatasetError(f"{csv_path}: missing column(s) {', '.join(missing)}; the header must name "
                           f"{','.join(REQUIRED)} (optional: {','.join(OPTIONAL)})")
    if len(rows) - 1 > MAX_PAIRS:
        raise DatasetError(f"{csv_path}: more than {MAX_PAIRS} pairs")
    return {c: header.index(c) for c in (*REQUIRED, *OPTIONAL) if c in header}, rows[1:], notes


def _sensor(notes: dict[str, str], base: dict[str, Any] | None, where: str) -> dict[str, Any]:
    entry = dict(base) if base else {"name": "captured", "sha256": "", "black_level": DEFAULT_BLACK_LEVEL,
                                     "white_level": 2**DEFAULT_BIT_DEPTH - 1, "bit_depth": DEFAULT_BIT_DEPTH}
    if "name" in notes and notes["name"]:
        entry["name"] = notes["name"][:200]
    for k in LEVEL_KEYS:
        if k in notes:
            try:
                entry[k] = int(notes[k])
            except ValueError:
                raise DatasetError(f"{where}: '# {k}=' must be an integer, got {notes[k]!r}") from None
    if "bit_depth" in notes and "white_level" not in notes:
        entry["white_level"] = 2 ** entry["bit_depth"] - 1
    return describe_entry(entry, where)


def load_captured_pairs(data_dir: str | Path, sensor: dict[str, Any] | None = None) -> CapturedPairs:
    """Features and illuminants of every pair listed in ``DIR/pairs.csv`` (see the module doc).

    ``sensor``: a :meth:`~edge_sdk.data.sensors.Sensor.describe` entry whose name and levels apply unless
    ``pairs.csv`` gives its own ``#`` lines."""
    from edge_sdk.awb.features import extract_features

    root = Path(data_dir).expanduser().resolve()
    if not root.is_dir():
        raise DatasetError(f"{data_dir}: not a directory; --data DIR is a folder with {PAIRS_CSV} and the frames")
    csv_path = root / PAIRS_CSV
    cols, rows, notes = _header_and_rows(csv_path)
    entry = _sensor(notes, sensor, str(csv_path))
    levels = {"white_level": entry["white_level"], "black_level": entry["black_level"]}
    xs, ys, val = [], [], []
    for i, row in enumerate(rows, 2):
        where = f"{csv_path}:{i}"
        if len(row) < len(cols) or not any(c.strip() for c in row):
            raise DatasetError(f"{where}: expected {len(cols)} columns, got {len(row)}")
        cell = {k: row[j].strip() for k, j in cols.items()}
        try:
            ill = np.array([float(cell[c]) for c in "rgb"], np.float64)
        except ValueError:
            raise DatasetError(f"{where}: r, g, b must be numbers, got {cell['r']!r}, {cell['g']!r}, {cell['b']!r}") \
                from None
        if not np.isfinite(ill).all() or (ill <= 0).any():
            raise DatasetError(f"{where}: the illuminant r, g, b must be finite and positive, got {ill.tolist()}")
        split = cell.get("split", "").lower()
        if split not in ("", "train", "val"):
            raise DatasetError(f"{where}: split must be train or val, got {split!r}")
        long = read_frame(_inside(root, cell["long"], where))
        short = read_frame(_inside(root, cell["short"], where))
        pattern = cell.get("pattern") or None
        try:
            xs.append(extract_features(long, short, pattern=pattern, **levels))
        except EdgeSDKError as e:
            raise DatasetError(f"{where}: {e}") from None
        ys.append(ill / np.linalg.norm(ill))
        val.append(split)
    if len(xs) < 2:
        raise DatasetError(f"{csv_path}: at least 2 pairs are needed (one to train, one to validate), got {len(xs)}")
    is_val = np.array([s == "val" for s in val])
    if not any(val):  # no split column values: the last 10 % validate
        is_val[len(xs) - max(1, len(xs) // 10):] = True
    if is_val.all() or not is_val.any():
        raise DatasetError(f"{csv_path}: needs both train and val pairs (split column), got only "
                           f"{'val' if is_val.all() else 'train'}")
    return CapturedPairs(np.stack(xs).astype(np.float32), np.stack(ys).astype(np.float32), is_val, entry)
