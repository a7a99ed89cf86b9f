"""Reference solutions to the gpt lesson's exercises, and the typical mistakes their checks catch."""

import math
from collections import Counter

import torch


def causal_self_attention(q, k, v):
    """softmax(q kᵀ / √hs, future masked) v for (B, heads, T, hs) tensors."""
    T = q.size(-2)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (B, nh, T, T)
    future = torch.ones(T, T, dtype=torch.bool, device=q.device).triu(1)  # True above the diagonal
    scores = scores.masked_fill(future, float("-inf"))  # before the softmax: exactly zero weight
    return scores.softmax(dim=-1) @ v  # (B, nh, T, hs)


def bpe_merge_step(ids, new_id):
    """(the most frequent adjacent pair, ids with that pair merged into new_id)."""
    counts = Counter(zip(ids, ids[1:]))
    pair = max(counts, key=lambda p: (counts[p], -p[0], -p[1]))  # most frequent; ties: the smaller pair
    merged, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            merged.append(new_id)
            i += 2
        else:
            merged.append(ids[i])
            i += 1
    return pair, merged


def next_token_probabilities(logits, temperature, top_k=None):
    """(B, V) logits → (B, V) probabilities after temperature and top-k."""
    logits = logits / temperature
    if top_k is not None:
        kth = logits.topk(min(top_k, logits.size(-1)), dim=-1).values[:, -1:]  # (B, 1): the k-th largest
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return logits.softmax(dim=-1)


def attend_with_cache(q, k, v, cached_k, cached_v):
    """(output (B, nh, 1, hs), keys (B, nh, L+1, hs), values (B, nh, L+1, hs))."""
    keys = torch.cat([cached_k, k], dim=2)  # the new position goes last
    values = torch.cat([cached_v, v], dim=2)
    scores = q @ keys.transpose(-2, -1) / math.sqrt(q.size(-1))  # (B, nh, 1, L + 1): no mask, it is the last
    return scores.softmax(dim=-1) @ values, keys, values


# ------------------------------------------------------------------------------ typical mistakes


def attention_no_mask(q, k, v):
    return (q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))).softmax(-1) @ v


def attention_triu(q, k, v):
    T = q.size(-2)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
    return scores.masked_fill(torch.ones(T, T, dtype=torch.bool).tril(-1), float("-inf")).softmax(-1) @ v


def attention_unscaled(q, k, v):
    T = q.size(-2)
    scores = q @ k.transpose(-2, -1)
    return scores.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf")).softmax(-1) @ v


def attention_masked_after_softmax(q, k, v):
    T = q.size(-2)
    weights = (q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))).softmax(-1)
    return weights * torch.ones(T, T).tril() @ v


def bpe_merge_first_only(ids, new_id):
    pair, _ = bpe_merge_step(ids, new_id)
    i = next(i for i in range(len(ids) - 1) if (ids[i], ids[i + 1]) == pair)
    return pair, ids[:i] + [new_id] + ids[i + 2 :]


def bpe_merge_tie_to_first_seen(ids, new_id):
    counts = Counter(zip(ids, ids[1:]))  # most_common keeps the first seen among equals
    pair = counts.most_common(1)[0][0]
    return pair, bpe_merge_step(ids, new_id)[1] if pair == bpe_merge_step(ids, new_id)[0] else ids


def probabilities_multiplied(logits, temperature, top_k=None):
    return next_token_probabilities(logits * temperature * temperature, temperature, top_k)


def probabilities_not_renormalised(logits, temperature, top_k=None):
    probs = (logits / temperature).softmax(-1)
    if top_k is not None:
        probs = probs * (probs >= probs.topk(min(top_k, probs.size(-1)), dim=-1).values[:, -1:])
    return probs


def cache_without_the_new_token(q, k, v, cached_k, cached_v):
    scores = q @ cached_k.transpose(-2, -1) / math.sqrt(q.size(-1))
    return scores.softmax(-1) @ cached_v, torch.cat([cached_k, k], 2), torch.cat([cached_v, v], 2)


def cache_with_an_unshifted_causal_mask(q, k, v, cached_k, cached_v):
    keys, values = torch.cat([cached_k, k], 2), torch.cat([cached_v, v], 2)
    scores = q @ keys.transpose(-2, -1) / math.sqrt(q.size(-1))  # (B, nh, 1, L + 1)
    mask = torch.ones(1, keys.size(2), dtype=torch.bool).tril()  # keeps key 0 only
    return scores.masked_fill(~mask, float("-inf")).softmax(-1) @ values, keys, values


def cache_not_grown(q, k, v, cached_k, cached_v):
    out, _, _ = attend_with_cache(q, k, v, cached_k, cached_v)
    return out, cached_k, cached_v


MISTAKES = {
    "causal-attention": [
        (attention_no_mask, "the future leaks"),
        (attention_triu, "wrong way"),
        (attention_unscaled, "not scaled"),
        (attention_masked_after_softmax, "mask before the softmax"),
    ],
    "bpe-merge": [
        (bpe_merge_first_only, "only the first occurrence"),
        (bpe_merge_tie_to_first_seen, "a tie"),
    ],
    "top-k-sampling": [
        (probabilities_multiplied, "do not multiply"),
        (probabilities_not_renormalised, "renormalise"),
    ],
    "kv-cache-step": [
        (cache_without_the_new_token, "does not attend to itself"),
        (cache_with_an_unshifted_causal_mask, "LAST position"),
        (cache_not_grown, "did not grow"),
    ],
}
