"""Read IDX files, the format of MNIST and Fashion-MNIST, raw or gzip-compressed.

Layout: 2 zero bytes, a dtype code (0x08 = unsigned byte), the number of dimensions, then each
dimension as a big-endian uint32, then the data in C order. So labels start with the magic
0x00000801 (1-d) and images with 0x00000803 (3-d).
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from e2edl.data.errors import IDXError
from e2edl.data.registry import DATASETS

_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """The array stored in IDX file ``path`` (gzip or raw, told apart by content), native byte order.

    MNIST images come back as uint8 ``[N, 28, 28]``, labels as uint8 ``[N]``; the array is writable
    (``torch.from_numpy`` shares it without a copy). Raises ``IDXError``
    naming the file and the fix on a wrong magic number, a size mismatch or a truncated file.
    """
    path = Path(path)
    try:
        with _open(path) as f:
            dtype, dims = _read_header(f, path)
            data = bytearray(f.read())  # a bytearray, so the array below is writable
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise _error(path, f"is not a complete gzip file ({e})") from e
    expected = math.prod(dims) * dtype.itemsize
    if len(data) < expected:
        raise _error(path, f"is truncated: {len(data):,} of {expected:,} data bytes for {_shape(dims)}")
    if len(data) > expected:
        raise _error(
            path, f"has {len(data) - expected:,} bytes more than the {_shape(dims)} its header announces"
        )
    array = np.frombuffer(data, dtype=dtype).reshape(dims)
    return array.astype(dtype.newbyteorder("="), copy=False)


def _open(path: Path) -> BinaryIO:
    with open(path, "rb") as f:
        compressed = f.read(2) == _GZIP_MAGIC
    return gzip.open(path, "rb") if compressed else open(path, "rb")


def _read_header(f: BinaryIO, path: Path) -> tuple[np.dtype, tuple[int, ...]]:
    head = f.read(4)
    if len(head) < 4:
        raise _error(path, f"is truncated: {len(head)} bytes, shorter than an IDX header")
    zero, code, ndim = struct.unpack(">HBB", head)
    if zero != 0 or code not in _DTYPES or ndim == 0:
        magic = int.from_bytes(head, "big")
        raise _error(
            path, f"has magic 0x{magic:08x}, not an IDX file (expected 0x00000801 labels, 0x00000803 images)"
        )
    raw_dims = f.read(4 * ndim)
    if len(raw_dims) < 4 * ndim:
        raise _error(path, f"is truncated inside its header ({ndim} dimensions announced)")
    return _DTYPES[code], struct.unpack(f">{ndim}I", raw_dims)


def _shape(dims: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in dims)


def _error(path: Path, problem: str) -> IDXError:
    """An ``IDXError`` naming ``path`` and how to get a good copy."""
    dataset = path.parent.name
    command = f"e2edl data fetch {dataset}" if dataset in DATASETS else "e2edl data fetch <name>"
    return IDXError(f"{path} {problem}; delete it and run `{command}`")
