"""Attention written three ways, checked against ``F.scaled_dot_product_attention``."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from e2edl.nn.attention import Attention, AttentionHead, LoopMultiHeadAttention, attention

pytestmark = pytest.mark.usefixtures("one_thread")


def random_mask(kind: str, B: int, nh: int, T: int, generator: torch.Generator) -> torch.Tensor | None:
    """No mask, causal, key padding, a random boolean mask per head, or an additive float mask."""
    if kind == "none":
        return None
    if kind == "causal":
        return torch.ones(T, T, dtype=torch.bool).tril()  # (T, T)
    if kind == "padding":  # the last few keys of each sequence are padding
        lengths = torch.randint(1, T + 1, (B,), generator=generator)
        return (torch.arange(T) < lengths[:, None])[:, None, None, :]  # (B, 1, 1, T)
    if kind == "random":  # keep the diagonal so that no row is fully masked
        mask = torch.rand(B, nh, T, T, generator=generator) < 0.6
        return mask | torch.eye(T, dtype=torch.bool)
    if kind == "float":
        return torch.randn(B, 1, T, T, generator=generator)  # (B, 1, T, T), added to the scores
    raise ValueError(kind)


SHAPES = [(1, 1, 1, 4), (2, 3, 7, 5), (3, 4, 16, 8), (2, 2, 33, 16)]  # (B, nh, T, hs)
MASKS = ["none", "causal", "padding", "random", "float"]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("mask_kind", MASKS)
def test_attention_formula_matches_sdpa(shape, mask_kind) -> None:
    B, nh, T, hs = shape
    g = torch.Generator().manual_seed(B * 100 + T)
    q, k, v = (torch.randn(B, nh, T, hs, generator=g) for _ in range(3))
    mask = random_mask(mask_kind, B, nh, T, g)
    out, weights = attention(q, k, v, mask)
    torch.testing.assert_close(
        out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), atol=1e-5, rtol=1e-5
    )
    torch.testing.assert_close(weights.sum(-1), torch.ones(B, nh, T))
    if mask is not None and mask.dtype == torch.bool:
        assert (weights[~mask.expand(B, nh, T, T)] == 0).all()  # masked keys get no weight


def test_scores_are_scaled_by_the_head_width_not_the_model_width() -> None:
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 6, 8, generator=g) for _ in range(3))
    _, weights = attention(q, k, v)
    torch.testing.assert_close(weights, (q @ k.transpose(1, 2) / math.sqrt(8)).softmax(-1))
    # At init the scaled scores have variance ≈ 1 whatever the head width: the softmax stays soft.
    for hs in (4, 64, 256):
        q, k = torch.randn(2, 2000, hs, generator=g), torch.randn(2, 2000, hs, generator=g)
        scores = (q * k).sum(-1) / math.sqrt(hs)
        assert 0.9 < scores.var().item() < 1.1


def test_one_head_is_its_three_projections_and_the_formula() -> None:
    torch.manual_seed(0)
    head = AttentionHead(dim=12, head_dim=4)
    x = torch.randn(2, 5, 12)
    expected, weights = attention(head.query(x), head.key(x), head.value(x))
    torch.testing.assert_close(head(x), expected)
    assert head.weights.shape == (2, 5, 5)
    torch.testing.assert_close(head.weights, weights)


@pytest.mark.parametrize(
    ("B", "T", "dim", "nh"), [(1, 1, 8, 2), (2, 9, 24, 3), (3, 17, 64, 4), (2, 50, 32, 8)]
)
@pytest.mark.parametrize("mask_kind", MASKS)
def test_loop_equals_fused_equals_sdpa(B, T, dim, nh, mask_kind) -> None:
    torch.manual_seed(B + T + dim)
    loop = LoopMultiHeadAttention(dim, nh)
    explicit = Attention.from_loop(loop, use_sdpa=False)
    sdpa = Attention.from_loop(loop, use_sdpa=True)
    x = torch.randn(B, T, dim, requires_grad=True)
    mask = random_mask(mask_kind, B, nh, T, torch.Generator().manual_seed(T))
    outputs = [module(x, mask) for module in (loop, explicit, sdpa)]
    for out in outputs[1:]:
        torch.testing.assert_close(out, outputs[0], atol=1e-5, rtol=1e-5)
    grads = [torch.autograd.grad(out.square().sum(), x)[0] for out in outputs]  # backward agrees too
    for grad in grads[1:]:
        torch.testing.assert_close(grad, grads[0], atol=1e-4, rtol=1e-4)


def test_fused_stores_attention_only_when_asked() -> None:
    torch.manual_seed(0)
    attn = Attention(16, 4)
    x = torch.randn(2, 6, 16)
    plain = attn(x)
    assert attn.attention_weights is None
    attn.keep_attention = True
    kept = attn(x)
    torch.testing.assert_close(kept, plain, atol=1e-6, rtol=1e-5)
    assert attn.attention_weights.shape == (2, 4, 6, 6)
    torch.testing.assert_close(attn.attention_weights.sum(-1), torch.ones(2, 4, 6))


def test_heads_must_divide_the_width() -> None:
    with pytest.raises(ValueError, match="divisible"):
        Attention(10, 3)
    with pytest.raises(ValueError, match="divisible"):
        LoopMultiHeadAttention(10, 4)
