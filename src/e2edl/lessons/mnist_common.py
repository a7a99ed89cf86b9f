"""What the MNIST lessons (03 MLP, 04 CNN) share: loading, loaders, predictions and their figures."""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import nn

from e2edl.data import TensorLoader, load_mnist
from e2edl.data.batch_transforms import Compose, Normalize, RandomShift, to_channels_last
from e2edl.figures import image_grid, plot_confusion


@dataclass
class MNIST:
    """The four MNIST tensors in memory and how long reading them took (counted in timed claims)."""

    x_train: torch.Tensor  # (60000, 28, 28) uint8
    y_train: torch.Tensor  # (60000,) int64
    x_test: torch.Tensor  # (10000, 28, 28) uint8
    y_test: torch.Tensor  # (10000,) int64
    load_seconds: float

    @classmethod
    def load(cls, train_subset: int | None = None) -> MNIST:
        start = time.perf_counter()
        x_train, y_train = load_mnist("train")
        x_test, y_test = load_mnist("test")
        if train_subset is not None:
            x_train, y_train = x_train[:train_subset], y_train[:train_subset]
        return cls(x_train, y_train, x_test, y_test, time.perf_counter() - start)

    def train_loader(self, batch_size: int, seed: int, shift: int = 0, channels_last: bool = False):
        """Shuffled batches, normalised, optionally randomly shifted by up to ``shift`` pixels.

        The shifts draw from torch's global generator, which ``fit`` seeds and checkpoints, so a
        resumed run sees the same shifts as an uninterrupted one.
        """
        transforms = [Normalize()]
        if shift:
            transforms.append(RandomShift(shift))
        if channels_last:
            transforms.append(to_channels_last)
        return TensorLoader(
            self.x_train,
            self.y_train,
            batch_size=batch_size,
            shuffle=True,
            seed=seed,
            drop_last=True,
            transform=Compose(*transforms),
        )

    def test_loader(self, batch_size: int = 2500):
        return TensorLoader(self.x_test, self.y_test, batch_size=batch_size, transform=Normalize())


def time_to_accuracy(records: list[dict], target: float, offset: float = 0.0) -> float | None:
    """Seconds (``elapsed`` + ``offset``) at the first record whose ``val_accuracy`` reached ``target``."""
    for record in records:
        if record.get("val_accuracy", 0.0) >= target:
            return record["elapsed"] + offset
    return None


@torch.no_grad()
def predict(model: nn.Module, data: MNIST) -> tuple[torch.Tensor, torch.Tensor]:
    """Test-set predictions (10000,) and per-example losses (10000,), on the CPU."""
    model = model.cpu().eval()
    logits = torch.cat([model(x) for x, _ in data.test_loader()])
    return logits.argmax(1), nn.functional.cross_entropy(logits, data.y_test, reduction="none")


def confusion_figure(predictions: torch.Tensor, labels: torch.Tensor):
    matrix = torch.zeros(10, 10, dtype=torch.int64)
    matrix.index_put_((labels, predictions), torch.ones_like(labels), accumulate=True)
    return plot_confusion(matrix, list(range(10)))


def worst_mistakes_figure(data: MNIST, predictions: torch.Tensor, losses: torch.Tensor, n: int = 20):
    """The ``n`` misclassified test digits the model was most confident about."""
    wrong = (predictions != data.y_test).nonzero().squeeze(1)
    worst = wrong[losses[wrong].argsort(descending=True)[:n]]
    titles = [f"{data.y_test[i].item()}→{predictions[i].item()}" for i in worst]
    return image_grid(data.x_test[worst], titles, title="Worst mistakes (true→predicted)")
