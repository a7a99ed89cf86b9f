"""Reference solutions to the vit lesson's exercises, and the typical mistakes their checks catch."""

import math


def scaled_dot_product_attention(q, k, v, mask=None):
    """softmax(q kᵀ / √hs, masked) v. q, k, v: (..., T, hs); mask: bool, True = may attend."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (..., T, T)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))  # before the softmax: exactly zero weight
    return scores.softmax(dim=-1) @ v  # softmax over the keys: each query's weights sum to 1


def patchify(images, patch_size):
    """(B, C, H, W) → (B, N, C·P·P), patches row by row, each flattened (C, P, P)."""
    B, C, H, W = images.shape
    P = patch_size
    grid = images.reshape(B, C, H // P, P, W // P, P)  # (B, C, rows, P, cols, P)
    patches = grid.permute(0, 2, 4, 1, 3, 5)  # (B, rows, cols, C, P, P)
    return patches.reshape(B, (H // P) * (W // P), C * P * P)


# ------------------------------------------------------------------------------ typical mistakes


def attention_unscaled(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return scores.softmax(-1) @ v


def attention_scaled_by_model_width(q, k, v, mask=None):
    model_width = q.size(1) * q.size(-1) if q.dim() == 4 else q.size(-1)  # heads · hs
    scores = q @ k.transpose(-2, -1) / math.sqrt(model_width)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return scores.softmax(-1) @ v


def attention_softmax_over_queries(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return scores.softmax(-2) @ v


def attention_masked_after_softmax(q, k, v, mask=None):
    weights = (q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))).softmax(-1)
    return (weights * mask if mask is not None else weights) @ v


def attention_mask_inverted(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
    if mask is not None:
        scores = scores.masked_fill(mask, float("-inf"))
    return scores.softmax(-1) @ v


def attention_masked_with_zero(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
    if mask is not None:
        scores = scores.masked_fill(~mask, 0.0)
    return scores.softmax(-1) @ v


def attention_naive_exp(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    e = scores.exp()
    return e / e.sum(-1, keepdim=True) @ v


def patchify_column_by_column(images, patch_size):
    B, C, H, W = images.shape
    P = patch_size
    grid = images.reshape(B, C, H // P, P, W // P, P)
    return grid.permute(0, 4, 2, 1, 3, 5).reshape(B, -1, C * P * P)


def patchify_channels_last(images, patch_size):
    B, C, H, W = images.shape
    P = patch_size
    grid = images.reshape(B, C, H // P, P, W // P, P)
    return grid.permute(0, 2, 4, 3, 5, 1).reshape(B, -1, C * P * P)


def patchify_reshape_only(images, patch_size):
    B, C, H, W = images.shape
    return images.reshape(B, -1, C * patch_size * patch_size)


MISTAKES = {
    "attention-with-mask": [
        (attention_unscaled, "not scaled"),
        (attention_scaled_by_model_width, "√(head dim)"),
        (attention_softmax_over_queries, "keys axis"),
        (attention_masked_after_softmax, "mask before the softmax"),
        (attention_mask_inverted, "wrong way round"),
        (attention_masked_with_zero, "-inf"),
        (attention_naive_exp, "overflow"),
    ],
    "patchify": [
        (patchify_column_by_column, "row by row"),
        (patchify_channels_last, "channel first"),
        (patchify_reshape_only, "a reshape alone"),
    ],
}
