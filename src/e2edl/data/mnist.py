"""MNIST and Fashion-MNIST as in-memory tensors (47 MB for the training images)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from e2edl.data.batch_transforms import (
    FASHION_MEAN,
    FASHION_STD,
    MNIST_MEAN,
    MNIST_STD,
    BatchCompose,
    BatchNormalize,
    RandomShift,
    to_channels_last,
)
from e2edl.data.errors import IDXError
from e2edl.data.fetch import fetch
from e2edl.data.idx import read_idx
from e2edl.data.tensor_loader import TensorLoader

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


@dataclass
class MNIST:
    """MNIST (or Fashion-MNIST) in memory: training, validation and test tensors.

    The validation split is the last ``val_size`` training images (5,000 by default), held out from
    training for every decision — epochs, early stopping, recipe choice, time to an accuracy — so
    that the test set is scored once, at the end. ``load_seconds`` is how long reading took (counted
    in timed claims).
    """

    x_train: torch.Tensor  # (N_train, 28, 28) uint8
    y_train: torch.Tensor  # (N_train,) int64
    x_val: torch.Tensor  # (N_val, 28, 28) uint8
    y_val: torch.Tensor  # (N_val,) int64
    x_test: torch.Tensor  # (10000, 28, 28) uint8
    y_test: torch.Tensor  # (10000,) int64
    load_seconds: float
    name: str = "mnist"

    @classmethod
    def load(cls, val_size: int = 5000, train_subset: int | None = None, name: str = "mnist") -> MNIST:
        """Read the files (cache → mirror → internet); ``train_subset`` keeps the first images of
        the training part (quick mode), after the validation images were set aside."""
        start = time.perf_counter()
        x, y = load_mnist("train", name=name)
        x_test, y_test = load_mnist("test", name=name)
        if not 0 <= val_size < len(x):
            raise ValueError(f"val_size must be in [0, {len(x)}), got {val_size}")
        cut = len(x) - val_size
        x_train, y_train, x_val, y_val = x[:cut], y[:cut], x[cut:], y[cut:]
        if train_subset is not None:
            x_train, y_train = x_train[:train_subset], y_train[:train_subset]
        return cls(x_train, y_train, x_val, y_val, x_test, y_test, time.perf_counter() - start, name)

    @property
    def mean_std(self) -> tuple[float, float]:
        return (MNIST_MEAN, MNIST_STD) if self.name == "mnist" else (FASHION_MEAN, FASHION_STD)

    def train_loader(self, batch_size: int, seed: int, shift: int = 0, channels_last: bool = False):
        """Shuffled batches, normalised, optionally randomly shifted by up to ``shift`` pixels.

        The shifts draw from torch's global generator, which ``fit`` seeds and checkpoints, so a
        resumed run sees the same shifts as an uninterrupted one.
        """
        mean, std = self.mean_std
        transforms = [BatchNormalize(mean, std)]
        if shift:
            transforms.append(RandomShift(shift, fill=-mean / std))
        if channels_last:
            transforms.append(to_channels_last)
        return TensorLoader(
            self.x_train,
            self.y_train,
            batch_size=batch_size,
            shuffle=True,
            seed=seed,
            drop_last=True,
            transform=BatchCompose(*transforms),
        )

    def val_loader(self, batch_size: int = 2500, channels_last: bool = False):
        """The validation images in a fixed order, normalised: what training decisions look at."""
        return self._eval_loader(self.x_val, self.y_val, batch_size, channels_last)

    def test_loader(self, batch_size: int = 2500, channels_last: bool = False):
        """The test images in a fixed order, normalised: scored once, at the end."""
        return self._eval_loader(self.x_test, self.y_test, batch_size, channels_last)

    def _eval_loader(self, images, labels, batch_size: int, channels_last: bool):
        transforms = [BatchNormalize(*self.mean_std)] + ([to_channels_last] if channels_last else [])
        return TensorLoader(images, labels, batch_size=batch_size, transform=BatchCompose(*transforms))
