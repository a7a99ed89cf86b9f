"""The gpt lesson's exercises: causal attention, one BPE merge, temperature and top-k, one
decoding step with a KV cache.

Each check compares the learner's function with an oracle (``F.scaled_dot_product_attention``,
the library's ``merge_pair``, a direct computation) on fixed random and edge-case inputs; when the
answer is wrong, it also compares it with what the typical mistakes compute, so the hint can
name the mistake.
"""

from __future__ import annotations

import math
from collections import Counter

import torch
import torch.nn.functional as F

from e2edl.data.bpe import merge_pair
from e2edl.exercises.checking import Hint, call, expect_equal, expect_tensor, expect_tensor_naming_mistakes
from e2edl.exercises.exercise import Exercise


def _random(shape: tuple[int, ...], seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*shape, generator=g) for _ in range(3)]


# ------------------------------------------------------------------------------ causal attention


def _attention(q, k, v, *, scale=None, keep=None, dim=-1, after=False):
    """Attention as a typical mistake computes it; ``keep`` (Tq, Tk) bool, True = may look."""
    scale = 1 / math.sqrt(q.size(-1)) if scale is None else scale
    scores = q @ k.transpose(-2, -1) * scale
    if keep is not None and not after:
        scores = scores.masked_fill(~keep, float("-inf"))
    weights = scores.softmax(dim=dim)
    if keep is not None and after:
        weights = weights * keep
    return weights @ v


def check_causal_attention(fn) -> None:
    for i, shape in enumerate([(2, 3, 6, 8), (1, 4, 9, 16), (3, 1, 5, 4)]):
        q, k, v = _random(shape, seed=i)
        T, hs = shape[2], shape[3]
        want = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        got = call(fn, q, k, v, what="causal_self_attention")
        tril = torch.ones(T, T, dtype=torch.bool).tril()
        mistakes = [
            (_attention(q, k, v), "the future leaks: position t attends to later positions too. Mask the scores of "
             "keys after the query (a lower-triangular mask) with -inf before the softmax."),
            (_attention(q, k, v, keep=tril.T), "the future leaks: your triangle points the wrong way (triu keeps the "
             "future and hides the past). Keep key j for query t when j <= t: torch.tril."),
            (_attention(q, k, v, keep=torch.ones(T, T, dtype=torch.bool).tril(-1) | (T == 1)),
             "each position must also attend to itself: keep the diagonal (tril, not tril(-1))."),
            (_attention(q, k, v, keep=tril, scale=1.0), "the scores are not scaled: divide q·kᵀ by √hs, the head "
             "dimension (q.size(-1))."),
            (_attention(q, k, v, keep=tril, scale=1 / hs), "you divided the scores by hs; divide by its square root, √hs."),
            (_attention(q, k, v, keep=tril, scale=1 / math.sqrt(shape[1] * hs)), "scale by √(head dim) = √q.size(-1), "
             "not by the model width (heads × hs)."),
            (_attention(q, k, v, keep=tril, after=True), "mask before the softmax: zeroing weights after it leaves "
             "rows that no longer sum to 1. Fill the future's scores with -inf, then softmax."),
            (_attention(q, k, v, keep=tril, dim=-2), "the softmax runs over the wrong axis: over the keys (dim=-1), "
             "so that each query's weights sum to 1."),
        ]  # fmt: skip
        expect_tensor_naming_mistakes(got, want, mistakes, f"the output for q, k, v of shape {shape}")


# ------------------------------------------------------------------------------------- BPE merge


def _most_frequent_pair(ids: list[int]) -> tuple[int, int]:
    counts = Counter(zip(ids, ids[1:]))
    return max(counts, key=lambda pair: (counts[pair], -pair[0], -pair[1]))


