"""Imbalanced data on purpose: a subset with a chosen number of samples of each class.

What a rare class does to a random validation split, or to a classifier that sees it once in ten
samples, is easiest to show on a balanced data set made imbalanced with known counts.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def imbalanced_subset(
    labels: Sequence[int] | torch.Tensor, counts: Sequence[int], seed: int = 0
) -> torch.Tensor:
    """Sorted indices of ``counts[c]`` samples of class ``c``, for each class, drawn at random with ``seed``.

    ``imbalanced_subset(labels, [1000, 100])``: 1,000 random samples of class 0 and 100 of class 1.
    """
    labels = torch.as_tensor(labels)
    generator = torch.Generator().manual_seed(seed)
    picked = []
    for cls, count in enumerate(counts):
        members = (labels == cls).nonzero().flatten()
        if count > len(members):
            raise ValueError(f"class {cls} has {len(members)} samples, fewer than the {count} asked for")
        picked.append(members[torch.randperm(len(members), generator=generator)[:count]])
    return torch.cat(picked).sort().values
