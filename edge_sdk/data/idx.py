"""IDX files, the format of MNIST and Fashion-MNIST, raw or gzip-compressed. No pickle anywhere.

An IDX file is a 4-byte magic number ``0x00 0x00 <dtype code> <ndim>``, then ``ndim`` big-endian
uint32 sizes, then the values in C order, big-endian. Everything is checked against the header, and
every problem is a :class:`~edge_sdk.errors.DatasetError` that names the file.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from edge_sdk.errors import DatasetError

__all__ = ["IDX_DTYPES", "find_mnist_files", "load_mnist_dir", "read_idx", "write_idx"]

#: IDX dtype code -> big-endian numpy dtype
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"

# split -> (images stem, labels stem); the files may carry ".gz" and use "-idx" or ".idx"
_STEMS = {"train": ("train-images", "train-labels"), "test": ("t10k-images", "t10k-labels")}
_SUBDIRS = ("", "raw", "MNIST/raw", "FashionMNIST/raw")  # torchvision keeps the files in <root>/<Name>/raw


def _read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DatasetError(f"cannot read IDX file {path}: {e.strerror or e}") from None
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise DatasetError(f"{path} is a corrupt or truncated gzip file: {e}") from None
    return data


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one IDX file (gzip detected from its content) into a native-endian numpy array."""
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise DatasetError(f"{path} is not an IDX file: only {len(data)} bytes")
    if data[0] != 0 or data[1] != 0:
        raise DatasetError(
            f"{path} is not an IDX file: bad magic number 0x{data[:4].hex()} (expected 0x0000<dtype><ndim>)"
        )
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise DatasetError(f"{path}: unknown IDX dtype code 0x{code:02X} (known: {known})")
    if ndim == 0:
        raise DatasetError(f"{path}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetError(f"{path} is truncated: {len(data)} bytes, but its header alone needs {header}")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    got = len(data) - header
    if got != expected:
        what = "truncated" if got < expected else "longer than its header says"
        raise DatasetError(
            f"{path} is {what}: header declares shape {dims} of {dtype.name} ({expected} bytes of data), "
            f"file holds {got}"
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike[str], array: np.ndarray, compress: bool | None = None) -> Path:
    """Write ``array`` as IDX (gzip when ``compress`` or, by default, when ``path`` ends in ``.gz``)."""
    path = Path(path)
    arr = np.asarray(array)
    codes = {dt.newbyteorder("="): c for c, dt in IDX_DTYPES.items()}
    native = arr.dtype.newbyteorder("=")
    if native not in codes:
        raise DatasetError(f"IDX cannot hold dtype {arr.dtype}; use one of {sorted(str(d) for d in codes)}")
    if not 1 <= arr.ndim <= 255:
        raise DatasetError(f"IDX needs 1..255 dimensions, got {arr.ndim}")
    code = codes[native]
    payload = (
        bytes([0, 0, code, arr.ndim])
        + np.asarray(arr.shape, dtype=">u4").tobytes()
        + np.ascontiguousarray(arr, dtype=IDX_DTYPES[code]).tobytes()
    )
    if compress if compress is not None else path.suffix == ".gz":
        payload = gzip.compress(payload, mtime=0)
    from edge_sdk._io import atomic_write_bytes

    return atomic_write_bytes(path, payload)


def _find(folder: Path, stem: str, kind: str) -> Path | None:
    for sep in ("-", "."):
        for suffix in ("", ".gz"):
            p = folder / f"{stem}{sep}{kind}-ubyte{suffix}"
            if p.is_file():
                return p
    return None


def find_mnist_files(data_dir: str | os.PathLike[str], split: str) -> tuple[Path, Path] | None:
    """The ``(images, labels)`` IDX files of ``split`` ("train" or "test") in ``data_dir``, or None.

    Looks in ``data_dir`` itself, then ``raw/``, ``MNIST/raw/`` and ``FashionMNIST/raw/`` (torchvision's
    layout). Accepts ``train-images-idx3-ubyte``, ``train-images.idx3-ubyte`` and either with ``.gz``.
    """
    if split not in _STEMS:
        raise DatasetError(f"unknown MNIST split {split!r}; the IDX files hold 'train' and 'test'")
    img_stem, lbl_stem = _STEMS[split]
    root = Path(data_dir)
    for sub in _SUBDIRS:
        folder = root / sub if sub else root
        images, labels = _find(folder, img_stem, "idx3"), _find(folder, lbl_stem, "idx1")
        if images is not None and labels is not None:
            return images, labels
    return None


def load_mnist_dir(
    data_dir: str | os.PathLike[str], split: str, num_classes: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Load MNIST / Fashion-MNIST IDX files: ``(x, y)``, float32 N x 1 x H x W in [0, 1] and int64 labels."""
    root = Path(data_dir)
    if not root.is_dir():
        raise DatasetError(f"dataset directory not found: {root}")
    files = find_mnist_files(root, split)
    if files is None:
        img_stem, lbl_stem = _STEMS[split]
        raise DatasetError(
            f"no MNIST-format {split} files in {root}: expected {img_stem}-idx3-ubyte[.gz] and "
            f"{lbl_stem}-idx1-ubyte[.gz] (or the '.idx3-ubyte' spelling)"
        )
    img_path, lbl_path = files
    images, labels = read_idx(img_path), read_idx(lbl_path)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise DatasetError(
            f"{img_path}: expected uint8 images of shape N x H x W, got {images.dtype} {images.shape}"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise DatasetError(f"{lbl_path}: expected uint8 labels of shape N, got {labels.dtype} {labels.shape}")
    if len(images) != len(labels):
        raise DatasetError(f"{img_path} holds {len(images)} images but {lbl_path} holds {len(labels)} labels")
    if len(images) == 0:
        raise DatasetError(f"{img_path} holds no images")
    if labels.size and int(labels.max()) >= num_classes:
        bad = int(np.argmax(labels >= num_classes))
        raise DatasetError(
            f"{lbl_path}: label {int(labels[bad])} at index {bad} is out of range 0..{num_classes - 1}"
        )
    x = images.astype(np.float32)[:, None]
    x /= 255.0
    return x, labels.astype(np.int64)
