"""Scaled dot-product attention, three ways: one head, a loop over heads, all heads at once.

Vaswani et al., *Attention Is All You Need* (2017). Each token's vector is projected three times:
a **query** ("what am I looking for?"), a **key** ("what do I contain?") and a **value** ("what I
pass on if chosen"). Token ``i``'s output is the average of all values, weighted by
``softmax_j(q_i · k_j / √hs)``. Dividing by √hs — the width of *one head*, not of the model —
keeps the scores' variance near 1 whatever the head width, so the softmax does not saturate.

- ``attention``: the formula on tensors, returning the output and the attention weights.
- ``AttentionHead``: one head with its own query, key and value projections.
- ``LoopMultiHeadAttention``: ``n_heads`` heads run one after another, outputs concatenated,
  then mixed by a projection. Easy to read, slow.
- ``Attention``: the same map with one fused ``qkv`` projection and all heads in one batched
  matmul (or PyTorch's fused ``F.scaled_dot_product_attention`` kernel). Its parameter names
  (``qkv``, ``proj``) are timm's, so timm ViT weights load into it unchanged.

Masks follow ``F.scaled_dot_product_attention``: a boolean mask is ``True`` where a query may
attend to a key; a float mask is added to the scores (``-inf`` blocks). Shapes broadcast to
(B, n_heads, T, T).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scaled dot-product attention written out: ``(softmax(q kᵀ/√hs + mask) v, weights)``.

    q, k, v: (..., T, hs); mask: broadcastable to (..., T, T). Returns (..., T, hs) and the
    weights (..., T, T), whose rows sum to 1. A query row whose keys are all masked gives NaN,
    exactly as ``F.scaled_dot_product_attention`` does.
    """
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (..., T, T)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
    weights = scores.softmax(dim=-1)  # (..., T, T)
    return weights @ v, weights  # (..., T, hs)


class AttentionHead(nn.Module):
    """One head: (B, T, dim) → (B, T, head_dim). Keeps its last weights in ``self.weights``."""

    def __init__(self, dim: int, head_dim: int, bias: bool = True) -> None:
        super().__init__()
        self.query = nn.Linear(dim, head_dim, bias=bias)
        self.key = nn.Linear(dim, head_dim, bias=bias)
        self.value = nn.Linear(dim, head_dim, bias=bias)
        self.weights: torch.Tensor | None = None

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        q, k, v = self.query(x), self.key(x), self.value(x)  # (B, T, hs) each
        out, self.weights = attention(q, k, v, mask)  # (B, T, hs), (B, T, T)
        return out


class LoopMultiHeadAttention(nn.Module):
    """``n_heads`` heads, one at a time: (B, T, dim) → (B, T, dim).

    Each head works in a ``dim // n_heads``-wide subspace, so all heads together cost about what
    one full-width head would. ``mask`` is (T, T), (B, T, T) or (B, 1 or n_heads, T, T).
    """

    def __init__(self, dim: int, n_heads: int, bias: bool = True) -> None:
        super().__init__()
        if dim % n_heads:
            raise ValueError(f"dim {dim} is not divisible by n_heads {n_heads}")
        self.heads = nn.ModuleList(AttentionHead(dim, dim // n_heads, bias) for _ in range(n_heads))
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        outputs = []
        for h, head in enumerate(self.heads):
            head_mask = mask
            if mask is not None and mask.dim() == 4:
                head_mask = mask[:, h if mask.size(1) > 1 else 0]  # (B, T, T)
            outputs.append(head(x, head_mask))  # (B, T, hs)
        return self.proj(torch.cat(outputs, dim=-1))  # (B, T, nh·hs) → (B, T, dim)


class Attention(nn.Module):
    """Multi-head attention with one fused ``qkv`` projection: (B, T, dim) → (B, T, dim).

    ``use_sdpa=True`` calls ``F.scaled_dot_product_attention`` (PyTorch picks a fused kernel);
    ``False`` runs the explicit matmuls of ``attention`` on all heads at once. Set
    ``keep_attention = True`` to store the weights (B, nh, T, T) of each call in
    ``self.attention_weights`` (the explicit path runs then, since the fused kernel never forms
    them) — what attention maps and rollout read.
    """

    def __init__(self, dim: int, n_heads: int, qkv_bias: bool = True, use_sdpa: bool = True) -> None:
        super().__init__()
        if dim % n_heads:
            raise ValueError(f"dim {dim} is not divisible by n_heads {n_heads}")
        self.n_heads, self.head_dim = n_heads, dim // n_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.use_sdpa = use_sdpa
        self.keep_attention = False
        self.attention_weights: torch.Tensor | None = None

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        B, T, C = x.shape
        qkv = self.qkv(x).reshape(B, T, 3, self.n_heads, self.head_dim)  # (B, T, 3, nh, hs)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # (B, nh, T, hs) each
        if mask is not None and mask.dim() == 3:
            mask = mask.unsqueeze(1)  # (B, 1, T, T): the same mask for every head
        if self.keep_attention or not self.use_sdpa:
            y, weights = attention(q, k, v, mask)  # (B, nh, T, hs), (B, nh, T, T)
            if self.keep_attention:
                self.attention_weights = weights.detach()
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, nh, T, hs)
        y = y.transpose(1, 2).reshape(B, T, C)  # heads side by side again: (B, T, nh·hs)
        return self.proj(y)

    @classmethod
    def from_loop(cls, loop: LoopMultiHeadAttention, use_sdpa: bool = True) -> Attention:
        """The fused module computing exactly the map of ``loop``: its heads' q, k, v weights
        stacked into one ``qkv`` matrix (all queries, then all keys, then all values)."""
        heads = list(loop.heads)
        dim, bias = loop.proj.in_features, heads[0].query.bias is not None
        fused = cls(dim, len(heads), qkv_bias=bias, use_sdpa=use_sdpa)
        with torch.no_grad():
            for i, name in enumerate(("query", "key", "value")):
                rows = slice(i * dim, (i + 1) * dim)
                fused.qkv.weight[rows] = torch.cat([getattr(h, name).weight for h in heads])
                if bias:
                    fused.qkv.bias[rows] = torch.cat([getattr(h, name).bias for h in heads])
            fused.proj.load_state_dict(loop.proj.state_dict())
        return fused
