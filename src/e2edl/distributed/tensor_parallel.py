"""Tensor parallelism on the GPT: each rank holds a slice of every block's matrices (Megatron-LM's
split, with DTensor's ``parallelize_module``).

An MLP is ``c_proj(gelu(c_fc(x)))``. Cut ``c_fc`` by its output columns (**column-wise**): rank r
computes its own 1/N of the hidden units, ``gelu`` is element-wise so it needs no
other rank's units, and ``c_proj`` cut by its input rows (**row-wise**) turns each rank's half into a
*partial* output. One all-reduce sums the partials: one collective per MLP in the forward pass,
one in the backward, each of the activations' size ``(B, T, C)``.

Attention splits the same way **by heads**: heads are independent until ``c_proj`` mixes them,
so the query/key/value projection goes column-wise (rank r computes its heads' queries, keys
and values) and ``c_proj`` row-wise. But the GPT computes them with *one* fused matrix
``c_attn`` (C → 3C) whose output rows are ordered q | k | v. Cut that column-wise in two and
rank 0 gets all the queries and half the keys, rank 1 the other keys and all the values — no
rank can compute a single head. :func:`group_heads` first reorders the rows per rank,
``[q, k, v of rank 0's heads | q, k, v of rank 1's heads | …]`` (:class:`HeadGroupedAttention`,
the same function of the same weights), so that the column split hands each rank whole heads.
Keeping the projection fused matters: three separate q, k, v projections would each need their
own all-reduce in the backward pass (6 per block instead of 4).

On a machine without a GPU this runs on gloo, the CPU (``init_device_mesh("cpu", ...)``); the
plan is the same on GPUs with NCCL.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn

from e2edl.nn.causal_attention import causal_attention
from e2edl.nn.gpt import GPT, CausalSelfAttention, GPTConfig, NextTokenLoss


def grouped_rows(n_embd: int, groups: int) -> torch.Tensor:
    """The order of ``c_attn``'s output rows that puts each group's q, k, v side by side:
    ``[q_0, k_0, v_0, q_1, k_1, v_1, …]`` where ``q_g`` are the query rows of group g's heads."""
    per_group = n_embd // groups
    blocks = torch.arange(3 * n_embd).view(3, groups, per_group)  # (q|k|v, group, rows)
    return blocks.transpose(0, 1).reshape(-1)  # (3C,)


class HeadGroupedAttention(nn.Module):
    """``CausalSelfAttention`` whose fused ``c_attn`` rows are grouped for ``groups`` ranks.

    On one device its output ``(B, T, 3C)`` holds all groups; on a rank of a column split, only
    that rank's group ``(B, T, 3C/N)``. Either way it splits each group into q, k, v and computes
    the heads it has, so the same module runs whole or split."""

    def __init__(self, attention: CausalSelfAttention, groups: int) -> None:
        super().__init__()
        C = attention.c_proj.in_features
        if attention.n_head % groups:
            raise ValueError(f"{attention.n_head} heads do not split into {groups} groups")
        order = grouped_rows(C, groups)
        self.c_attn = nn.Linear(C, 3 * C, bias=attention.c_attn.bias is not None)
        with torch.no_grad():
            self.c_attn.weight.copy_(attention.c_attn.weight[order])
            if attention.c_attn.bias is not None:
                self.c_attn.bias.copy_(attention.c_attn.bias[order])
        self.c_proj, self.resid_dropout = attention.c_proj, attention.resid_dropout
        self.group_width = C // groups  # C/N: one group's queries (its heads side by side)
        self.head_size = C // attention.n_head
        self.dropout, self.use_sdpa = attention.dropout, attention.use_sdpa

    def forward(self, x: torch.Tensor, cache=None) -> torch.Tensor:
        if cache is not None:
            raise NotImplementedError("HeadGroupedAttention trains; generate with the plain GPT")
        B, T, _ = x.shape
        qkv = self.c_attn(x)  # (B, T, G·3·C/N): G groups here (N whole, 1 on a rank)
        G = qkv.shape[-1] // (3 * self.group_width)
        qkv = qkv.view(B, T, G, 3, self.group_width)
        q, k, v = (qkv[:, :, :, i].reshape(B, T, G * self.group_width) for i in range(3))  # (B, T, C_here)
        heads = q.shape[-1] // self.head_size
        q, k, v = (t.view(B, T, heads, self.head_size).transpose(1, 2) for t in (q, k, v))  # (B, h, T, hs)
        dropout = self.dropout if self.training else 0.0
        y = causal_attention(q, k, v, dropout_p=dropout, use_sdpa=self.use_sdpa)  # (B, h, T, hs)
        y = y.transpose(1, 2).reshape(B, T, heads * self.head_size)  # (B, T, C_here)
        return self.resid_dropout(self.c_proj(y))  # (B, T, C): partial sums until the all-reduce


