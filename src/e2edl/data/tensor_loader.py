"""Batches straight from in-memory tensors: no per-sample indexing, no collate, no PIL.

A ``DataLoader`` over a ``TensorDataset`` fetches every sample one by one and stacks them again;
for a data set that already sits in memory as tensors (MNIST is 47 MB) slicing a whole batch at
once is an order of magnitude faster. The shuffle order of epoch ``e`` depends only on
``(seed, e)``, so a resumed run sees exactly the batches an uninterrupted one would have seen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch


class TensorLoader:
    """Iterate ``(x[idx], y[idx], ...)`` batches over tensors that share their first dimension.

    ``transform(batch_tuple) -> batch_tuple`` runs on each whole batch (batched augmentation or
    normalisation). Call ``set_epoch(e)`` before each epoch (``fit`` does) to get epoch ``e``'s order.
    """

    def __init__(
        self,
        *tensors: torch.Tensor,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
        transform: Callable[[tuple[torch.Tensor, ...]], tuple[torch.Tensor, ...]] | None = None,
    ) -> None:
        if not tensors:
            raise ValueError("TensorLoader needs at least one tensor")
        n = len(tensors[0])
        if any(len(t) != n for t in tensors):
            sizes = ", ".join(str(len(t)) for t in tensors)
            raise ValueError(f"TensorLoader tensors must have the same length, got {sizes}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.tensors = tensors
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.transform = transform
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def order(self) -> torch.Tensor:
        """The sample order of the current epoch."""
        n = len(self.tensors[0])
        if not self.shuffle:
            return torch.arange(n)
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return torch.randperm(n, generator=generator)

    def __len__(self) -> int:
        n = len(self.tensors[0])
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        order = self.order()
        for i in range(len(self)):
            idx = order[i * self.batch_size : (i + 1) * self.batch_size]
            batch = tuple(t.index_select(0, idx) for t in self.tensors)  # = t[idx], ~10× faster on images
            yield self.transform(batch) if self.transform else batch

    def state_dict(self) -> dict:
        return {"seed": self.seed, "epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        self.seed, self.epoch = int(state["seed"]), int(state["epoch"])
