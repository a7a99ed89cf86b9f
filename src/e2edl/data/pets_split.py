"""Dogs vs Cats decoded in memory and split into train and validation, with their loaders.

One split for the lessons that train on these tensors (resnet-from-scratch, transfer-learning,
vit), so their validation accuracies compare: 20% of each class, drawn with seed 0.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from e2edl.data.batch_transforms import BatchCompose, to_channels_last
from e2edl.data.pets_images import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    eval_transform,
    load_pets_tensors,
    train_transform,
)
from e2edl.data.splits import balanced_subset, stratified_split
from e2edl.data.tensor_loader import TensorLoader

VAL_FRACTION, SPLIT_SEED = 0.2, 0
IMAGENET = (IMAGENET_MEAN, IMAGENET_STD)


@dataclass
class Pets:
    """Decoded Dogs vs Cats images in memory, split into train and validation.

    ``images`` are uint8 (N, 3, stored_size, stored_size); ``load_seconds`` is how long reading
    (or decoding) them took, counted in the lessons' wall-clock claims.
    """

    images: torch.Tensor  # (N, 3, S, S) uint8
    labels: torch.Tensor  # (N,) int64, 0 = cat, 1 = dog
    class_names: list[str]
    skipped: int  # files that could not be read as images
    train_idx: torch.Tensor
    val_idx: torch.Tensor
    load_seconds: float

    @classmethod
    def load(
        cls, stored_size: int, train_subset: int | None = None, val_subset: int | None = None, progress=True
    ) -> Pets:
        """Decode (first time) or read the cached tensor at ``stored_size`` and split it.

        ``train_subset``/``val_subset`` keep a class-balanced prefix of each part (quick mode).
        """
        start = time.perf_counter()
        data = load_pets_tensors(stored_size, progress=progress)
        train_idx, val_idx = stratified_split(data.labels, VAL_FRACTION, seed=SPLIT_SEED)
        if train_subset is not None:
            train_idx = balanced_subset(train_idx, data.labels, train_subset)
        if val_subset is not None:
            val_idx = balanced_subset(val_idx, data.labels, val_subset)
        return cls(
            data.images,
            data.labels,
            data.class_names,
            len(data.skipped),
            train_idx,
            val_idx,
            time.perf_counter() - start,
        )

    @property
    def y_val(self) -> torch.Tensor:
        return self.labels[self.val_idx]

    def train_loader(
        self, batch_size: int, size: int, seed: int, channels_last: bool = True, normalize=IMAGENET
    ) -> TensorLoader:
        """Shuffled training batches, each image randomly cropped, flipped and resized to ``size``.

        The crops draw from torch's global generator, which ``fit`` seeds and checkpoints.
        ``normalize`` is the ``(mean, std)`` per channel the network expects.
        """
        transform = train_transform(size, mean=normalize[0], std=normalize[1])
        return TensorLoader(
            self.images[self.train_idx],
            self.labels[self.train_idx],
            batch_size=batch_size,
            shuffle=True,
            seed=seed,
            drop_last=True,
            transform=BatchCompose(transform, to_channels_last) if channels_last else transform,
        )

    def val_loader(
        self, size: int, batch_size: int = 250, channels_last: bool = True, normalize=IMAGENET
    ) -> TensorLoader:
        """Validation batches in a fixed order: resized to ``size``, centre-cropped, no augmentation."""
        transform = eval_transform(size, mean=normalize[0], std=normalize[1])
        return TensorLoader(
            self.images[self.val_idx],
            self.y_val,
            batch_size=batch_size,
            transform=BatchCompose(transform, to_channels_last) if channels_last else transform,
        )
