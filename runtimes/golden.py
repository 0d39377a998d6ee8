"""Golden samples: the file a bundle carries so that the device can check itself (``edge-sdk check``).

``golden.npz`` (compressed, at most :data:`MAX_GOLDEN_BYTES`) holds N held-out samples of the export's
validation set, and the manifest's ``golden`` field names it with its sha256 (plus, for people: the
sample count, the encoding and where the samples came from). Arrays, N first, outputs in the
manifest's order:

=================  ==========================================================================
``inputs``         the model's float32 inputs, exactly, in one of three lossless forms: as they
                   are; or
``inputs_index``   uint8 indices into ``inputs_palette`` (float32, K x 256: one table of the exact
``inputs_palette`` float32 values per slice along axis ``inputs_axis``, or one table, K = 1, for
``inputs_axis``    ``inputs_axis`` = -1), when no slice holds over 256 distinct values (8-bit data,
                   e.g. images before any resize, at a quarter of the bytes); or
``inputs_planes``  uint8 N x 4 x ...: the four byte planes of each float32 (little-endian), which
                   compress 13 % better than the floats themselves (continuous values: resized
                   photos, features). The export checks that its form decodes bit for bit.
``labels``         optional: int64 class labels (N,) or float32 true illuminants (N x 3)
``reference_<i>``  output i of the PyTorch FP32 model on the inputs
``host_<i>``       output i of this bundle's artifact on the export host (ONNX Runtime, CPU),
                   one sample at a time, as :func:`runtimes.selfcheck.run_samples` runs them
=================  ==========================================================================

Reading trusts nothing in the file: it must match the manifest's sha256, be a regular file of at most
:data:`MAX_GOLDEN_BYTES`, hold only the arrays above, each of a listed dtype and of a shape that fits
the manifest's inputs and outputs, at most :data:`MAX_SAMPLES` samples and :data:`MAX_DECODED_BYTES`
in all, checked from the ``.npy`` headers before any array is allocated; ``np.load`` runs with
``allow_pickle=False``. Anything else is a :class:`GoldenError`.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from runtimes.errors import ManifestError
from runtimes.manifest import MANIFEST_NAME, Manifest, _open_regular, inside

GOLDEN_NAME = "golden.npz"
MAX_GOLDEN_BYTES = 1 << 20  # the export keeps the file within this; a reader refuses anything larger
MAX_SAMPLES = 256
MAX_DECODED_BYTES = 64 << 20  # all arrays together, once decompressed
MAX_PALETTES = 4096
_MAX_HEADER = 4096
_EXACT = ("inputs",)
_PALETTE = ("inputs_index", "inputs_palette", "inputs_axis")
_PLANES = ("inputs_planes",)


class GoldenError(ManifestError):
    """A bundle's golden samples are missing, changed after export, or malformed."""


class NoGoldenSamplesError(GoldenError):
    """The bundle carries no golden samples (exported before edge-sdk wrote them); re-export it."""


@dataclass
class Golden:
    inputs: np.ndarray  # float32, N x the model's input shape, exactly what the export validated
    labels: np.ndarray | None  # int64 class labels (N,) or float32 true illuminants (N x 3)
    reference: dict[str, np.ndarray]  # output name -> PyTorch FP32 output
    host: dict[str, np.ndarray]  # output name -> the artifact's output on the export host
    info: dict[str, Any]  # the manifest's golden field

    @property
    def samples(self) -> int:
        return int(len(self.inputs))


# -- the lossless compact form of the inputs ---------------------------------------------------------

