"""The four collectives of data-parallel training, each shown on small tensors (worker functions).

Run in a :class:`~e2edl.distributed.local_group.LocalGroup`; each returns this rank's tensor
before and after the collective, so a notebook can print what every rank held::

    broadcast       rank 0's tensor → every rank                       (initial weights)
    all_reduce      every rank ends with the sum of all ranks' tensors (DDP's gradients)
    all_gather      every rank ends with all ranks' tensors, side by side (FSDP's weights)
    reduce_scatter  the sum of all ranks' tensors, cut in N pieces, rank r keeps piece r (FSDP's gradients)

all_reduce = reduce_scatter followed by all_gather: that identity is the ring all-reduce
(:mod:`e2edl.distributed.ring`), and FSDP does the two halves at different times.
"""

from __future__ import annotations

import torch
import torch.distributed as dist


def _start(values: int) -> torch.Tensor:
    """This rank's tensor: rank r holds [10r + 1, 10r + 2, …] (easy to follow by eye)."""
    rank = dist.get_rank()
    return torch.arange(1, values + 1, dtype=torch.float32) + 10 * rank


def broadcast_example(values: int = 4) -> dict:
    """Every rank receives rank 0's tensor (in place)."""
    tensor = _start(values)
    before = tensor.clone()
    dist.broadcast(tensor, src=0)
    return {"before": before, "after": tensor}


def all_reduce_example(values: int = 4) -> dict:
    """Every rank ends with the element-wise sum over the ranks (in place)."""
    tensor = _start(values)
    before = tensor.clone()
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return {"before": before, "after": tensor}


def all_gather_example(values: int = 4) -> dict:
    """Every rank ends with every rank's tensor, concatenated in rank order: (N · values,)."""
    tensor = _start(values)
    gathered = torch.empty(dist.get_world_size() * values)
    dist.all_gather_single(gathered, tensor)
    return {"before": tensor, "after": gathered}


def reduce_scatter_example(values: int = 4) -> dict:
    """The element-wise sum over the ranks, cut into N pieces; rank r keeps piece r: (values / N,)."""
    tensor = _start(values)
    world = dist.get_world_size()
    if values % world:
        raise ValueError(f"{values} values do not split into {world} equal pieces")
    piece = torch.empty(values // world)
    dist.reduce_scatter_single(piece, tensor, op=dist.ReduceOp.SUM)
    return {"before": tensor, "after": piece}


EXAMPLES = {
    "broadcast": broadcast_example,
    "all_reduce": all_reduce_example,
    "all_gather": all_gather_example,
    "reduce_scatter": reduce_scatter_example,
}


def hang_on_rank_zero() -> None:
    """A bug on purpose, the classic distributed hang: only rank 0 calls ``all_reduce``, so it
    waits for partners that never come — until the process group's timeout (or ``LocalGroup``'s)
    ends it. The same happens when one rank takes one batch more than the others."""
    if dist.get_rank() == 0:
        dist.all_reduce(torch.zeros(1))
