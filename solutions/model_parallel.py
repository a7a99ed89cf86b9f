"""Reference solutions of the model-parallel lesson's exercises, and typical mistakes each check
must reject with a hint that names it."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def tensor_parallel_mlp(x, c_fc_weight, c_fc_bias, c_proj_weight, c_proj_bias, world_size):
    partial = []
    for w1, b1, w2 in zip(
        c_fc_weight.chunk(world_size),  # column-wise: rank r's hidden units (rows of the (out, in) weight)
        c_fc_bias.chunk(world_size),
        c_proj_weight.chunk(world_size, dim=1),  # row-wise: the inputs that are rank r's hidden units
    ):
        partial.append(F.linear(F.gelu(F.linear(x, w1, b1)), w2))  # (B, T, C), a partial sum
    return torch.stack(partial).sum(0) + c_proj_bias  # the all-reduce, then the bias once


def grouped_qkv_rows(n_embd: int, world_size: int) -> torch.Tensor:
    per_rank = n_embd // world_size
    order = []
    for rank in range(world_size):
        for part in range(3):  # q, k, v
            start = part * n_embd + rank * per_rank
            order.extend(range(start, start + per_rank))
    return torch.tensor(order)


def bubble_fraction(stages: int, micro_batches: int) -> float:
    return (stages - 1) / (micro_batches + stages - 1)


# ----------------------------------------------------------------------------- typical mistakes


def _bias_on_every_rank(x, c_fc_weight, c_fc_bias, c_proj_weight, c_proj_bias, world_size):
    return sum(
        F.linear(F.gelu(F.linear(x, w1, b1)), w2, c_proj_bias)
        for w1, b1, w2 in zip(
            c_fc_weight.chunk(world_size), c_fc_bias.chunk(world_size), c_proj_weight.chunk(world_size, dim=1)
        )
    )


def _fused_order(n_embd, world_size):
    return torch.arange(3 * n_embd)


def _row_interleave(n_embd, world_size):
    return torch.arange(3 * n_embd).view(3, n_embd).T.reshape(-1)


def _idle_over_busy(stages, micro_batches):
    return (stages - 1) / micro_batches


MISTAKES = {
    "tensor-parallel-mlp": [(_bias_on_every_rank, "bias is added")],
    "grouped-qkv-rows": [(_fused_order, "fused order"), (_row_interleave, "interleaved single rows")],
    "bubble-fraction": [(_idle_over_busy, "busy")],
}