def encode_inputs(x: np.ndarray) -> dict[str, np.ndarray]:
    """``x`` as uint8 indices into exact per-slice palettes when some axis (or none) allows it, else as its
    byte planes. The caller checks :func:`decode_inputs` gives ``x`` back bit for bit (the export does)."""
    x = np.ascontiguousarray(x, np.float32)
    for axis in (None, *range(1, x.ndim)):
        slices = [x] if axis is None else [np.take(x, k, axis=axis) for k in range(x.shape[axis])]
        tables = [np.unique(s) for s in slices]
        if max(len(t) for t in tables) > 256 or len(tables) > MAX_PALETTES \
                or x.size + 1024 * len(tables) >= x.nbytes:  # not smaller than the plain float32 array
            continue
        palette = np.zeros((len(tables), 256), np.float32)
        index = np.empty(x.shape, np.uint8)
        for k, (s, t) in enumerate(zip(slices, tables)):
            palette[k, : len(t)] = t
            where = (slice(None),) * (axis or 0) + (k,) if axis is not None else (...,)
            index[where] = np.searchsorted(t, s)
        return {"inputs_index": index, "inputs_palette": palette,
                "inputs_axis": np.array(-1 if axis is None else axis, np.int64)}
    planes = x.astype("<f4", copy=False).view(np.uint8).reshape(*x.shape, 4)
    return {"inputs_planes": np.ascontiguousarray(np.moveaxis(planes, -1, 1))}


def decode_inputs(arrays: dict[str, np.ndarray]) -> np.ndarray:
    """The float32 inputs from either form of :func:`encode_inputs`."""
    if "inputs" in arrays:
        return np.ascontiguousarray(arrays["inputs"], np.float32)
    if "inputs_planes" in arrays:
        planes = arrays["inputs_planes"]
        joined = np.ascontiguousarray(np.moveaxis(planes, 1, -1)).view("<f4")
        return joined.reshape(planes.shape[:1] + planes.shape[2:]).astype(np.float32, copy=False)
    index, palette, axis = arrays["inputs_index"], arrays["inputs_palette"], int(arrays["inputs_axis"])
    if axis < 0:
        return np.asarray(palette[0][index], np.float32)
    shape = [1] * index.ndim
    shape[axis] = palette.shape[0]
    return np.asarray(palette[np.arange(palette.shape[0]).reshape(shape), index], np.float32)


