"""MNIST and Fashion-MNIST as in-memory tensors (47 MB for the training images)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from e2edl.data.errors import IDXError
from e2edl.data.fetch import fetch
from e2edl.data.idx import read_idx

_PREFIX = {"train": "train", "test": "t10k"}
_NAMES = ("mnist", "fashion-mnist")


def load_mnist(
    split: str = "train",
    name: str = "mnist",
    mirror: str | os.PathLike | None = None,
    home: str | os.PathLike | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(images uint8 [N, 28, 28], labels int64 [N])`` of ``split`` ("train" N=60000, "test" N=10000).

    ``name`` is "mnist" or "fashion-mnist"; the files are fetched (cache, mirror, internet) first.
    """
    if split not in _PREFIX:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if name not in _NAMES:
        raise ValueError(f"name must be 'mnist' or 'fashion-mnist', got {name!r}")
    folder = fetch(name, mirror=mirror, home=home)
    images_path = folder / f"{_PREFIX[split]}-images-idx3-ubyte.gz"
    labels_path = folder / f"{_PREFIX[split]}-labels-idx1-ubyte.gz"
    images, labels = read_idx(images_path), read_idx(labels_path)
    _check_pair(images, labels, images_path, name)
    return torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))


def _check_pair(images: np.ndarray, labels: np.ndarray, path: Path, name: str) -> None:
    """Images must be uint8 [N, 28, 28] with N uint8 labels in 0..9."""
    fix = f"delete {path.parent} and run `e2edl data fetch {name}`"
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise IDXError(f"{path} holds {images.dtype} {list(images.shape)}, expected uint8 [N, 28, 28]; {fix}")
    if labels.shape != (len(images),) or labels.dtype != np.uint8:
        raise IDXError(f"{len(images)} images but labels {labels.dtype} {list(labels.shape)}; {fix}")
    if len(labels) and labels.max() > 9:
        raise IDXError(f"label {int(labels.max())} out of range 0..9; {fix}")
