"""What the Dogs vs Cats lessons (06 from scratch, 07 transfer, 08 Hugging Face) share.

One split for all three lessons, so their validation accuracies compare: 20% of each class,
drawn with seed 0 (2,000 of the mirror's 10,000 images), the rest for training.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import nn

from e2edl.data import TensorLoader, load_pets_tensors, stratified_split
from e2edl.data.batch_transforms import Compose, to_channels_last
from e2edl.data.pets_images import IMAGENET_MEAN, IMAGENET_STD, eval_transform, train_transform
from e2edl.figures import image_grid

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
            train_idx = _balanced_subset(train_idx, data.labels, train_subset)
        if val_subset is not None:
            val_idx = _balanced_subset(val_idx, data.labels, val_subset)
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
            transform=Compose(transform, to_channels_last) if channels_last else transform,
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
            transform=Compose(transform, to_channels_last) if channels_last else transform,
        )


def _balanced_subset(idx: torch.Tensor, labels: torch.Tensor, n: int) -> torch.Tensor:
    """The first ``n // classes`` indices of each class in ``idx`` (which is already shuffled per class
    by the split's seed, then sorted), in sorted order."""
    classes = torch.unique(labels[idx])
    per_class = n // len(classes)
    parts = [idx[labels[idx] == c][:per_class] for c in classes]
    return torch.cat(parts).sort().values


@torch.no_grad()
def predict_logits(model: nn.Module, loader, amp: bool = False) -> torch.Tensor:
    """Logits (N, classes) for every batch of ``loader``, in order, on the CPU."""
    model = model.cpu().eval()
    outputs = []
    for images, _ in loader:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            outputs.append(model(images).float())
    return torch.cat(outputs)


def mistakes_figure(data: Pets, logits: torch.Tensor, n: int = 24, title: str = "", stored_images=None):
    """The ``n`` validation images the model got wrong with the most confidence.

    ``logits`` are the validation predictions in ``data.val_idx`` order. Titles read
    ``true→predicted (confidence)``.
    """
    probabilities = logits.softmax(1)
    predictions = probabilities.argmax(1)
    wrong = (predictions != data.y_val).nonzero().squeeze(1)
    worst = wrong[probabilities[wrong].max(1).values.argsort(descending=True)[:n]]
    images = data.images[data.val_idx[worst]] if stored_images is None else stored_images[worst]
    names = data.class_names
    titles = [
        f"{names[data.y_val[i]]}→{names[predictions[i]]} {probabilities[i].max():.2f}" for i in worst.tolist()
    ]
    return image_grid(
        images, titles, title=title or f"{len(wrong)} of {len(predictions)} validation images wrong"
    )
