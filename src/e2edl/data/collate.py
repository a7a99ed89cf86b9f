"""Batching sequences of different lengths: pad to the longest, and remember the lengths (the dataloaders lesson).

``default_collate`` stacks samples, so they must all have the same shape. Token sequences, audio
clips and time series do not. ``pad_collate`` pads each batch only to *its* longest sequence
(not to the longest in the data set) and returns the true lengths, which a model needs to
ignore the padding (a mask, ``pack_padded_sequence``) and ``unpad`` needs to undo it exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.nn.utils.rnn import pad_sequence


def pad_collate(
    samples: Sequence[tuple[torch.Tensor, int | torch.Tensor]], pad_value: float = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``[(sequence (T_i, ...), label), ...]`` → ``(padded (B, T_max, ...), lengths (B,), labels (B,))``.

    ``padded[i, :lengths[i]]`` is sample ``i``'s sequence; the rest of row ``i`` is ``pad_value``.
    """
    sequences = [torch.as_tensor(seq) for seq, _ in samples]
    lengths = torch.tensor([len(seq) for seq in sequences], dtype=torch.int64)
    padded = pad_sequence(sequences, batch_first=True, padding_value=pad_value)  # (B, T_max, ...)
    labels = torch.stack([torch.as_tensor(label) for _, label in samples])
    return padded, lengths, labels


def padding_mask(lengths: torch.Tensor, max_length: int | None = None) -> torch.Tensor:
    """Bool (B, T_max): ``True`` where a position holds real data, ``False`` where it is padding."""
    max_length = int(lengths.max()) if max_length is None else max_length
    return torch.arange(max_length, device=lengths.device) < lengths[:, None]


def unpad(padded: torch.Tensor, lengths: torch.Tensor) -> list[torch.Tensor]:
    """The inverse of ``pad_collate``'s padding: a list of ``padded[i, :lengths[i]]``."""
    return [row[:length] for row, length in zip(padded, lengths.tolist())]
