"""SwiGLU: the gated MLP of Llama-style models (Shazeer 2020, *GLU Variants Improve Transformer*).

GPT-2's MLP is ``W₂ · gelu(W₁ x)``. A gated linear unit multiplies two projections of the input,
one of them through a non-linearity, so each hidden unit can be switched on or off *by the
input*: ``W_down · (silu(W_gate x) ⊙ (W_up x))``, with ``silu(z) = z · sigmoid(z)``. It has three
matrices instead of two, so at equal parameter count the hidden width is about 2/3 of GPT's 4×
(8/3·dim; SmolLM2-135M: 576 → 1536).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SwiGLU(nn.Module):
    """(..., dim) → (..., dim) through a gated hidden layer of width ``hidden``. Names as Llama's."""

    def __init__(self, dim: int, hidden: int, bias: bool = False) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(dim, hidden, bias=bias)
        self.up_proj = nn.Linear(dim, hidden, bias=bias)
        self.down_proj = nn.Linear(hidden, dim, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = F.silu(self.gate_proj(x))  # (..., hidden): how open each unit is
        return self.down_proj(gate * self.up_proj(x))  # (..., dim)