def identical(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit-for-bit equality of two float32 arrays (so -0.0 and NaN payloads count too)."""
    return a.shape == b.shape and a.dtype == b.dtype and bool(np.array_equal(a.view(np.uint32), b.view(np.uint32)))


def pack(inputs: dict[str, np.ndarray], labels: np.ndarray | None, reference: list[np.ndarray],
         host: list[np.ndarray]) -> bytes:
    """The bytes of a golden file: encoded ``inputs`` (:func:`encode_inputs`), labels, and the outputs in
    the manifest's order."""
    arrays = dict(inputs)
    if labels is not None:
        arrays["labels"] = np.ascontiguousarray(labels, np.int64 if labels.dtype.kind in "biu" else np.float32)
    for i, (r, h) in enumerate(zip(reference, host)):
        arrays[f"reference_{i}"] = np.ascontiguousarray(r, np.float32)
        arrays[f"host_{i}"] = np.ascontiguousarray(h, np.float32)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


# -- reading -------------------------------------------------------------------------------------------

def read_golden(bundle: str | os.PathLike[str], manifest: Manifest, *, max_bytes: int = MAX_GOLDEN_BYTES) -> Golden:
    """The bundle's golden samples, after every check in the module docstring."""
    bundle = Path(bundle)
    info = manifest.golden
    if info is None:
        raise NoGoldenSamplesError(
            f"{bundle} has no golden samples to check against (exported by an edge-sdk that did not store them, "
            "or one input was too large for the file's size bound); re-export it with edge-sdk export")
    name = str(info["file"])
    path = inside(bundle, name, "golden")
    if Path(name).suffix != ".npz" or path in {(bundle / MANIFEST_NAME).resolve(),
                                                inside(bundle, manifest.artifact, "artifact")}:
        raise GoldenError(f"manifest golden file {name[:100]!r} is not a .npz beside the artifact; "
                          "re-export the bundle")
    if not os.path.lexists(path):
        raise GoldenError(f"bundle {bundle} is missing its golden samples {name}; re-export the bundle")
    with _open_regular(path, "golden samples") as f:
        size = os.fstat(f.fileno()).st_size
        data = f.read(max_bytes + 1) if size <= max_bytes else b""
    if size > max_bytes or len(data) > max_bytes:
        raise GoldenError(f"{path} is {max(size, len(data))} bytes, over the {max_bytes}-byte bound for golden "
                          "samples; re-export the bundle")
    digest = hashlib.sha256(data).hexdigest()
    if digest != info["sha256"]:
        raise GoldenError(f"{path} does not match its manifest (sha256 {digest[:12]}… != {str(info['sha256'])[:12]}…): "
                          "the golden samples were changed after export; re-export the bundle")
    arrays = _load(data, path, manifest)
    labels = arrays.get("labels")
    return Golden(
        inputs=decode_inputs(arrays), labels=labels,
        reference={o.name: arrays[f"reference_{i}"] for i, o in enumerate(manifest.outputs)},
        host={o.name: arrays[f"host_{i}"] for i, o in enumerate(manifest.outputs)}, info=dict(info),
    )


def _expected(manifest: Manifest) -> dict[str, tuple[tuple[str, ...], tuple[int | str, ...] | None]]:
    """Array name -> (allowed dtypes, per-sample shape; ints must match, strings are free; None: any)."""
    if len(manifest.inputs) != 1:
        raise GoldenError(f"golden samples hold one input; the manifest lists {len(manifest.inputs)}")
    sample = tuple(manifest.inputs[0].shape[1:])
    out: dict[str, tuple[tuple[str, ...], tuple[int | str, ...] | None]] = {
        "inputs": (("<f4",), sample), "inputs_index": (("|u1",), sample), "inputs_planes": (("|u1",), (4, *sample)),
        "inputs_palette": (("<f4",), None), "inputs_axis": (("<i8",), None), "labels": (("<i8", "<f4"), None),
    }
    for i, o in enumerate(manifest.outputs):
        out[f"reference_{i}"] = out[f"host_{i}"] = (("<f4",), tuple(o.shape[1:]))
    return out


def _headers(zf: zipfile.ZipFile, path: Path) -> dict[str, tuple[tuple[int, ...], str]]:
    """Every member's declared shape and dtype, from its .npy header, before anything is decompressed beyond it."""
    found: dict[str, tuple[tuple[int, ...], str]] = {}
    for member in zf.infolist():
        key = member.filename.removesuffix(".npy")
        if not member.filename.endswith(".npy") or key in found:
            raise GoldenError(f"{path}: unexpected member {member.filename[:60]!r}; re-export the bundle")
        try:
            with zf.open(member) as f:
                version = np.lib.format.read_magic(f)
                reader = {(1, 0): np.lib.format.read_array_header_1_0,
                          (2, 0): np.lib.format.read_array_header_2_0}.get(version)
                if reader is None:
                    raise ValueError(f".npy format {version}")
                shape, fortran, dtype = reader(f, max_header_size=_MAX_HEADER)
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, NotImplementedError) as e:
            raise GoldenError(f"{path}: member {key[:60]!r} is not a plain .npy array ({str(e)[:120]}); "
                              "re-export the bundle") from None
        if fortran:
            raise GoldenError(f"{path}: array {key!r} is in Fortran order; re-export the bundle")
        found[key] = (tuple(int(d) for d in shape), dtype.str)
    return found


