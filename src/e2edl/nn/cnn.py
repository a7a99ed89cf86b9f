"""A small, fast convolutional network for 28×28 digits (the mnist-cnn lesson)."""

from __future__ import annotations

from torch import nn


class MnistCNN(nn.Sequential):
    """Two LeNet-style stages and a classifier head; input (B, 1, 28, 28) → logits (B, 10).

    Each stage is ``Conv 5×5 (no padding) → MaxPool 2 → BatchNorm → ReLU``:

        (B, 1, 28, 28) → conv → (B, c1, 24, 24) → pool → (B, c1, 12, 12)
                       → conv → (B, c2, 8, 8)   → pool → (B, c2, 4, 4) → flatten (B, 16·c2)
                       → Linear → BatchNorm → ReLU → (B, hidden) → Linear → (B, 10)

    Pooling *before* BatchNorm and ReLU normalises and activates a quarter of the values, which
    makes the stage cheaper on a CPU; ReLU commutes with max-pooling, and BatchNorm after the pool
    still normalises what the next layer sees. Convolutions and the first linear layer have no
    bias because the BatchNorm right after them has its own shift.
    ``batchnorm=False`` swaps every BatchNorm for an identity (the mnist-cnn lesson's ablation).
    """

    def __init__(self, c1: int = 16, c2: int = 32, hidden: int = 128, batchnorm: bool = True) -> None:
        norm2d = nn.BatchNorm2d if batchnorm else (lambda c: nn.Identity())
        norm1d = nn.BatchNorm1d if batchnorm else (lambda c: nn.Identity())
        super().__init__(
            nn.Conv2d(1, c1, 5, bias=not batchnorm), nn.MaxPool2d(2), norm2d(c1), nn.ReLU(),
            nn.Conv2d(c1, c2, 5, bias=not batchnorm), nn.MaxPool2d(2), norm2d(c2), nn.ReLU(),
            nn.Flatten(),
            nn.Linear(c2 * 4 * 4, hidden, bias=not batchnorm), norm1d(hidden), nn.ReLU(),
            nn.Linear(hidden, 10),
        )  # fmt: skip
