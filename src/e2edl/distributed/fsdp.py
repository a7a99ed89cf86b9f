"""FSDP2 on the GPT: what each rank holds, the same loss curve as DDP, and a sharded checkpoint
saved by 2 ranks and loaded into 1.

**Memory.** Training with AdamW keeps, per parameter, the parameter, its gradient and two
optimizer moments: 4 numbers. DDP keeps all 4 for every parameter on every rank. FSDP2 keeps
``1/N`` of each on each rank and gathers a layer's full weights only while that layer runs.
A CPU has no allocator statistics per process that would isolate this, so
:func:`bytes_per_rank` counts it directly: the bytes of each rank's local pieces (a sharded
tensor's ``to_local()``) of parameters, gradients and optimizer state, after one step.

**Checkpoints.** ``torch.distributed.checkpoint`` (DCP) writes each rank's shards to its own
file plus a plan of which piece of which tensor is where; loading reads the pieces the loader
needs — into any number of ranks, even one process without a group. So a checkpoint saved by
2 ranks loads into 1 (or 8): *resharding*.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from e2edl.data.rank_shard import rank_slice
from e2edl.distributed.gpt_data_parallel import GPTRun, gpt_and_optimizer, gpt_batches
from e2edl.nn.gpt import GPT, NextTokenLoss
from e2edl.train.parallel_model import wrap_model

TOLERANCE = {"rel": 1e-4}  # float32 Adam, tens of steps; reductions in another order


def _local(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.to_local() if hasattr(tensor, "to_local") else tensor


def _bytes(tensors) -> int:
    return sum(_local(t).numel() * _local(t).element_size() for t in tensors)


def _train(
    ids: torch.Tensor, run: GPTRun, strategy: str
) -> tuple[nn.Module, torch.optim.Optimizer, list[float]]:
    """``run.steps`` steps with ``strategy`` ("ddp" or "fsdp"), each rank its slice of the global batch."""
    rank, world = dist.get_rank(), dist.get_world_size()
    model, optimizer = gpt_and_optimizer(run)
    model = wrap_model(model, strategy, "cpu", optimizer)
    loss_fn, batches, losses = NextTokenLoss(), gpt_batches(ids, run), []
    for _ in range(run.steps):
        x, y = rank_slice(next(batches), rank, world)  # (B/N, T)
        loss = loss_fn(model(x), y)
        optimizer.zero_grad(set_to_none=False)  # keep the gradients: bytes_per_rank counts them
        loss.backward()
        optimizer.step()
        mean = loss.detach().clone()
        dist.all_reduce(mean)
        losses.append(mean.item() / world)
    return model, optimizer, losses


def bytes_per_rank(ids: torch.Tensor, run: GPTRun, strategy: str) -> dict:
    """Worker: this rank's bytes of parameters, gradients and optimizer state after a step."""
    model, optimizer, _ = _train(ids, run.with_steps(1), strategy)
    parameters = list(model.parameters())
    state = [
        t for s in optimizer.state.values() for t in s.values() if isinstance(t, torch.Tensor) and t.dim() > 0
    ]
    counts = {
        "parameters": _bytes(parameters),
        "gradients": _bytes(p.grad for p in parameters if p.grad is not None),
        "optimizer": _bytes(state),
    }
    counts["total"] = sum(counts.values())
    return counts


def losses(ids: torch.Tensor, run: GPTRun, strategy: str) -> list[float]:
    """Worker: the loss curve of ``run`` under ``strategy``."""
    return _train(ids, run, strategy)[2]


def save_sharded(ids: torch.Tensor, run: GPTRun, folder: str) -> dict:
    """Worker: train with FSDP2, save a sharded DCP checkpoint of the model into ``folder``;
    return the full weights (gathered to rank 0) to compare with what one process loads."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    model, _, _ = _train(ids, run, "fsdp")
    sharded = get_model_state_dict(model)  # DTensors: each rank writes only its own shards
    dcp.save({"model": sharded}, checkpoint_id=folder)
    full = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    files = sorted(p.name for p in Path(folder).iterdir())
    return {"full": full if dist.get_rank() == 0 else None, "files": files}


def load_resharded(folder: str, run: GPTRun) -> GPT:
    """In one process, no group: a plain GPT loaded from a checkpoint that N ranks saved."""
    import torch.distributed.checkpoint as dcp

    model = GPT(run.config)
    state = {"model": model.state_dict()}  # says which tensors to read, and where to put them
    dcp.load(state, checkpoint_id=folder)
    model.load_state_dict(state["model"])
    return model
