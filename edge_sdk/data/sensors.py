"""A camera sensor as white balance sees it: spectral sensitivities and raw levels.

A sensor is given by a colour-science camera name (``"Nikon 5100 (NPL)"``, ``"Sigma SDMerill (NPL)"``;
see :func:`edge_sdk.data.spectra.camera_names`) or by a CSV file of measured curves (the format sensor
vendors and monochromator measurements give; the ``#`` lines are optional: name, black_level,
white_level, bit_depth)::

    # name=my-imx-sensor
    # black_level=64
    # white_level=4095
    wavelength_nm,r,g,b
    400,0.012,0.020,0.110
    405,0.015,0.024,0.152
    ...

Any wavelength grid is accepted (increasing, covering at least 420-680 nm; edge values are held out to
400-700 nm); the curves are resampled linearly onto :data:`edge_sdk.data.spectra.WAVELENGTHS`,
negatives are clipped to 0 and the green peak is scaled to 1. Levels default to 12-bit raw with a
black level of 64 DN (the synthetic generator's sensor). The sensor's identity is its name plus the
SHA-256 of the resampled curves (:attr:`Sensor.sha256`); both go into the weights file's metadata and
the exported manifest (``preprocessing["sensor"]``), and :class:`edge_sdk.pipelines.WhiteBalance` reads
the levels from there.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_sdk.errors import DatasetError

DEFAULT_SENSOR = "Nikon 5100 (NPL)"
DEFAULT_BLACK_LEVEL = 64
DEFAULT_BIT_DEPTH = 12
CSV_HEADER = ("wavelength_nm", "r", "g", "b")
MAX_CSV_BYTES = 1 << 20
MAX_CSV_ROWS = 10_000
COVERAGE_NM = (420.0, 680.0)  # the measured range must reach this far (edge values are held beyond)
METADATA_KEY = "sensor"  # the safetensors metadata key holding the JSON of Sensor.describe()
_LEVEL_KEYS = ("black_level", "white_level", "bit_depth")


@dataclass(frozen=True, eq=False)
class Sensor:
    """Spectral sensitivities (31 x 3 on ``spectra.WAVELENGTHS``, green peak 1) and raw levels.

    Equal (and hashable) by name, curves and levels, so it can key caches."""

    name: str
    sensitivities: np.ndarray
    black_level: int = DEFAULT_BLACK_LEVEL
    white_level: int = 2**DEFAULT_BIT_DEPTH - 1
    bit_depth: int = DEFAULT_BIT_DEPTH
    source: str = "colour-science"

    @property
    def sha256(self) -> str:
        """SHA-256 of the resampled curves (float64, little-endian, row-major)."""
        return hashlib.sha256(np.ascontiguousarray(self.sensitivities, "<f8").tobytes()).hexdigest()

    def _key(self) -> tuple[Any, ...]:
        return (self.name, self.sha256, self.black_level, self.white_level, self.bit_depth)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sensor) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def describe(self) -> dict[str, Any]:
        """What the weights metadata and the manifest record (JSON types only)."""
        return {"name": self.name, "sha256": self.sha256, "black_level": self.black_level,
                "white_level": self.white_level, "bit_depth": self.bit_depth}

    def metadata(self) -> dict[str, str]:
        """Safetensors metadata entries (strings only) naming this sensor."""
        return {METADATA_KEY: json.dumps(self.describe(), sort_keys=True)}


def _check_levels(black: int, white: int, bits: int, where: str) -> None:
    if not 1 <= bits <= 16:
        raise DatasetError(f"{where}: bit_depth must be in [1, 16], got {bits}")
    if not 0 <= black < white <= 2**bits - 1:
        raise DatasetError(
            f"{where}: levels must satisfy 0 <= black_level < white_level <= 2**bit_depth - 1 "
            f"({2**bits - 1}), got black_level={black}, white_level={white}"
        )


def _levels(where: str, black_level: int | None, white_level: int | None, bit_depth: int | None,
            defaults: dict[str, int]) -> tuple[int, int, int]:
    bits = int(bit_depth if bit_depth is not None else defaults.get("bit_depth", DEFAULT_BIT_DEPTH))
    black = int(black_level if black_level is not None else defaults.get("black_level", DEFAULT_BLACK_LEVEL))
    white = int(white_level if white_level is not None else defaults.get("white_level", 2**bits - 1))
    _check_levels(black, white, bits, where)
    return black, white, bits


def _read_csv(path: Path) -> tuple[str, np.ndarray, np.ndarray, dict[str, int]]:
    """(name, wavelengths, values (n x 3), levels) from a curves CSV; every problem is a DatasetError."""
    try:
        size = path.stat().st_size
        if size > MAX_CSV_BYTES:
            raise DatasetError(f"{path}: {size} bytes; a sensor curves CSV is at most {MAX_CSV_BYTES} bytes")
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"{path}: cannot read the sensor curves CSV: {e}") from None
    name, header = path.stem, None
    levels: dict[str, int] = {}
    rows: list[list[float]] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            key, sep, value = line[1:].partition("=")
            key, value = key.strip().lower(), value.strip()
            if sep and key == "name" and value:
                name = value[:200]
            elif sep and key in _LEVEL_KEYS:
                try:
                    levels[key] = int(value)
                except ValueError:
                    raise DatasetError(f"{path}:{lineno}: {key} must be an integer, got {value!r}") from None
            continue
        cells = [c.strip() for c in line.split(",")]
        if header is None:
            header = tuple(c.lower() for c in cells)
            if header != CSV_HEADER:
                raise DatasetError(f"{path}:{lineno}: expected the header {','.join(CSV_HEADER)}, got {line[:80]!r}")
            continue
        if len(rows) >= MAX_CSV_ROWS:
            raise DatasetError(f"{path}: more than {MAX_CSV_ROWS} rows of curves")
        try:
            row = [float(c) for c in cells]
        except ValueError:
            msg = f"{path}:{lineno}: expected 4 numbers (wavelength_nm,r,g,b), got {line[:80]!r}"
            raise DatasetError(msg) from None
        if len(row) != 4 or not all(np.isfinite(row)):
            raise DatasetError(f"{path}:{lineno}: expected 4 finite numbers (wavelength_nm,r,g,b), got {line[:80]!r}")
        rows.append(row)
    if header is None or len(rows) < 2:
        raise DatasetError(f"{path}: expected a header {','.join(CSV_HEADER)} and at least 2 rows of curves")
    data = np.asarray(rows, np.float64)
    wl, values = data[:, 0], data[:, 1:]
    if np.any(np.diff(wl) <= 0):
        raise DatasetError(f"{path}: wavelength_nm must increase strictly from row to row")
    if wl[0] > COVERAGE_NM[0] or wl[-1] < COVERAGE_NM[1]:
        raise DatasetError(
            f"{path}: the curves cover {wl[0]:g}-{wl[-1]:g} nm; they must cover at least "
            f"{COVERAGE_NM[0]:g}-{COVERAGE_NM[1]:g} nm (white balance integrates over 400-700 nm)"
        )
    if np.any(values.max(axis=0) <= 0):
        raise DatasetError(f"{path}: every channel (r, g, b) needs some positive sensitivity")
    return name, wl, values, levels


def load_sensor(
    spec: str | os.PathLike[str] | Sensor | None = None,
    *,
    black_level: int | None = None,
    white_level: int | None = None,
    bit_depth: int | None = None,
) -> Sensor:
    """A :class:`Sensor` from a colour-science camera name, a curves CSV path, or ``None`` (the default,
    Nikon D5100 at 12 bits, black level 64). Keyword levels override the CSV's ``#`` lines and the defaults."""
    from edge_sdk.data import spectra

    if isinstance(spec, Sensor):
        if black_level is None and white_level is None and bit_depth is None:
            return spec
        defaults = {"black_level": spec.black_level, "white_level": spec.white_level, "bit_depth": spec.bit_depth}
        lv = _levels(spec.name, black_level, white_level, bit_depth, defaults)
        return Sensor(spec.name, spec.sensitivities, *lv, source=spec.source)
    text = DEFAULT_SENSOR if spec is None else os.fspath(spec)
    names = spectra.camera_names()
    by_lower = {n.lower(): n for n in names}
    if text.lower() in by_lower:
        name = by_lower[text.lower()]
        curves = spectra.camera_sensitivities(name)
        return Sensor(name, curves, *_levels(name, black_level, white_level, bit_depth, {}), source="colour-science")
    path = Path(text).expanduser()
    if not path.is_file():
        raise DatasetError(
            f"unknown sensor {text!r}: give a colour-science camera ({', '.join(repr(n) for n in names)}) "
            f"or a CSV file with the header {','.join(CSV_HEADER)}"
        )
    name, wl, values, file_levels = _read_csv(path)
    curves = spectra.normalise_sensitivities(values, wl)
    curves.setflags(write=False)
    lv = _levels(str(path), black_level, white_level, bit_depth, file_levels)
    return Sensor(name, curves, *lv, source=str(path))


