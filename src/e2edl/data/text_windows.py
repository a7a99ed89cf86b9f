"""Windows of a long token stream for a language model: ``(x, y)`` with ``y`` = ``x`` shifted by one.

A language model learns from one long text (Tiny Shakespeare: 1,115,394 characters). A training
batch is ``B`` windows of ``T`` tokens drawn at random positions; the target of each token is the
next one. Validation reads the held-out text in consecutive windows, every window once, so the
score is the same at every evaluation and does not depend on a random draw.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from e2edl.data.text import Vocabulary


def nanogpt_split(text: str, train_fraction: float = 0.9) -> tuple[str, str]:
    """nanoGPT's split: the first 90% of the text to train on, the last 10% to validate on."""
    n = int(len(text) * train_fraction)
    return text[:n], text[n:]


@dataclass
class CharSplits:
    """A text cut by :func:`nanogpt_split`, as character ids of the training part's vocabulary."""

    vocabulary: Vocabulary
    train_ids: torch.Tensor  # (N_train,) int64
    val_ids: torch.Tensor  # (N_val,) int64

    @classmethod
    def of(cls, text: str, train_fraction: float = 0.9) -> CharSplits:
        train, val = nanogpt_split(text, train_fraction)
        vocabulary = Vocabulary.of_characters(train)
        return cls(vocabulary, vocabulary.encode(train), vocabulary.encode(val))


class RandomWindows:
    """``steps`` batches of ``(x, y)``, each (batch_size, length) int64, from random starts in ``ids``.

    An "epoch" is ``steps`` batches (a long text is never read in a fixed order); the starts of
    epoch ``e`` depend only on ``(seed, e)``, so a resumed run draws what an uninterrupted one would.
    """

    def __init__(self, ids: torch.Tensor, length: int, batch_size: int, steps: int, seed: int = 0) -> None:
        if len(ids) < length + 1:
            raise ValueError(f"a text of {len(ids)} tokens has no window of {length} + 1 tokens")
        self.ids, self.length, self.batch_size, self.steps = ids, length, batch_size, steps
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        offsets = torch.arange(self.length + 1)
        for _ in range(self.steps):
            starts = torch.randint(len(self.ids) - self.length, (self.batch_size,), generator=generator)
            chunk = self.ids[starts[:, None] + offsets]  # (B, T + 1)
            yield chunk[:, :-1], chunk[:, 1:]

    def state_dict(self) -> dict:
        return {"seed": self.seed, "epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        self.seed, self.epoch = int(state["seed"]), int(state["epoch"])


class ConsecutiveWindows:
    """Every complete window of ``length`` tokens of ``ids``, one after the other, as ``(x, y)`` batches.

    Window ``k`` predicts tokens ``k·length + 1 .. (k+1)·length``; the last ``(len(ids) − 1) mod
    length`` targets, which fill no complete window, are left out (``targets`` says how many count).
    """

    def __init__(self, ids: torch.Tensor, length: int, batch_size: int) -> None:
        self.windows = (len(ids) - 1) // length
        if self.windows < 1:
            raise ValueError(f"a text of {len(ids)} tokens has no window of {length} + 1 tokens")
        self.ids, self.length, self.batch_size = ids, length, batch_size

    @property
    def targets(self) -> int:
        """How many next-token predictions the windows score."""
        return self.windows * self.length

    def __len__(self) -> int:
        return -(-self.windows // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        offsets = torch.arange(self.length + 1)
        for first in range(0, self.windows, self.batch_size):
            starts = torch.arange(first, min(first + self.batch_size, self.windows)) * self.length
            chunk = self.ids[starts[:, None] + offsets]  # (B, T + 1)
            yield chunk[:, :-1], chunk[:, 1:]
