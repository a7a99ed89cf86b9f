"""An endless, checkpointable stream of random training batches from one long token sequence.

A language model trains on one long text (Tiny Shakespeare: about a million characters). There
are no examples to shuffle and no natural epoch: each batch is ``batch_size`` windows of
``block_size + 1`` tokens cut at random starts, the first ``block_size`` the input and the last
``block_size`` (the same window shifted by one) the targets — nanoGPT's ``get_batch``.

``RandomBatches`` draws the starts from its **own** ``torch.Generator``, not the global one, and
``state_dict()`` returns that generator's state: ``fit(..., steps=N)`` stores it in the checkpoint,
so a run killed after step k and resumed draws batch k + 1 exactly as the uninterrupted run did.
"""

from __future__ import annotations

import torch


class RandomBatches:
    """``next(batches)`` → ``(x, y)``, each (batch_size, block_size) int64, ``y`` = ``x`` shifted by one.

    >>> batches = RandomBatches(torch.arange(100), block_size=4, batch_size=2, seed=0)
    >>> x, y = next(batches)
    >>> bool((y[:, :-1] == x[:, 1:]).all()), tuple(x.shape)
    (True, (2, 4))
    """

    def __init__(self, ids: torch.Tensor, block_size: int, batch_size: int, seed: int = 0) -> None:
        if ids.dim() != 1:
            raise ValueError(f"ids must be one long 1-D sequence of token ids, got shape {tuple(ids.shape)}")
        if len(ids) < block_size + 1:
            raise ValueError(f"a sequence of {len(ids)} tokens has no window of block_size {block_size} + 1")
        if block_size < 1 or batch_size < 1:
            raise ValueError(f"block_size and batch_size must be >= 1, got {block_size}, {batch_size}")
        self.ids, self.block_size, self.batch_size, self.seed = ids, block_size, batch_size, seed
        self.offsets = torch.arange(block_size + 1)  # (T + 1,)
        self.generator = torch.Generator().manual_seed(seed)
        self.drawn = 0  # batches drawn so far

    def __iter__(self) -> RandomBatches:
        return self  # one stream: iterating again continues where it stopped

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        # Starts in [0, len - block_size): the last window's target is the sequence's last token.
        starts = torch.randint(len(self.ids) - self.block_size, (self.batch_size,), generator=self.generator)
        chunk = self.ids[starts[:, None] + self.offsets]  # (B, T + 1)
        self.drawn += 1
        return chunk[:, :-1].contiguous(), chunk[:, 1:].contiguous()  # (B, T) each

    def state_dict(self) -> dict:
        """The generator's state (a uint8 tensor) and the count: all a resumed run needs."""
        return {"generator": self.generator.get_state(), "drawn": self.drawn, "seed": self.seed}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.drawn, self.seed = int(state["drawn"]), int(state["seed"])

    def __repr__(self) -> str:
        return (
            f"RandomBatches({len(self.ids):,} tokens, block_size={self.block_size}, "
            f"batch_size={self.batch_size}, seed={self.seed}, drawn={self.drawn})"
        )