def group_heads(model: GPT, groups: int) -> GPT:
    """Give every block's attention a ``c_attn`` grouped for ``groups`` ranks (in place)."""
    for block in model.transformer.h:
        if isinstance(block.attn, CausalSelfAttention):
            block.attn = HeadGroupedAttention(block.attn, groups)
    return model


def block_plan() -> dict:
    """The tensor-parallel plan of one block: column-wise in, row-wise out, for attention and MLP."""
    from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel

    return {
        "attn.c_attn": ColwiseParallel(),  # rows grouped by rank first (group_heads)
        "attn.c_proj": RowwiseParallel(),
        "mlp.c_fc": ColwiseParallel(),
        "mlp.c_proj": RowwiseParallel(),
    }


def parallelize_gpt(model: GPT, mesh) -> GPT:
    """Split every block of ``model`` over the ranks of ``mesh`` (embeddings, LayerNorms and the
    output layer stay whole on every rank). Needs ``n_head`` divisible by the mesh size."""
    from torch.distributed.tensor.parallel import parallelize_module

    size = mesh.size()
    if model.cfg.n_head % size:
        raise ValueError(
            f"{model.cfg.n_head} heads do not split over {size} ranks: use n_head divisible by it"
        )
    group_heads(model, size)
    for block in model.transformer.h:
        parallelize_module(block, mesh, block_plan())
    return model


def _full(tensor: torch.Tensor) -> torch.Tensor:
    """A DTensor gathered into the whole tensor (a plain tensor stays as it is)."""
    return tensor.full_tensor() if hasattr(tensor, "full_tensor") else tensor


def compare_with_single_device(config: GPTConfig, batch: int = 2, seed: int = 0) -> dict:
    """Worker: the tensor-parallel GPT against the same GPT on one device, on the same tokens.

    Returns the largest differences of the logits, the loss and every parameter's gradient
    (``c_attn``'s rows put back in the q | k | v order), and the
    collectives one training step (forward + backward) issued, counted by DTensor's
    ``CommDebugMode``, with the bytes each all-reduce moves (the activations, ``(B, T, C)``)."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor.debug import CommDebugMode

    mesh = init_device_mesh("cpu", (dist.get_world_size(),))
    torch.manual_seed(seed)
    reference = GPT(config)
    parallel = GPT(config)
    parallel.load_state_dict(reference.state_dict())
    parallelize_gpt(parallel, mesh)

    tokens = torch.randint(
        config.vocab_size, (batch, config.block_size + 1), generator=torch.Generator().manual_seed(seed)
    )
    x, y = tokens[:, :-1], tokens[:, 1:]  # (B, T) each
    loss_fn = NextTokenLoss()
    ref_logits = reference(x)
    ref_loss = loss_fn(ref_logits, y)
    ref_loss.backward()
    with CommDebugMode() as comm:
        logits = parallel(x)
        loss = loss_fn(logits, y)
        loss.backward()

    differences = {
        "logits": (_full(logits) - ref_logits).abs().max().item(),
        "loss": abs(loss.item() - ref_loss.item()),
    }
    grads = {name: _full(p.grad) for name, p in parallel.named_parameters()}
    back = torch.argsort(grouped_rows(config.n_embd, dist.get_world_size()))  # grouped → q | k | v
    gradient_difference = 0.0
    for name, p in reference.named_parameters():
        ours = grads[name][back] if ".attn.c_attn." in name else grads[name]
        gradient_difference = max(gradient_difference, (ours - p.grad).abs().max().item())
    differences["gradients"] = gradient_difference

    counts = {str(op).split(".")[-1]: n for op, n in comm.get_comm_counts().items()}
    activation_bytes = batch * config.block_size * config.n_embd * 4
    all_reduces = sum(n for op, n in counts.items() if "all_reduce" in op)
    return {
        "max_difference": differences,
        "collectives": counts,
        "all_reduces_per_step": all_reduces,
        "all_reduces_per_block": all_reduces / config.n_layer,
        "bytes_per_all_reduce": activation_bytes,
        "bytes_per_step": all_reduces * activation_bytes,
        "local_c_fc_shape": tuple(parallel.transformer.h[0].mlp.c_fc.weight.to_local().shape),
    }


def fused_split_goes_wrong(config: GPTConfig) -> dict:
    """What a column split of the *fused* ``c_attn`` hands each rank: which output rows of q, k
    and v rank r would hold (no process group needed: it is index arithmetic)."""
    C, world = config.n_embd, 2
    rows = 3 * C // world
    parts = {}
    for rank in range(world):
        start, stop = rank * rows, (rank + 1) * rows
        parts[rank] = {
            name: max(0, min(stop, (i + 1) * C) - max(start, i * C)) for i, name in enumerate(("q", "k", "v"))
        }
    return parts
