"""How much gradient reaches each layer: per-layer gradient norms on one batch (the residual lesson)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def layer_grad_norms(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = nn.functional.cross_entropy,
    layer_types: tuple[type[nn.Module], ...] = (nn.Conv2d, nn.Linear),
) -> list[tuple[str, float]]:
    """``(layer name, ‖∂loss/∂weight‖₂)`` for each layer of ``layer_types``, in input-to-output order.

    One forward and backward pass on ``(inputs, targets)`` in training mode (BatchNorm uses the
    batch's statistics, as it does during training). The model's ``.grad`` fields are left as
    they were, and its BatchNorm running statistics are restored afterwards.
    """
    layers = [(name, m) for name, m in model.named_modules() if isinstance(m, layer_types)]
    buffers = {name: b.clone() for name, b in model.named_buffers()}
    was_training = model.training
    model.train()
    weights = [m.weight for _, m in layers]
    loss = loss_fn(model(inputs), targets)
    grads = torch.autograd.grad(loss, weights)  # does not touch .grad
    with torch.no_grad():
        for name, b in model.named_buffers():
            b.copy_(buffers[name])
    model.train(was_training)
    return [(name, float(g.norm())) for (name, _), g in zip(layers, grads)]