def check_bpe_merge(fn) -> None:
    cases = [
        ([1, 2, 3, 1, 2, 4, 1, 2], 9, "three (1, 2) pairs"),
        ([5, 5, 5, 7, 5, 5], 8, "runs of one id, where pairs overlap"),
        ([3, 4, 1, 2, 3, 4, 1, 2], 6, "(3, 4), (4, 1) and (1, 2) twice each: a tie"),
        ([2, 3, 2, 3, 2, 2, 1], 11, "(2, 3) twice, (3, 2) twice: a tie"),
        (list(b"she sells sea shells"), 256, "the bytes of 'she sells sea shells'"),
    ]
    for ids, new_id, described in cases:
        pair = _most_frequent_pair(ids)
        want = merge_pair(ids, pair, new_id)
        got = call(fn, list(ids), new_id, what="bpe_merge_step")
        if not (isinstance(got, tuple) and len(got) == 2):
            raise Hint(f"return a tuple (pair, merged); got {type(got).__name__} for {described}.")
        got_pair, merged = got
        got_pair = tuple(int(i) for i in got_pair) if isinstance(got_pair, (tuple, list)) else got_pair
        counts = Counter(zip(ids, ids[1:]))
        if got_pair != pair:
            if got_pair in counts and counts[got_pair] == counts[pair]:
                raise Hint(f"a tie ({described}): both pairs occur {counts[pair]} times; take the smaller pair, "
                           f"{pair} (compare the pairs as tuples).")  # fmt: skip
            raise Hint(f"the most frequent pair of {ids} is {pair} ({counts[pair]} times), you found {got_pair!r} "
                       f"({described}). Count every neighbouring pair, overlaps included: zip(ids, ids[1:]).")  # fmt: skip
        merged = list(merged) if isinstance(merged, (list, tuple)) else merged
        if merged != want:
            if merged == ids:
                raise Hint("the list came back unchanged: replace each occurrence of the pair by new_id.")
            first = next(i for i in range(len(ids) - 1) if (ids[i], ids[i + 1]) == pair)
            if merged == ids[:first] + [new_id] + ids[first + 2 :]:
                raise Hint("only the first occurrence was merged: replace every occurrence, left to right.")
            if merged == merge_pair(ids[::-1], pair[::-1], new_id)[::-1]:
                raise Hint(f"the pairs were merged from the right ({described}): merge left to right, "
                           "so [5, 5, 5] becomes [new_id, 5].")  # fmt: skip
            expect_equal(merged, want, f"the merged list for {described}")


# -------------------------------------------------------------------------- temperature and top-k


def _probabilities(logits, temperature, top_k):
    logits = logits / temperature
    if top_k is not None:
        kth = logits.topk(min(top_k, logits.size(-1)), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return logits.softmax(dim=-1)


def check_top_k(fn) -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 10, generator=g) * 2
    cases = [(1.0, None), (0.5, None), (2.0, 3), (0.7, 1), (1.3, 10), (1.0, 25)]
    for temperature, top_k in cases:
        want = _probabilities(logits, temperature, top_k)
        got = call(fn, logits.clone(), temperature, top_k, what="next_token_probabilities")
        described = f"temperature {temperature}, top_k {top_k}"
        mistakes = [
            (_probabilities(logits, 1.0, top_k), "the temperature is ignored: divide the logits by it before the softmax."),
            (_probabilities(logits * temperature, 1.0, top_k), "divide the logits by the temperature (T < 1 must "
             "sharpen the distribution), do not multiply."),
            ((logits / temperature).softmax(-1), "top-k is ignored: keep only the top_k largest logits of each row."),
        ]  # fmt: skip
        if top_k is not None and top_k < logits.size(-1):
            kept = _probabilities(logits, temperature, None)
            kept = kept * (kept >= kept.topk(top_k, dim=-1).values[:, -1:])
            mistakes.append((kept, "after removing the other tokens, renormalise: the kept probabilities must sum to 1 "
                             "(set the removed logits to -inf, then softmax)."))  # fmt: skip
            for off in (top_k - 1, top_k + 1):
                if 1 <= off <= logits.size(-1):
                    mistakes.append((_probabilities(logits, temperature, off),
                                     f"you kept {off} tokens per row; keep exactly top_k = {top_k}."))  # fmt: skip
        if isinstance(got, torch.Tensor) and got.shape == want.shape and (got[want == 0] != 0).any():
            expect_tensor_naming_mistakes(got, want, mistakes, described)
            raise Hint(f"tokens outside the top {top_k} must get probability exactly 0 ({described}).")
        expect_tensor_naming_mistakes(got, want, mistakes, f"the probabilities for {described}")
    if top_k_error := _big_k_error(fn, logits):
        raise Hint(top_k_error)


