"""Batches of sequences with similar lengths, so that a batch carries little padding.

A batch of sequences is padded to its longest member. Drawn at random, a batch of IMDb reviews
mixes 50-token and 1,000-token reviews, and most of the tensor is padding: work and memory spent
on nothing (``benchmarks/padding_vs_bucketing.py`` measures how much). **Bucketing** fixes that and
keeps the randomness training needs: shuffle, cut the shuffled order into chunks of
``bucket_batches`` batches, sort each chunk by length, cut it into batches, and shuffle the order
of the batches. Each batch then holds neighbours in length; which reviews meet in a batch, and the
order of the batches, still change from epoch to epoch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch


class BucketBatchSampler:
    """Lists of indices, each a batch of sequences of similar length (a ``batch_sampler``).

    ``lengths[i]`` is sequence ``i``'s length. With ``shuffle=False`` the batches follow the sorted
    lengths (the least padding possible; for evaluation). The order of epoch ``e`` depends only on
    ``(seed, e)``: call ``set_epoch(e)`` before each epoch (``fit`` does).
    """

    def __init__(
        self,
        lengths: Sequence[int] | torch.Tensor,
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        bucket_batches: int = 50,
        drop_last: bool = False,
    ) -> None:
        if batch_size < 1 or bucket_batches < 1:
            raise ValueError(
                f"batch_size and bucket_batches must be >= 1, got {batch_size}, {bucket_batches}"
            )
        self.lengths = torch.as_tensor(lengths, dtype=torch.int64)
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.bucket_batches, self.drop_last = bucket_batches, drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        n = len(self.lengths)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def batches(self) -> list[torch.Tensor]:
        """This epoch's batches, each an int64 tensor of indices."""
        n = len(self.lengths)
        if not self.shuffle:
            order = torch.sort(self.lengths, stable=True).indices
            return self._cut(order)
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(n, generator=generator)
        chunk = self.bucket_batches * self.batch_size
        batches = []
        for start in range(0, n, chunk):
            part = order[start : start + chunk]
            by_length = part[torch.sort(self.lengths[part], stable=True).indices]
            batches += self._cut(by_length)
        if self.drop_last:
            batches = [b for b in batches if len(b) == self.batch_size][: len(self)]
        return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]

    def _cut(self, order: torch.Tensor) -> list[torch.Tensor]:
        batches = list(order.split(self.batch_size))
        return batches[:-1] if self.drop_last and batches and len(batches[-1]) < self.batch_size else batches

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.batches():
            yield batch.tolist()

    def state_dict(self) -> dict:
        return {"seed": self.seed, "epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        self.seed, self.epoch = int(state["seed"]), int(state["epoch"])


def random_batches(n: int, batch_size: int, seed: int = 0, epoch: int = 0) -> list[torch.Tensor]:
    """Plain shuffled batches of ``range(n)``: what a ``DataLoader(shuffle=True)`` draws (for comparison)."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return list(torch.randperm(n, generator=generator).split(batch_size))


def padding_share(
    batches: Sequence[Sequence[int] | torch.Tensor], lengths: Sequence[int] | torch.Tensor
) -> float:
    """The fraction of the padded batches' slots that hold padding, not tokens.

    A batch of sequences of lengths ``ℓ_1..ℓ_B`` takes ``B · max ℓ`` slots and fills ``Σ ℓ`` of them.
    """
    lengths = torch.as_tensor(lengths, dtype=torch.int64)
    slots = tokens = 0
    for batch in batches:
        batch_lengths = lengths[torch.as_tensor(batch, dtype=torch.int64)]
        slots += len(batch_lengths) * int(batch_lengths.max())
        tokens += int(batch_lengths.sum())
    return 1 - tokens / slots if slots else 0.0
