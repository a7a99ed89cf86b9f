"""A key/value cache: what a decoder has already computed about the tokens it has seen.

Generating token by token, a causal model's keys and values for the earlier tokens never change
(token ``i`` only attends to tokens ``≤ i``). Without a cache, step ``t`` recomputes all ``t``
of them; with one, each step runs the model on the one new token, appends its key and value to
the cache, and attends over the cache. The work per new token drops from O(t) to O(1) matmul
rows (attention itself still reads all ``t`` cached keys).

``KVCache`` preallocates (layers, B, n_kv_heads, max_len, hs) for keys and for values. A model's
attention layer calls ``update(layer, k, v)`` with the new tokens' keys and values and gets back
everything up to and including them; the model calls ``advance(T)`` once after all its layers.
"""

from __future__ import annotations

import torch


class KVCache:
    """Keys and values of every layer for the first ``length`` positions of a batch of sequences."""

    def __init__(
        self,
        n_layers: int,
        batch_size: int,
        n_kv_heads: int,
        head_dim: int,
        max_len: int,
        *,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cpu",
    ) -> None:
        shape = (n_layers, batch_size, n_kv_heads, max_len, head_dim)
        self.keys = torch.zeros(shape, dtype=dtype, device=device)
        self.values = torch.zeros(shape, dtype=dtype, device=device)
        self.max_len = max_len
        self.length = 0  # positions filled so far: the next token's position

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store the new tokens' k, v (B, n_kv_heads, T, hs) after the cached ones; return all of
        them, (B, n_kv_heads, length + T, hs) each."""
        start, end = self.length, self.length + k.size(2)
        if end > self.max_len:
            raise ValueError(f"the cache holds {self.max_len} positions; {end} were asked for")
        self.keys[layer, :, :, start:end] = k
        self.values[layer, :, :, start:end] = v
        return self.keys[layer, :, :, :end], self.values[layer, :, :, :end]

    def advance(self, n_tokens: int) -> None:
        """Count ``n_tokens`` new positions as filled (once per forward pass, after every layer)."""
        self.length += n_tokens