def write_csv(sensor: Sensor, path: str | os.PathLike[str]) -> Path:
    """Write a sensor's resampled curves and levels in the CSV format :func:`load_sensor` reads."""
    from edge_sdk._io import atomic_write_text
    from edge_sdk.data.spectra import WAVELENGTHS

    lines = [f"# name={sensor.name}", *(f"# {k}={getattr(sensor, k)}" for k in _LEVEL_KEYS), ",".join(CSV_HEADER)]
    lines += [f"{w:g},{r!r},{g!r},{b!r}" for w, (r, g, b) in zip(WAVELENGTHS, sensor.sensitivities.tolist())]
    atomic_write_text(path, "\n".join(lines) + "\n")
    return Path(path)


def describe_entry(entry: Any, where: str) -> dict[str, Any]:
    """Check a recorded sensor entry (from weights metadata or a manifest): name, sha256 and sane levels."""
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise DatasetError(f"{where}: the sensor entry must be an object with a name, got {entry!r:.80}")
    out: dict[str, Any] = {"name": entry["name"][:200], "sha256": str(entry.get("sha256", ""))[:64]}
    try:
        lv = {k: int(entry[k]) for k in _LEVEL_KEYS}
    except (KeyError, TypeError, ValueError):
        raise DatasetError(f"{where}: the sensor entry needs integer {', '.join(_LEVEL_KEYS)}") from None
    _check_levels(lv["black_level"], lv["white_level"], lv["bit_depth"], where)
    return {**out, **lv}


def sensor_of_weights(path: str | os.PathLike[str] | None) -> dict[str, Any]:
    """The sensor a white-balance weights file was trained for (its safetensors metadata), or the default
    sensor's entry when the file records none (the shipped recipe's sensor)."""
    if path is not None and Path(path).suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), "numpy") as f:
                meta = f.metadata() or {}
        except Exception as e:  # noqa: BLE001 - safetensors raises several types for unreadable files
            raise DatasetError(f"{path}: cannot read the weights metadata: {e}") from None
        if METADATA_KEY in meta:
            try:
                entry = json.loads(meta[METADATA_KEY])
            except ValueError:
                raise DatasetError(f"{path}: the sensor metadata is not JSON") from None
            return describe_entry(entry, str(path))
    return load_sensor(None).describe()
