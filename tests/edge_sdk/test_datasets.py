"""Dataset loaders on real files written here: IDX (MNIST / Fashion-MNIST), CIFAR-10 binary, dispatch."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from edge_sdk.data.cifar import RECORD_BYTES, load_cifar10_dir, read_cifar10_batch
from edge_sdk.data.classification import detect_dataset, load_classification, load_splits, split_off_val
from edge_sdk.data.idx import load_mnist_dir, read_idx, write_idx
from edge_sdk.errors import DatasetError

# ------------------------------------------------------------------------------------------ writers


def idx_bytes(arr: np.ndarray, code: int, ndim: int | None = None) -> bytes:
    """IDX by hand (independent of edge_sdk.data.idx.write_idx): header, big-endian sizes, data."""
    big = arr.astype(arr.dtype.newbyteorder(">"))
    ndim = arr.ndim if ndim is None else ndim
    return struct.pack(">BBBB", 0, 0, code, ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + big.tobytes()


def write(path: Path, data: bytes, gz: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def mnist_dir(
    root: Path, n_train: int = 30, n_test: int = 12, gz: bool = False, sep: str = "-", seed: int = 0,
    images: dict[str, np.ndarray] | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = {}
    for split, stem, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        x = images[split] if images else np.zeros((n, 28, 28), np.uint8)
        if not images:  # a blob in the centre, never on the frame (MNIST-like)
            x[:, 6:22, 6:22] = rng.integers(0, 256, (n, 16, 16), dtype=np.uint8)
        y = rng.integers(0, 10, len(x), dtype=np.uint8)
        ext = ".gz" if gz else ""
        write(root / f"{stem}-images{sep}idx3-ubyte{ext}", idx_bytes(x, 0x08), gz)
        write(root / f"{stem}-labels{sep}idx1-ubyte{ext}", idx_bytes(y, 0x08), gz)
        out[split] = (x, y)
    return out


def cifar_dir(root: Path, n: int = 4, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    xs: dict[str, list[np.ndarray]] = {"train": [], "test": []}
    ys: dict[str, list[np.ndarray]] = {"train": [], "test": []}
    names = [(f"data_batch_{i}.bin", "train") for i in range(1, 6)] + [("test_batch.bin", "test")]
    for name, split in names:
        x = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
        y = rng.integers(0, 10, n, dtype=np.uint8)
        rec = np.concatenate([y[:, None], x.reshape(n, -1)], axis=1)
        (root / name).write_bytes(rec.tobytes())
        xs[split].append(x)
        ys[split].append(y)
    return {s: (np.concatenate(xs[s]), np.concatenate(ys[s])) for s in xs}


# ------------------------------------------------------------------------------------------ IDX


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize(
    ("dtype", "code"),
    [(np.uint8, 0x08), (np.int8, 0x09), (np.int16, 0x0B), (np.int32, 0x0C), (np.float32, 0x0D), (np.float64, 0x0E)],
)
def test_read_idx_roundtrips_every_dtype(tmp_path: Path, gz: bool, dtype: type, code: int) -> None:
    arr = (np.arange(2 * 3 * 5) - 7).reshape(2, 3, 5).astype(dtype)
    p = write(tmp_path / "a.idx", idx_bytes(arr, code), gz)
    got = read_idx(p)
    assert got.dtype == np.dtype(dtype) and got.shape == arr.shape
    np.testing.assert_array_equal(got, arr)
    # and our writer produces the same bytes as the hand-written file
    q = write_idx(tmp_path / ("b.idx.gz" if gz else "b.idx"), arr)
    np.testing.assert_array_equal(read_idx(q), arr)
    if not gz:
        assert q.read_bytes() == p.read_bytes()


@pytest.mark.parametrize(("gz", "sep"), [(False, "-"), (True, "-"), (False, "."), (True, ".")])
def test_load_mnist_dir_reads_back_exactly(tmp_path: Path, gz: bool, sep: str) -> None:
    ref = mnist_dir(tmp_path, gz=gz, sep=sep)
    for split in ("train", "test"):
        x, y = load_mnist_dir(tmp_path, split)
        assert x.dtype == np.float32 and y.dtype == np.int64
        assert x.shape == (len(ref[split][0]), 1, 28, 28)
        assert x.min() >= 0 and x.max() <= 1
        np.testing.assert_array_equal(np.rint(x[:, 0] * 255).astype(np.uint8), ref[split][0])
        np.testing.assert_array_equal(y, ref[split][1])


def test_load_mnist_dir_torchvision_layout(tmp_path: Path) -> None:
    mnist_dir(tmp_path / "MNIST" / "raw")
    assert load_mnist_dir(tmp_path, "test")[0].shape == (12, 1, 28, 28)


def _one(tmp_path: Path, name: str, data: bytes, gz: bool = False) -> Path:
    return write(tmp_path / name, data, gz)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"\x00\x00", "only 2 bytes"),
        (b"\x01\x02\x08\x01" + struct.pack(">I", 3) + b"abc", "bad magic"),
        (b"\x00\x00\x07\x01" + struct.pack(">I", 3) + b"abc", "unknown IDX dtype code 0x07"),
        (b"\x00\x00\x08\x03" + struct.pack(">I", 3), "header alone needs"),
        (b"\x00\x00\x08\x01" + struct.pack(">I", 4) + b"abc", "truncated"),
        (b"\x00\x00\x08\x01" + struct.pack(">I", 2) + b"abc", "longer than its header"),
        (b"\x00\x00\x0b\x01" + struct.pack(">I", 2) + b"abc", "truncated"),
    ],
)
def test_read_idx_refuses_malformed(tmp_path: Path, data: bytes, match: str) -> None:
    p = _one(tmp_path, "bad-idx", data)
    with pytest.raises(DatasetError, match=match) as info:
        read_idx(p)
    assert str(p) in str(info.value)


def test_read_idx_refuses_truncated_gzip(tmp_path: Path) -> None:
    full = gzip.compress(idx_bytes(np.zeros((50, 28, 28), np.uint8), 0x08))
    p = _one(tmp_path, "x-idx3-ubyte.gz", full[: len(full) // 2])
    with pytest.raises(DatasetError, match="gzip") as info:
        read_idx(p)
    assert str(p) in str(info.value)


def test_mnist_count_mismatch(tmp_path: Path) -> None:
    mnist_dir(tmp_path)
    write(tmp_path / "t10k-labels-idx1-ubyte", idx_bytes(np.zeros(11, np.uint8), 0x08))
    with pytest.raises(DatasetError, match="12 images but .*t10k-labels-idx1-ubyte holds 11 labels"):
        load_mnist_dir(tmp_path, "test")


def test_mnist_label_out_of_range(tmp_path: Path) -> None:
    mnist_dir(tmp_path)
    y = np.zeros(12, np.uint8)
    y[5] = 10
    write(tmp_path / "t10k-labels-idx1-ubyte", idx_bytes(y, 0x08))
    with pytest.raises(DatasetError, match=r"t10k-labels-idx1-ubyte: label 10 at index 5 is out of range"):
        load_mnist_dir(tmp_path, "test")


def test_mnist_wrong_kind_of_array(tmp_path: Path) -> None:
    mnist_dir(tmp_path)
    write(tmp_path / "t10k-images-idx3-ubyte", idx_bytes(np.zeros((12, 28, 28), np.float32), 0x0D))
    with pytest.raises(DatasetError, match="expected uint8 images"):
        load_mnist_dir(tmp_path, "test")


def test_mnist_missing_files(tmp_path: Path) -> None:
    mnist_dir(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte").unlink()
    with pytest.raises(DatasetError, match="no MNIST-format train files"):
        load_mnist_dir(tmp_path, "train")
    with pytest.raises(DatasetError, match="not found"):
        load_mnist_dir(tmp_path / "nope", "train")


# ------------------------------------------------------------------------------------------ CIFAR-10


@pytest.mark.parametrize("sub", ["", "cifar-10-batches-bin"])
def test_cifar_reads_back_exactly(tmp_path: Path, sub: str) -> None:
    ref = cifar_dir(tmp_path / sub if sub else tmp_path)
    for split, n in (("train", 20), ("test", 4)):
        x, y = load_cifar10_dir(tmp_path, split)
        assert x.shape == (n, 3, 32, 32) and x.dtype == np.float32 and y.dtype == np.int64
        np.testing.assert_array_equal(np.rint(x * 255).astype(np.uint8), ref[split][0])
        np.testing.assert_array_equal(y, ref[split][1])


def test_cifar_record_layout_is_label_then_chw(tmp_path: Path) -> None:
    rec = np.zeros(RECORD_BYTES, np.uint8)
    rec[0] = 7
    rec[1 + 1024 + 32 * 2 + 5] = 200  # green plane, row 2, column 5
    (tmp_path / "one.bin").write_bytes(rec.tobytes())
    x, y = read_cifar10_batch(tmp_path / "one.bin")
    assert y.tolist() == [7] and x[0, 1, 2, 5] == 200 and int(x.sum()) == 200


def test_cifar_refuses_malformed(tmp_path: Path) -> None:
    cifar_dir(tmp_path)
    p = tmp_path / "test_batch.bin"
    p.write_bytes(p.read_bytes()[:-1])
    with pytest.raises(DatasetError, match="not a positive multiple of 3073") as info:
        load_cifar10_dir(tmp_path, "test")
    assert str(p) in str(info.value)
    rec = np.zeros((2, RECORD_BYTES), np.uint8)
    rec[1, 0] = 10
    p.write_bytes(rec.tobytes())
    with pytest.raises(DatasetError, match="record 1 has label 10"):
        load_cifar10_dir(tmp_path, "test")
    (tmp_path / "data_batch_3.bin").unlink()
    with pytest.raises(DatasetError, match="missing data_batch_3.bin"):
        load_cifar10_dir(tmp_path, "train")


def test_cifar_python_version_is_refused_without_unpickling(tmp_path: Path) -> None:
    py = tmp_path / "cifar-10-batches-py"
    py.mkdir()
    sentinel = tmp_path / "pwned"
    # a pickle that would create a file if it were ever loaded
    payload = b"cos\nsystem\n(S'touch " + str(sentinel).encode() + b"'\ntR."
    for name in ("data_batch_1", "test_batch", "batches.meta"):
        (py / name).write_bytes(payload)
    for target in (tmp_path, py):
        with pytest.raises(DatasetError, match="binary version"):
            load_cifar10_dir(target, "train")
        with pytest.raises(DatasetError, match="pickle"):
            detect_dataset(target)
    assert not sentinel.exists()


# ------------------------------------------------------------------------------------------ dispatch


def test_detect_dataset(tmp_path: Path) -> None:
    mnist_dir(tmp_path / "a", gz=True)
    assert detect_dataset(tmp_path / "a") == "mnist"
    mnist_dir(tmp_path / "my-fashion-data")
    assert detect_dataset(tmp_path / "my-fashion-data") == "fashion-mnist"
    # no name hint: products span the whole frame, digits never touch it
    rng = np.random.default_rng(1)
    big = {s: rng.integers(1, 256, (n, 28, 28), dtype=np.uint8) for s, n in (("train", 30), ("test", 12))}
    mnist_dir(tmp_path / "b", images=big)
    assert detect_dataset(tmp_path / "b") == "fashion-mnist"
    cifar_dir(tmp_path / "c" / "cifar-10-batches-bin")
    assert detect_dataset(tmp_path / "c") == "cifar-10"
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="cannot tell which dataset"):
        detect_dataset(tmp_path / "empty")
    with pytest.raises(DatasetError, match="not found"):
        detect_dataset(tmp_path / "missing")


def test_load_classification_digits28() -> None:
    sizes = {"train": 1258, "val": 179, "test": 360}
    for split, n in sizes.items():
        x, y = load_classification("digits-28", split)
        assert x.shape == (n, 1, 28, 28) and y.shape == (n,)


def test_user_dir_gets_a_seeded_val_split(tmp_path: Path) -> None:
    ref = mnist_dir(tmp_path, n_train=100)
    xt, yt = load_classification("mnist", "train", tmp_path)
    xv, yv = load_classification("mnist", "val", tmp_path)
    assert len(xt) + len(xv) == 100 and 5 <= len(xv) <= 15
    again = load_classification("auto", "val", tmp_path)
    np.testing.assert_array_equal(again[0], xv)  # fixed seed: the same split every time
    # disjoint and complete: every training image lands in exactly one of the two
    seen = np.concatenate([xt, xv])[:, 0]
    assert sorted(map(bytes, np.rint(seen * 255).astype(np.uint8))) == sorted(map(bytes, ref["train"][0]))
    splits = load_splits("mnist", tmp_path)
    np.testing.assert_array_equal(splits["val"][1], yv)
    assert len(splits["test"][0]) == 12


def test_split_off_val_tiny_and_stratified() -> None:
    y = np.repeat(np.arange(10), 20)
    (_, ytr), (_, yv) = split_off_val(np.zeros((200, 1)), y)
    assert np.bincount(yv).tolist() == [2] * 10 and len(ytr) == 180
    (_, ytr), (_, yv) = split_off_val(np.zeros((2, 1)), np.array([0, 1]))
    assert len(ytr) == 1 and len(yv) == 1
    with pytest.raises(DatasetError):
        split_off_val(np.zeros((1, 1)), np.array([0]))


def test_load_classification_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="unknown dataset"):
        load_classification("imagenet", "train")
    with pytest.raises(DatasetError, match="not bundled"):
        load_classification("mnist", "train")
    with pytest.raises(DatasetError, match="unknown split"):
        load_classification("digits-28", "dev")
