"""Each rank its own part of every global batch: the loaders of data-parallel training.

In data-parallel training every process (a *rank*, ``0 … world_size-1``) holds the whole model
and trains on a different part of the data; averaging the gradients makes one step on the union
of the parts. Here the loader keeps its meaning — ``batch_size`` is the **global** batch, the one
a single process would take — and rank ``r`` of ``N`` takes the ``r``-th of ``N`` equal slices of
each global batch::

    global batch i (one process)   [ s0 s1 s2 s3 s4 s5 s6 s7 ]
    rank 0 of 2                    [ s0 s1 s2 s3 ]
    rank 1 of 2                                [ s4 s5 s6 s7 ]

So 2 processes with batch 4 each follow exactly the loss curve of 1 process with batch 8: the
mean of the two slices' mean losses is the global batch's mean loss, and so are the gradients.
Every rank draws the same global order (it depends only on the loader's seed and epoch), so no
rank needs to tell another which samples it took.

Three kinds of loaders, one rule:

- :class:`RankShard` — a ``TensorLoader`` (anything with ``order()``, ``tensors`` and
  ``batch_size``): the rank gathers only its own slice, so augmentations run on ``B/N`` samples.
- a ``torch.utils.data.DataLoader``: :func:`shard_loader` rebuilds it with a
  ``DistributedSampler`` and ``batch_size / N`` (PyTorch's standard way; its slices interleave
  ranks, ``indices[rank::N]``, so its batches are other samples than a single process's).
- anything else that yields batches in the same order on every rank (an endless sampler with its
  own seeded generator, ``e2edl.train.batches.RandomBatches``): :class:`BatchSlices` keeps the
  rank's slice of each batch it yields (:class:`SizedBatchSlices` where the loader has a length,
  which it keeps; an endless sampler has none, and neither have its slices).

Every rank yields the same number of batches — a rank that runs out first would leave the others
waiting in a collective forever. A global batch with fewer samples than ranks (the last one) is
dropped; one that does not split evenly gives slices that differ by one sample.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import torch


def _check_rank(rank: int, world_size: int) -> None:
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, world_size), got rank {rank} of world_size {world_size}")


def rank_slice(batch, rank: int, world_size: int):
    """The ``rank``-th of ``world_size`` near-equal slices (first dimension) of a batch: a tensor,
    or a tuple/list/dict of tensors that share their first dimension."""
    if isinstance(batch, torch.Tensor):
        return batch.tensor_split(world_size)[rank]
    if isinstance(batch, dict):
        return {key: rank_slice(value, rank, world_size) for key, value in batch.items()}
    if isinstance(batch, (tuple, list)):
        return type(batch)(rank_slice(part, rank, world_size) for part in batch)
    raise TypeError(f"cannot slice a batch of type {type(batch).__name__}: give tensors, tuples or dicts")


def _batch_size(batch) -> int:
    if isinstance(batch, torch.Tensor):
        return len(batch)
    if isinstance(batch, dict):
        return _batch_size(next(iter(batch.values())))
    return _batch_size(batch[0])


class _Delegating:
    """Pass ``set_epoch``, ``state_dict``, ``load_state_dict`` and the rest to the wrapped loader,
    so ``fit`` checkpoints and re-seeds the shard exactly as it would the loader itself."""

    loader: Iterable

    def __getattr__(self, name: str):
        if name == "loader":  # not set yet (during unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.loader, name)


class RankShard(_Delegating):
    """Rank ``rank``'s slice of each global batch of a ``TensorLoader`` (see the module docstring).

    ``len(shard)`` is the number of global batches (the same on every rank); each batch holds
    about ``batch_size / world_size`` samples, gathered from the loader's tensors directly.
    """

    def __init__(self, loader, rank: int, world_size: int) -> None:
        _check_rank(rank, world_size)
        if loader.batch_size < world_size:
            raise ValueError(
                f"a global batch of {loader.batch_size} cannot be shared by {world_size} ranks: "
                "make batch_size at least the number of processes"
            )
        self.loader, self.rank, self.world_size = loader, rank, world_size

    def _global_batches(self) -> int:
        n, b = len(self.loader.tensors[0]), self.loader.batch_size
        full, rest = divmod(n, b)
        return full + (not self.loader.drop_last and rest >= self.world_size)

    def __len__(self) -> int:
        return self._global_batches()

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        order, b = self.loader.order(), self.loader.batch_size
        for i in range(self._global_batches()):
            idx = order[i * b : (i + 1) * b].tensor_split(self.world_size)[self.rank]  # this rank's slice
            batch = tuple(t.index_select(0, idx) for t in self.loader.tensors)
            yield self.loader.transform(batch) if self.loader.transform else batch

    def __repr__(self) -> str:
        return f"RankShard(rank {self.rank} of {self.world_size}, {len(self)} batches of {self.loader!r})"


class BatchSlices(_Delegating):
    """Rank ``rank``'s slice of every batch another iterable yields (the same batches on every
    rank: an endless sampler with its own seeded generator). Batches with fewer samples than
    ranks are skipped."""

    def __init__(self, loader: Iterable, rank: int, world_size: int) -> None:
        _check_rank(rank, world_size)
        self.loader, self.rank, self.world_size = loader, rank, world_size

    def __iter__(self) -> Iterator:
        for batch in self.loader:
            if _batch_size(batch) >= self.world_size:
                yield rank_slice(batch, self.rank, self.world_size)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(rank {self.rank} of {self.world_size} of {self.loader!r})"


class SizedBatchSlices(BatchSlices):
    """``BatchSlices`` of a loader with a length, which it keeps. Only such a loader's slices have a
    ``__len__``: an endless sampler has none, and ``fit`` asks ``hasattr(loader, "__len__")``."""

    def __len__(self) -> int:
        return len(self.loader)


def _is_tensor_loader(loader) -> bool:
    return all(hasattr(loader, name) for name in ("order", "tensors", "batch_size", "drop_last"))


def _distributed_data_loader(loader, rank: int, world_size: int):
    """The same ``DataLoader`` with a ``DistributedSampler`` and the global batch split by rank."""
    from torch.utils.data import DataLoader, RandomSampler, SequentialSampler
    from torch.utils.data.distributed import DistributedSampler

    if loader.batch_size is None or type(loader.sampler) not in (RandomSampler, SequentialSampler):
        raise ValueError(
            "this DataLoader has its own sampler or batch_sampler; give it a DistributedSampler "
            "yourself (torch.utils.data.distributed.DistributedSampler) for data-parallel training"
        )
    if loader.batch_size % world_size:
        raise ValueError(
            f"the global batch of {loader.batch_size} does not split into {world_size} equal per-rank "
            "batches: make batch_size a multiple of the number of processes"
        )
    shuffle = isinstance(loader.sampler, RandomSampler)
    sampler = DistributedSampler(
        loader.dataset, num_replicas=world_size, rank=rank, shuffle=shuffle, drop_last=loader.drop_last
    )
    return DataLoader(
        loader.dataset,
        batch_size=loader.batch_size // world_size,
        sampler=sampler,
        num_workers=loader.num_workers,
        collate_fn=loader.collate_fn,
        pin_memory=loader.pin_memory,
        drop_last=loader.drop_last,
        worker_init_fn=loader.worker_init_fn,
        persistent_workers=loader.persistent_workers,
        prefetch_factor=loader.prefetch_factor,
    )


def shard_loader(loader: Iterable | None, rank: int, world_size: int):
    """``loader`` as rank ``rank`` of ``world_size`` sees it (``None`` stays ``None``; one rank:
    the loader itself). See the module docstring for which wrapper each kind of loader gets."""
    if loader is None or world_size == 1 or isinstance(loader, (RankShard, BatchSlices)):
        return loader
    _check_rank(rank, world_size)
    if _is_tensor_loader(loader):
        return RankShard(loader, rank, world_size)
    from torch.utils.data import DataLoader

    if isinstance(loader, DataLoader):
        return _distributed_data_loader(loader, rank, world_size)
    sized = hasattr(loader, "__len__")
    return (SizedBatchSlices if sized else BatchSlices)(loader, rank, world_size)


def is_sharded(loader) -> bool:
    """Whether ``loader`` yields only this rank's part of the data (so its sums need a reduction)."""
    from torch.utils.data import DataLoader
    from torch.utils.data.distributed import DistributedSampler

    if isinstance(loader, (RankShard, BatchSlices)):
        return loader.world_size > 1
    return isinstance(loader, DataLoader) and isinstance(loader.sampler, DistributedSampler)