def _load(data: bytes, path: Path, manifest: Manifest) -> dict[str, np.ndarray]:
    expected = _expected(manifest)
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError) as e:
        raise GoldenError(f"{path} is not a .npz file ({e}); re-export the bundle") from None
    with zf:
        headers = _headers(zf, path)
    outputs = [f"{kind}_{i}" for i in range(len(manifest.outputs)) for kind in ("reference", "host")]
    forms = [k for k in (_EXACT, _PALETTE, _PLANES) if all(n in headers for n in k)]
    missing = [n for n in outputs if n not in headers]
    if len(forms) != 1 or missing:
        what = f"outputs {missing}" if missing else "one form of inputs (inputs, inputs_index + ..., inputs_planes)"
        raise GoldenError(f"{path} lacks {what}; re-export the bundle")
    unknown = sorted(set(headers) - set(expected))
    if unknown:
        raise GoldenError(f"{path} holds unexpected arrays {unknown[:5]}; re-export the bundle")
    n = _check_shapes(headers, expected, path)
    if "inputs_palette" in headers:
        _check_palette(headers, manifest, path)
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in headers}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise GoldenError(f"{path}: cannot read the arrays ({str(e)[:160]}); re-export the bundle") from None
    axis = int(arrays["inputs_axis"]) if "inputs_axis" in arrays else -1
    index_rank = len(headers["inputs_index"][0]) if "inputs_index" in headers else 0
    if "inputs_axis" in arrays and not (axis == -1 or 1 <= axis < index_rank) or \
            "inputs_palette" in arrays and arrays["inputs_palette"].shape[0] != (
                1 if axis == -1 else headers["inputs_index"][0][axis]):
        raise GoldenError(f"{path}: inputs_axis {axis} does not fit the palette; re-export the bundle")
    bad = [k for k, a in arrays.items() if a.dtype.kind == "f" and not np.isfinite(a).all()]
    if bad:
        raise GoldenError(f"{path}: {bad[0]} holds NaN or Inf; re-export the bundle")
    labels = arrays.get("labels")
    if labels is not None and (labels.ndim not in (1, 2) or labels.shape[0] != n):
        raise GoldenError(f"{path}: labels have shape {list(labels.shape)}, expected {n} labels; re-export the bundle")
    return arrays


def _check_shapes(headers: dict[str, tuple[tuple[int, ...], str]],
                  expected: dict[str, tuple[tuple[str, ...], tuple[int | str, ...] | None]], path: Path) -> int:
    """The sample count N, after each array's dtype, rank, static dims and the total size are checked."""
    counts = set()
    total = 0
    for key, (shape, dtype) in headers.items():
        dtypes, sample = expected[key]
        if dtype not in dtypes:
            raise GoldenError(f"{path}: array {key!r} has dtype {dtype}, expected {' or '.join(dtypes)}; "
                              "re-export the bundle")
        if sample is not None:
            ok = len(shape) == len(sample) + 1 and all(
                not isinstance(want, int) or want <= 0 or got == want for got, want in zip(shape[1:], sample))
            if not ok:
                raise GoldenError(f"{path}: array {key!r} has shape {list(shape)}, the manifest says "
                                  f"[N, {', '.join(map(str, sample))}]; re-export the bundle")
        if key not in ("inputs_palette", "inputs_axis"):
            counts.add(shape[0] if shape else -1)
        total += int(np.prod(shape, dtype=np.float64)) * np.dtype(dtype).itemsize
    if len(counts) != 1 or not 1 <= (n := counts.pop()) <= MAX_SAMPLES:
        raise GoldenError(f"{path}: arrays hold different or unusable sample counts (1 to {MAX_SAMPLES} expected); "
                          "re-export the bundle")
    if total > MAX_DECODED_BYTES:
        raise GoldenError(f"{path}: its arrays declare {total} bytes, over the {MAX_DECODED_BYTES}-byte bound; "
                          "re-export the bundle")
    return n


def _check_palette(headers: dict[str, tuple[tuple[int, ...], str]], manifest: Manifest, path: Path) -> None:
    shape = headers["inputs_palette"][0]
    if len(shape) != 2 or shape[1] != 256 or not 1 <= shape[0] <= MAX_PALETTES or headers["inputs_axis"][0] != ():
        raise GoldenError(f"{path}: inputs_palette {list(shape)} / inputs_axis are malformed; re-export the bundle")
