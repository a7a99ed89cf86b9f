"""Drawing every class equally often from imbalanced data: weights for ``WeightedRandomSampler``.

Give each sample the weight ``1 / (number of samples of its class)``. Every class then has the
same total weight, so a sampler that draws with probability proportional to weight draws each
class with probability ``1 / num_classes`` — minority samples are drawn many times per epoch
(with replacement), majority samples some not at all.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.utils.data import WeightedRandomSampler


def class_balancing_weights(labels: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """float64 (N,): sample ``i`` weighs ``1 / count(labels[i])``; each class's weights sum to 1."""
    labels = torch.as_tensor(labels, dtype=torch.int64)
    counts = torch.bincount(labels)
    return 1.0 / counts[labels].double()


def balanced_sampler(
    labels: Sequence[int] | torch.Tensor,
    num_samples: int | None = None,
    generator: torch.Generator | None = None,
) -> WeightedRandomSampler:
    """A sampler that draws ``num_samples`` indices (default: ``len(labels)``) with replacement,
    every class equally likely. Pass it as ``DataLoader(dataset, sampler=...)`` (then no ``shuffle``)."""
    weights = class_balancing_weights(labels)
    return WeightedRandomSampler(weights, num_samples or len(weights), replacement=True, generator=generator)


def class_shares(labels: Sequence[int] | torch.Tensor, num_classes: int | None = None) -> torch.Tensor:
    """float64 (C,): the fraction of ``labels`` in each class."""
    labels = torch.as_tensor(labels, dtype=torch.int64)
    counts = torch.bincount(labels, minlength=num_classes or 0).double()
    return counts / counts.sum()
