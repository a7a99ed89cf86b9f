"""How much a loss at the end of a sequence depends on each step's input: ‖∂loss/∂x_t‖ for every t.

For a recurrent network the gradient reaching step ``t`` is a product of one Jacobian per later
step. When those factors are small it shrinks geometrically with the distance from the end (it
*vanishes*) and the early steps cannot be learned from; when they are large it explodes.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def summed_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy summed over the batch: each example's gradient is its own, not divided by B."""
    return nn.functional.cross_entropy(logits, targets, reduction="sum")


def input_grad_norms(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = summed_cross_entropy,
) -> torch.Tensor:
    """(T,): the mean over the batch of ‖∂loss/∂inputs[b, t]‖₂, for ``inputs`` (B, T, features).

    The model's ``.grad`` fields are left untouched; ``inputs[:, -1]`` is at distance 0 from the end.
    """
    x = inputs.detach().clone().requires_grad_(True)
    loss = loss_fn(model(x), targets)
    (grad,) = torch.autograd.grad(loss, x)  # (B, T, features)
    return grad.norm(dim=2).mean(dim=0)
