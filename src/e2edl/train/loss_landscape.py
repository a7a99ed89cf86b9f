"""The loss along a random direction in weight space, scaled per filter (Li et al., 2018; the residual lesson).

A direction ``d`` is a random tensor for every weight. Raw Gaussian noise would be unfair between
networks: a network whose weights are large barely notices a step of size 1, one with small
weights is thrown far. *Filter normalisation* rescales ``d`` so that each filter (each output
channel of a convolution, each row of a linear layer) has the same norm as that filter of the
trained weights; then ``loss(θ + α·d)`` for α in [-1, 1] compares networks on the same footing.
BatchNorm parameters and biases are left out of the direction (kept at their trained values).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn


def filter_normalised_direction(model: nn.Module, generator: torch.Generator | None = None) -> dict:
    """``{parameter name: direction}`` for every weight with ≥ 2 dimensions, each filter rescaled
    to the norm of the matching filter of the model's weights."""
    direction = {}
    for name, p in model.named_parameters():
        if p.dim() < 2:
            continue
        d = torch.randn(p.shape, generator=generator).to(p)
        filter_norms = p.detach().flatten(1).norm(dim=1)  # (out_channels,)
        d_norms = d.flatten(1).norm(dim=1)
        scale = (filter_norms / (d_norms + 1e-12)).view(-1, *[1] * (p.dim() - 1))
        direction[name] = d * scale
    return direction


@torch.no_grad()
def loss_along(
    model: nn.Module,
    direction: dict,
    alphas: Sequence[float],
    batches: Sequence[tuple[torch.Tensor, torch.Tensor]],
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = nn.functional.cross_entropy,
) -> list[float]:
    """Mean loss over ``batches`` (evaluation mode) at ``θ + α·direction`` for each α; restores θ."""
    params = dict(model.named_parameters())
    original = {name: params[name].detach().clone() for name in direction}
    was_training = model.training
    model.eval()
    losses = []
    try:
        for alpha in alphas:
            for name, d in direction.items():
                params[name].copy_(original[name] + alpha * d)
            total, count = 0.0, 0
            for inputs, targets in batches:
                total += float(loss_fn(model(inputs), targets)) * len(targets)
                count += len(targets)
            losses.append(total / count)
    finally:
        for name in direction:
            params[name].copy_(original[name])
        model.train(was_training)
    return losses