def _big_k_error(fn, logits) -> str | None:
    """top_k larger than the vocabulary keeps everything (not an error)."""
    try:
        got = fn(logits.clone(), 1.0, 100)
    except Exception as error:  # noqa: BLE001 — reported as a hint
        return f"top_k larger than the vocabulary must keep every token, not raise {type(error).__name__}: clamp k."
    try:
        expect_tensor_naming_mistakes(got, logits.softmax(-1), [], "the probabilities")
    except Hint:
        return "top_k larger than the vocabulary must keep every token: use min(top_k, vocabulary size)."
    return None


# ----------------------------------------------------------------------------- KV cache step


def check_kv_cache_step(fn) -> None:
    for i, (B, nh, L, hs) in enumerate([(2, 3, 5, 8), (1, 2, 1, 4), (2, 4, 11, 16)]):
        q, k, v = _random((B, nh, 1, hs), seed=10 + i)  # the new token's
        cached_k, cached_v, _ = _random((B, nh, L, hs), seed=20 + i)
        keys, values = torch.cat([cached_k, k], dim=2), torch.cat([cached_v, v], dim=2)  # (B, nh, L + 1, hs)
        want = F.scaled_dot_product_attention(q, keys, values)  # the last position sees them all
        got = call(fn, q, k, v, cached_k.clone(), cached_v.clone(), what="attend_with_cache")
        if not (isinstance(got, tuple) and len(got) == 3):
            raise Hint(f"return a tuple (output, keys, values); got {type(got).__name__}.")
        out, got_keys, got_values = got
        described = f"B={B}, heads={nh}, L={L} cached positions, hs={hs}"
        if isinstance(got_keys, torch.Tensor) and got_keys.shape == cached_k.shape:
            raise Hint(
                "the cache did not grow: append the new key and value (torch.cat along the positions, dim=2)."
            )
        if isinstance(got_keys, torch.Tensor) and got_keys.shape == keys.shape and torch.equal(got_keys[:, :, 0], k[:, :, 0]) \
                and L > 1:  # fmt: skip
            raise Hint(
                "the new key went first: append it after the cached ones (the newest position is the last)."
            )
        expect_tensor(got_keys, keys, "the keys returned", atol=0, rtol=0)
        expect_tensor(got_values, values, "the values returned", atol=0, rtol=0)
        unshifted = torch.zeros(1, L + 1, dtype=torch.bool)
        unshifted[0, 0] = True  # tril of a (1, L + 1) matrix keeps key 0 only
        mistakes = [
            (F.scaled_dot_product_attention(q, cached_k, cached_v),
             "the new token does not attend to itself: attend over the cached keys and the new one."),
            (_attention(q, keys, values, keep=unshifted),
             "a causal mask tril(ones(1, L + 1)) lets the new token see position 0 only: its query is the LAST "
             "position, so it may see every key (no mask is needed for one new token)."),
            (_attention(q, keys, values, scale=1.0), "the scores are not scaled: divide q·kᵀ by √hs."),
        ]  # fmt: skip
        expect_tensor_naming_mistakes(out, want, mistakes, f"the output for {described}")


EXERCISES = [
    Exercise("causal-attention", "causal_self_attention", "masked attention: each position sees only the past",
             check_causal_attention),
    Exercise("bpe-merge", "bpe_merge_step", "the most frequent adjacent pair, merged left to right", check_bpe_merge),
    Exercise("top-k-sampling", "next_token_probabilities", "temperature and top-k applied to next-token logits",
             check_top_k),
    Exercise("kv-cache-step", "attend_with_cache", "one decoding step: append to the cache, attend over it",
             check_kv_cache_step),
]  # fmt: skip
