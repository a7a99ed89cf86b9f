"""Batches of token sequences for ``fit``: ``((padded, lengths), labels)``, bucketed by length.

``fit`` and ``evaluate`` call ``model(inputs)`` on the first element of each batch and move the
whole batch (nested tuples included) to the model's device. A sequence model gets ``(padded,
lengths)``: ``padded`` (B, T_max) int64 token ids, ``<pad>`` after each sequence's end, and
``lengths`` (B,) int64, which ``fit`` moves to the model's device with the rest. The models in
``e2edl.nn.text_classifiers`` do not pack: they index and mask with ``lengths`` on the device
(``pack_padded_sequence``, which wants the lengths on the CPU, is what they are tested against).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from e2edl.data.bucketing import BucketBatchSampler, random_batches
from e2edl.data.collate import pad_collate

Batch = tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor]


def text_collate(samples: Sequence[tuple[torch.Tensor, int]], pad_id: int = 0) -> Batch:
    """``[(ids (T_i,), label), ...]`` → ``((padded (B, T_max), lengths (B,)), labels (B,))``."""
    padded, lengths, labels = pad_collate(samples, pad_value=pad_id)
    return (padded, lengths), labels


class SequenceLoader:
    """Iterate ``((padded, lengths), labels)`` batches over in-memory token sequences.

    ``bucketing=True`` groups sequences of similar length (:class:`BucketBatchSampler`);
    ``bucketing=False`` draws plain random batches (or, without ``shuffle``, keeps the data's order).
    ``sample_order()`` says which sample each row of the concatenated batches is, so predictions
    can be put back in the data's order.
    """

    def __init__(
        self,
        sequences: Sequence[torch.Tensor],
        labels: Sequence[int] | torch.Tensor,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        bucketing: bool = True,
        pad_id: int = 0,
        bucket_batches: int = 50,
    ) -> None:
        if len(sequences) != len(labels):
            raise ValueError(f"{len(sequences)} sequences but {len(labels)} labels")
        empty = next((i for i, s in enumerate(sequences) if len(s) == 0), None)
        if empty is not None:
            raise ValueError(f"sequence {empty} is empty: a model cannot read zero tokens; drop it first")
        self.sequences = list(sequences)
        self.labels = torch.as_tensor(labels, dtype=torch.int64)
        self.lengths = torch.tensor([len(s) for s in self.sequences], dtype=torch.int64)
        self.batch_size, self.shuffle, self.bucketing, self.pad_id = batch_size, shuffle, bucketing, pad_id
        self.sampler = BucketBatchSampler(self.lengths, batch_size, shuffle, seed, bucket_batches)

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.sampler)

    def batches(self) -> list[torch.Tensor]:
        """This epoch's batches of sample indices."""
        if self.bucketing:
            return self.sampler.batches()
        n = len(self.sequences)
        if not self.shuffle:
            return list(torch.arange(n).split(self.batch_size))
        return random_batches(n, self.batch_size, self.sampler.seed, self.sampler.epoch)

    def sample_order(self) -> torch.Tensor:
        """int64 (N,): the sample index of each row, over all of this epoch's batches in turn."""
        return torch.cat(self.batches())

    def __iter__(self) -> Iterator[Batch]:
        for batch in self.batches():
            samples = [(self.sequences[i], self.labels[i]) for i in batch.tolist()]
            yield text_collate(samples, self.pad_id)

    def state_dict(self) -> dict:
        return self.sampler.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.sampler.load_state_dict(state)
