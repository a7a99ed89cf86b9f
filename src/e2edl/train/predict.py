"""Predictions of a trained model over a whole loader, gathered on the CPU."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from e2edl.train.device import pick_device


@torch.no_grad()
def predict_logits(
    model: nn.Module, loader: Iterable, amp: bool = False, device: str | torch.device | None = "cpu"
) -> torch.Tensor:
    """Logits (N, classes) for every ``(inputs, _)`` batch of ``loader``, in order, on the CPU.

    ``amp=True`` runs the model in bf16 autocast (on a CPU with bf16 instructions, faster).
    """
    device = pick_device(device)
    model = model.to(device).eval()
    outputs = []
    for inputs, _ in loader:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            outputs.append(model(inputs.to(device)).float().cpu())
    return torch.cat(outputs)
