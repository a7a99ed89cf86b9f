"""The vit lesson's exercises: scaled dot-product attention with a mask, and patches without unfold.

Each check compares the learner's function with an oracle (``F.scaled_dot_product_attention``,
``e2edl.nn.vit.patchify``) on fixed random inputs; when the answer is wrong, it also compares it
with what the typical mistakes compute, so the hint can name the mistake.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from e2edl.exercises.checking import Hint, call, expect_tensor, expect_tensor_naming_mistakes
from e2edl.exercises.exercise import Exercise
from e2edl.nn.vit import patchify as library_patchify

# ------------------------------------------------------------------------------------ attention


def _scores_softmax(q, k, v, mask=None, *, scale=None, dim=-1, fill=float("-inf"), after=False, invert=False):
    """Attention as a typical mistake computes it (the right answer with the defaults)."""
    scale = 1 / math.sqrt(q.size(-1)) if scale is None else scale
    scores = q @ k.transpose(-2, -1) * scale
    if mask is not None and invert:
        mask = ~mask
    if mask is not None and not after:
        scores = scores.masked_fill(~mask, fill)
    weights = scores.softmax(dim=dim)
    if mask is not None and after:
        weights = weights * mask
    return weights @ v


def _attention_case(shape, seed, mask_kind):
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(*shape, generator=g) for _ in range(3))
    T = shape[-2]
    if mask_kind is None:
        mask = None
    elif mask_kind == "causal":
        mask = torch.ones(T, T, dtype=torch.bool).tril()  # (T, T): each query sees itself and the past
    elif mask_kind == "padding":  # (B, 1, 1, T): the last keys of each sequence are filler
        lengths = torch.tensor([T, T - 2, 1])[: shape[0]]
        mask = (torch.arange(T) < lengths[:, None])[:, None, None, :]
    else:  # (B, nh, T, T) per head, diagonal kept so no row is fully masked
        mask = (torch.rand(*shape[:-1], T, generator=g) < 0.5) | torch.eye(T, dtype=torch.bool)
    return q, k, v, mask


def check_attention(fn) -> None:
    cases = [
        ((2, 3, 5, 8), None, "(B=2, heads=3, T=5, hs=8) without a mask"),
        ((4, 6, 4), None, "(B=4, T=6, hs=4) — one head, no head axis — without a mask"),
        ((2, 3, 5, 8), "causal", "a causal (T, T) mask"),
        ((3, 2, 6, 4), "padding", "a (B, 1, 1, T) padding mask"),
        ((2, 3, 7, 8), "per-head", "a (B, heads, T, T) mask, different for each head"),
    ]
    for i, (shape, mask_kind, described) in enumerate(cases):
        q, k, v, mask = _attention_case(shape, seed=i, mask_kind=mask_kind)
        want = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        got = (
            call(fn, q, k, v, mask, what="scaled_dot_product_attention")
            if mask is not None
            else call(fn, q, k, v, what="scaled_dot_product_attention")
        )
        hs, T = q.size(-1), q.size(-2)
        mistakes = [
            (_scores_softmax(q, k, v, mask, scale=1.0), "the scores are not scaled: divide q·kᵀ by √hs, the width of one head (q.size(-1))."),
            (_scores_softmax(q, k, v, mask, scale=1 / hs), "you divided the scores by hs; divide by its square root, √hs."),
            (_scores_softmax(q, k, v, mask, scale=1 / math.sqrt(T)), "scale by √(head dim) = √q.size(-1), not by the square root of the sequence length."),
            (_scores_softmax(q, k, v, mask, dim=-2), "the softmax runs over the wrong axis: it must run over the keys axis (dim=-1), so that each query's weights sum to 1."),
        ]  # fmt: skip
        if q.dim() == 4:
            model_width = q.size(1) * hs
            mistakes.append((
                _scores_softmax(q, k, v, mask, scale=1 / math.sqrt(model_width)),
                f"you scaled by √(model dim) = √(heads·hs) = √{model_width}; the dot product sums over one "
                f"head's hs = {hs} numbers, so scale by √(head dim) = √{hs}.",
            ))  # fmt: skip
        if mask is not None:
            mistakes += [
                (_scores_softmax(q, k, v, None), "the mask is ignored: set the scores of masked keys (mask False) to -inf before the softmax."),
                (_scores_softmax(q, k, v, mask, after=True), "mask before the softmax: masking the weights after it leaves rows that no longer sum to 1. Fill masked scores with -inf, then softmax."),
                (_scores_softmax(q, k, v, mask, invert=True), "the mask is the wrong way round: True means 'may attend' (as in F.scaled_dot_product_attention), so fill the scores where the mask is False."),
                (_scores_softmax(q, k, v, mask, fill=0.0), "a masked score of 0 still gets the weight exp(0) > 0: fill masked scores with float('-inf'), before the softmax."),
            ]  # fmt: skip
        expect_tensor_naming_mistakes(got, want, mistakes, f"the output for {described}")

    q, k, v, _ = _attention_case((1, 2, 6, 16), seed=9, mask_kind=None)
    q = q * 40  # scores in the hundreds: exp() of them overflows float32
    got = call(fn, q, k, v, what="scaled_dot_product_attention")
    if isinstance(got, torch.Tensor) and not torch.isfinite(got).all():
        raise Hint("large scores overflow: exp of a score above ~88 is inf in float32. Use .softmax(dim=-1), "
                   "or subtract each row's max before exp.")  # fmt: skip
    expect_tensor(
        got, F.scaled_dot_product_attention(q, k, v), "the output for large scores", atol=1e-4, rtol=1e-4
    )


# ------------------------------------------------------------------------------------- patchify


def check_patchify(fn) -> None:
    cases = [((2, 3, 8, 8), 4), ((1, 1, 28, 28), 7), ((2, 3, 12, 8), 4), ((1, 2, 6, 6), 3)]
    for i, (shape, P) in enumerate(cases):
        images = torch.randn(*shape, generator=torch.Generator().manual_seed(i))
        want = library_patchify(images, P)  # (B, N, C·P·P)
        got = call(fn, images, P, what="patchify")
        B, C, H, W = shape
        grid = images.reshape(B, C, H // P, P, W // P, P)  # (B, C, rows, P, cols, P)
        mistakes = [
            (grid.permute(0, 4, 2, 1, 3, 5).reshape(B, -1, C * P * P),
             "the patches come out column by column: read them row by row (left to right, then the next row of patches)."),
            (grid.permute(0, 2, 4, 3, 5, 1).reshape(B, -1, C * P * P),
             "each patch is flattened with the channels last (P, P, C): flatten it channel first, (C, P, P), the order of "
             "conv.weight.flatten(1)."),
            (images.reshape(B, -1, C * P * P),
             "a reshape alone mixes pixels of different patches: split H and W into (rows, P) and (cols, P) first, then "
             "permute the patch axes in front."),
        ]  # fmt: skip
        expect_tensor_naming_mistakes(got, want, mistakes, f"the patches of a {shape} batch with P={P}")


EXERCISES = [
    Exercise(
        "attention-with-mask",
        "scaled_dot_product_attention",
        "softmax(q kᵀ / √hs) v, with a boolean mask applied before the softmax",
        check_attention,
    ),
    Exercise(
        "patchify",
        "patchify",
        "cut images into flattened P×P patches with reshape and permute",
        check_patchify,
    ),
]
