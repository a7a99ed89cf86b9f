"""A multilayer perceptron: the fully connected network of lesson 03."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn


class MLP(nn.Sequential):
    """``Flatten → [Linear → ReLU → Dropout] × len(hidden) → Linear``.

    Input (B, *) is flattened to (B, in_features); output (B, out_features) are logits.

    >>> MLP(784, [256, 128], 10)(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """

    def __init__(
        self, in_features: int, hidden: Sequence[int], out_features: int, dropout: float = 0.0
    ) -> None:
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = size
        layers.append(nn.Linear(width, out_features))
        super().__init__(*layers)
