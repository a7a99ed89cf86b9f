"""Causal attention for decoders: each position attends to itself and the positions before it.

A language model predicts token ``t + 1`` from tokens ``≤ t``; if position ``t`` could attend to
``t + 1`` during training, it would copy the answer. The causal mask hides the future: query
``i`` may use keys ``j ≤ i`` (a lower-triangular boolean matrix). With a key/value cache the
queries are only the *last* few positions of a longer key sequence, so the triangle is shifted
(``causal_mask``).

``causal_attention`` also does **grouped-query attention** (Ainslie et al. 2023): ``n_heads``
query heads share ``n_kv_heads`` key/value heads, each kv head serving ``n_heads // n_kv_heads``
consecutive query heads. Fewer kv heads mean a smaller KV cache (Llama-style models use 3×–8×
fewer) at almost no cost in quality. With ``n_kv_heads == n_heads`` it is ordinary multi-head
attention, GPT-2's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from e2edl.nn.attention import attention


def causal_mask(n_queries: int, n_keys: int, device: str | torch.device = "cpu") -> torch.Tensor:
    """(n_queries, n_keys) boolean mask, True where a query may look: the queries are the *last*
    ``n_queries`` of ``n_keys`` positions, so query ``i`` sees keys ``0 … n_keys - n_queries + i``.

    >>> causal_mask(2, 4).int().tolist()
    [[1, 1, 1, 0], [1, 1, 1, 1]]
    """
    return torch.ones(n_queries, n_keys, dtype=torch.bool, device=device).tril(n_keys - n_queries)


def causal_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, dropout_p: float = 0.0, use_sdpa: bool = True
) -> torch.Tensor:
    """Causal (grouped-query) attention: q (B, nh, Tq, hs), k and v (B, n_kv, Tk, hs) → (B, nh, Tq, hs).

    The queries are the last ``Tq`` of the ``Tk`` positions (``Tq == Tk`` in training, ``Tq = 1``
    when decoding with a cache). ``use_sdpa=False`` runs ``e2edl.nn.attention.attention`` — the
    formula written out — on a (B, n_kv, groups, T, hs) view, so a kv head is broadcast over its
    group of query heads instead of being copied; ``True`` calls PyTorch's fused kernel (same
    numbers to float precision). ``dropout_p`` drops attention weights (pass 0 in eval mode).
    """
    B, n_heads, Tq, hs = q.shape
    n_kv, Tk = k.size(1), k.size(2)
    if n_heads % n_kv:
        raise ValueError(f"{n_heads} query heads cannot share {n_kv} key/value heads evenly")
    if Tq > Tk:
        raise ValueError(f"{Tq} queries but only {Tk} keys: the queries must be the last positions")
    if use_sdpa:
        square = Tq == Tk and Tq > 1  # the kernel's is_causal is the unshifted triangle
        mask = causal_mask(Tq, Tk, q.device) if Tq > 1 and not square else None
        return F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=dropout_p, is_causal=square, enable_gqa=n_kv != n_heads
        )
    groups = n_heads // n_kv
    q = q.view(B, n_kv, groups, Tq, hs)  # query heads j·groups … j·groups + groups - 1 use kv head j
    k, v = k.unsqueeze(2), v.unsqueeze(2)  # (B, n_kv, 1, Tk, hs): broadcast over the group
    y, weights = attention(q, k, v, causal_mask(Tq, Tk, q.device))  # (B, n_kv, groups, Tq, hs)
    if dropout_p > 0:  # drop attention weights, then redo the one weighted sum
        y = F.dropout(weights, dropout_p) @ v
    return y.reshape(B, n_heads, Tq, hs)
