"""Rotary position embeddings (RoPE; Su et al. 2021, *RoFormer*).

GPT-2 *adds* a learned vector per position to each token. RoPE instead *rotates* each query and
key: split the head's ``hs`` coordinates into ``hs/2`` pairs, and turn pair ``i`` of the vector at
position ``m`` by the angle ``m·θ_i``, with ``θ_i = base^(-2i/hs)`` (fast turns for the first
pairs, slow ones for the last). Rotations preserve dot products up to the angle between them, so

    q_m · k_n  depends on the positions only through  m − n,

attention sees *relative* positions, no parameters are learned, and nothing ties the model to a
fixed table of positions.

Which coordinates form a pair is a layout choice. In complex-number form (Meta's original code,
and the GGUF files) pair ``i`` is coordinates ``(2i, 2i+1)``: ``x_i ↦ x_i · e^{i m θ_i}``
(``rope_complex``). Hugging Face's Llama pairs ``i`` with ``i + hs/2`` ("half split",
``apply_rope``), which needs no interleaving. Both give the same attention if the query and key
projection rows are permuted to match: ``interleaved_to_half_split`` is that permutation, the one
``transformers``' GGUF loader undoes on ``attn_q``/``attn_k`` when it reads a GGUF Llama.
"""

from __future__ import annotations

import torch


def rope_angles(
    head_dim: int, max_len: int, base: float = 10_000.0, device: str | torch.device = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of ``m·θ_i`` for positions m < max_len and pairs i < head_dim/2: (max_len, hs/2) each."""
    if head_dim % 2:
        raise ValueError(f"RoPE rotates pairs of coordinates: head_dim must be even, got {head_dim}")
    theta = 1.0 / base ** (
        torch.arange(0, head_dim, 2, dtype=torch.float32, device=device) / head_dim
    )  # (hs/2,)
    angles = torch.arange(max_len, dtype=torch.float32, device=device)[:, None] * theta  # (max_len, hs/2)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate x (..., T, hs) in the half-split layout: coordinate i pairs with i + hs/2.
    cos, sin: (T, hs/2), the rows of ``rope_angles`` for x's positions."""
    x1, x2 = x.chunk(2, dim=-1)  # (..., T, hs/2) each: the two coordinates of every pair
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)  # a 2-D rotation per pair


def rope_complex(x: torch.Tensor, positions: torch.Tensor, base: float = 10_000.0) -> torch.Tensor:
    """The equation as complex numbers, interleaved layout: x (..., T, hs), coordinates (2i, 2i+1)
    read as one complex number and multiplied by e^{i·m·θ_i}; positions (T,)."""
    hs = x.size(-1)
    theta = 1.0 / base ** (torch.arange(0, hs, 2, dtype=torch.float64) / hs)  # (hs/2,)
    rotation = torch.polar(
        torch.ones(len(positions), hs // 2, dtype=torch.float64), positions[:, None] * theta
    )
    z = torch.view_as_complex(x.double().reshape(*x.shape[:-1], hs // 2, 2))  # (..., T, hs/2)
    return torch.view_as_real(z * rotation).flatten(-2).to(x.dtype)  # (..., T, hs)


def interleaved_to_half_split(weight: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Reorder a query or key projection's output rows (n_heads·hs, in) from the interleaved
    layout (pairs at 2i, 2i+1) to the half-split one (pairs at i, i + hs/2), head by head."""
    rows = weight.shape[0]
    hs = rows // n_heads
    pairs = weight.reshape(n_heads, hs // 2, 2, *weight.shape[1:])  # (heads, pair, which coordinate, ...)
    return pairs.transpose(1, 2).reshape(weight.shape)  # first coordinates of all pairs, then the second
