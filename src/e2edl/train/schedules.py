"""Learning-rate schedules the course uses, as ``LambdaLR`` factors of the optimizer's peak rate."""

from __future__ import annotations

import math

import torch


def warmup_cosine(optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int):
    """Learning rate: linear from ~0 to the optimizer's lr over ``warmup_steps``, then a cosine to 0.

    Transformers need the warm-up: AdamW's first steps, taken with poor estimates of the gradient
    scale, are large, and at full learning rate they can wreck the fresh attention layers. Call
    ``scheduler.step()`` after every optimizer step.
    """

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
