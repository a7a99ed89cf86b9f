"""IDX parsing (raw and gzip) and ``load_mnist`` on small fabricated MNIST-format files."""

from __future__ import annotations

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from e2edl.data import DATASETS, DatasetSpec, FileSpec, IDXError, Source, load_mnist, read_idx


def idx_bytes(array: np.ndarray, code: int = 0x08) -> bytes:
    """``array`` in IDX format: magic (0, 0, dtype code, ndim), big-endian dims, data."""
    header = struct.pack(">HBB", 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


@pytest.fixture
def images() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(5, 28, 28), dtype=np.uint8)


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_images_and_labels(tmp_path: Path, images: np.ndarray, compress: bool) -> None:
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    pack = gzip.compress if compress else (lambda b: b)
    (tmp_path / "images").write_bytes(pack(idx_bytes(images)))
    (tmp_path / "labels").write_bytes(pack(idx_bytes(labels)))
    got_images, got_labels = read_idx(tmp_path / "images"), read_idx(tmp_path / "labels")
    assert got_images.shape == (5, 28, 28) and got_images.dtype == np.uint8
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)
    assert got_images.flags.writeable  # torch.from_numpy can share it without a warning


def test_read_idx_multibyte_is_native_order(tmp_path: Path) -> None:
    values = np.arange(6, dtype=np.int32).reshape(2, 3) - 2
    (tmp_path / "ints").write_bytes(idx_bytes(values, code=0x0C))
    got = read_idx(tmp_path / "ints")
    np.testing.assert_array_equal(got, values)
    assert got.dtype.isnative


@pytest.mark.parametrize(
    ("magic", "shown"),
    [(b"PK\x03\x04", "0x504b0304"), (b"\x00\x00\x07\x03", "0x00000703"), (b"\x00\x00\x08\x00", "0x00000800")],
)
def test_wrong_magic_names_file_and_fix(tmp_path: Path, images: np.ndarray, magic: bytes, shown: str) -> None:
    folder = tmp_path / "mnist"
    folder.mkdir()
    bad = folder / "train-images-idx3-ubyte"
    bad.write_bytes(magic + idx_bytes(images)[4:])
    with pytest.raises(IDXError) as info:
        read_idx(bad)
    message = str(info.value)
    assert str(bad) in message and shown in message and "0x00000803" in message
    assert "delete it and run `e2edl data fetch mnist`" in message and "\n" not in message


@pytest.mark.parametrize("compress", [False, True])
def test_truncated_data_refused(tmp_path: Path, images: np.ndarray, compress: bool) -> None:
    data = idx_bytes(images)[:-100]
    path = tmp_path / "short"
    path.write_bytes(gzip.compress(data) if compress else data)
    with pytest.raises(IDXError, match=r"truncated: 3,820 of 3,920 data bytes for 5x28x28"):
        read_idx(path)


def test_truncated_gzip_stream_refused(tmp_path: Path, images: np.ndarray) -> None:
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(idx_bytes(images))[:-20])
    with pytest.raises(IDXError, match="not a complete gzip file"):
        read_idx(path)


def test_truncated_header_refused(tmp_path: Path) -> None:
    path = tmp_path / "tiny"
    path.write_bytes(b"\x00\x00\x08\x03\x00\x00")
    with pytest.raises(IDXError, match="truncated inside its header"):
        read_idx(path)


def test_dims_that_disagree_with_the_data_refused(tmp_path: Path, images: np.ndarray) -> None:
    too_small = bytearray(idx_bytes(images))
    too_small[4:8] = struct.pack(">I", 4)  # header says 4 images, 5 follow
    (tmp_path / "extra").write_bytes(bytes(too_small))
    with pytest.raises(IDXError, match="784 bytes more than the 4x28x28"):
        read_idx(tmp_path / "extra")
    too_big = bytearray(idx_bytes(images))
    too_big[4:8] = struct.pack(">I", 4_000_000_000)  # absurd count: refused, never allocated
    (tmp_path / "huge").write_bytes(bytes(too_big))
    with pytest.raises(IDXError, match="truncated"):
        read_idx(tmp_path / "huge")


def register_mnist(monkeypatch: pytest.MonkeyPatch, mirror: Path, files: dict[str, bytes]) -> None:
    """Put gzip ``files`` in ``mirror/mnist/`` and swap the registry's mnist for one that expects them."""
    (mirror / "mnist").mkdir(parents=True)
    sources = []
    for name, content in files.items():
        (mirror / "mnist" / name).write_bytes(gzip.compress(content))
        sources.append(Source(name, hashlib.sha256(content).hexdigest(), len(content), gzip=True))
    files_spec = tuple(FileSpec((s,)) for s in sources)
    monkeypatch.setitem(DATASETS, "mnist", DatasetSpec("mnist", "fake", files_spec, DATASETS["mnist"].loader))


def fake_split(prefix: str, images: np.ndarray, labels: np.ndarray) -> dict[str, bytes]:
    return {
        f"{prefix}-images-idx3-ubyte.gz": idx_bytes(images),
        f"{prefix}-labels-idx1-ubyte.gz": idx_bytes(labels),
    }


def test_load_mnist_returns_uint8_images_and_int64_labels(
    data_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, images: np.ndarray
) -> None:
    labels = np.array([7, 2, 1, 0, 4], dtype=np.uint8)
    register_mnist(monkeypatch, tmp_path / "mirror", fake_split("t10k", images, labels))
    x, y = load_mnist("test", mirror=tmp_path / "mirror")
    assert x.shape == (5, 28, 28) and x.dtype == torch.uint8
    assert y.dtype == torch.int64 and y.tolist() == [7, 2, 1, 0, 4]
    assert torch.equal(x, torch.from_numpy(images))
    assert (data_env / "mnist" / "t10k-images-idx3-ubyte.gz").is_file()  # cached on the way


def test_load_mnist_refuses_wrong_image_size(
    data_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    images = np.zeros((2, 28, 27), dtype=np.uint8)
    register_mnist(monkeypatch, tmp_path / "mirror", fake_split("t10k", images, np.zeros(2, np.uint8)))
    with pytest.raises(IDXError, match=r"expected uint8 \[N, 28, 28\].*e2edl data fetch mnist"):
        load_mnist("test", mirror=tmp_path / "mirror")


def test_load_mnist_refuses_label_count_mismatch(
    data_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, images: np.ndarray
) -> None:
    register_mnist(monkeypatch, tmp_path / "mirror", fake_split("t10k", images, np.zeros(4, np.uint8)))
    with pytest.raises(IDXError, match="5 images but labels"):
        load_mnist("test", mirror=tmp_path / "mirror")


@pytest.mark.parametrize(("kwargs", "message"), [({"split": "val"}, "split"), ({"name": "cifar"}, "name")])
def test_load_mnist_argument_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_mnist(**kwargs)
