"""Which parameters weight decay should shrink: the weight matrices, not the rest."""

from __future__ import annotations

from torch import nn


def weight_decay_groups(model: nn.Module, weight_decay: float, skip: set[str] | None = None) -> list[dict]:
    """Two optimizer parameter groups: matrices and kernels (``ndim >= 2``) decay, the rest do not.

    Biases and normalisation scales (1-D) are left alone: shrinking a LayerNorm gain or a bias
    towards zero is not a simpler model, only a different one. ``skip`` names further parameters to
    leave alone; by default the model's own ``no_weight_decay()`` (timm's convention: a ViT's CLS
    token and positions) is asked.

    >>> groups = weight_decay_groups(nn.Linear(3, 2), 0.05)
    >>> [(len(g["params"]), g["weight_decay"]) for g in groups]
    [(1, 0.05), (1, 0.0)]
    """
    if skip is None:
        skip = set(model.no_weight_decay()) if hasattr(model, "no_weight_decay") else set()
    decay, keep = [], []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        (keep if parameter.ndim < 2 or name in skip else decay).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": keep, "weight_decay": 0.0}]
