"""Splitting a labelled data set: the same share of every class in each part."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch


def stratified_split(
    labels: Sequence[int] | torch.Tensor, val_fraction: float, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(train_idx, val_idx)``: the same fraction of every class goes to validation.

    Each class's indices are shuffled with ``seed`` and the first ``round(n_class ·
    val_fraction)`` go to validation. Both index tensors are sorted; the same labels and seed
    always give the same split.
    """
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    labels = torch.as_tensor(labels)
    generator = torch.Generator().manual_seed(seed)
    train, val = [], []
    for cls in torch.unique(labels):  # sorted, so the random stream is used in a fixed order
        members = (labels == cls).nonzero().flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        n_val = math.floor(len(members) * val_fraction + 0.5)
        val.append(members[:n_val])
        train.append(members[n_val:])
    return torch.cat(train).sort().values, torch.cat(val).sort().values


def balanced_subset(idx: torch.Tensor, labels: torch.Tensor, n: int) -> torch.Tensor:
    """The first ``n // classes`` indices of each class in ``idx``, in sorted order.

    Used on the output of :func:`stratified_split` (each class already shuffled by the split's
    seed) to take a smaller, still balanced, part of it — quick mode's subsets.
    """
    classes = torch.unique(labels[idx])
    per_class = n // len(classes)
    parts = [idx[labels[idx] == c][:per_class] for c in classes]
    return torch.cat(parts).sort().values
