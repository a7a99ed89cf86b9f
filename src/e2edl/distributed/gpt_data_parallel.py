"""The GPT trained data-parallel: the loss curve of one process on the same global batch, and
where a step's time goes — computing, or waiting for the gradients' all-reduce.

Both runs draw the same global batches (``RandomBatches`` with one seed); rank r of N trains on
the r-th slice of each. ``step_breakdown`` times a step three ways on every rank:

- *compute*: forward + backward under ``no_sync`` (DDP skips the all-reduce), + the optimizer;
- *step*: an ordinary DDP step, whose all-reduces overlap the backward pass;
- *all-reduce*: one ``all_reduce`` of all the gradients at once, alone.

``step - compute`` is the communication the overlap did not hide. On 2 CPU processes of one
machine "the network" is a copy through the kernel; between GPUs on different nodes it is the
real cost, and the reason for buckets, overlap and gradient compression.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, replace

import torch
import torch.distributed as dist
from torch import nn

from e2edl.data.rank_shard import rank_slice
from e2edl.nn.gpt import GPT, GPTConfig, NextTokenLoss
from e2edl.train.batches import RandomBatches

TINY_GPT = GPTConfig(vocab_size=65, block_size=32, n_layer=2, n_head=2, n_embd=64, dropout=0.0)
TOLERANCE = {"rel": 1e-4}  # float32 Adam over tens of steps: rounding only, ~1e-6 seen


@dataclass(frozen=True)
class GPTRun:
    """What the single-process and the data-parallel run share: the model, data and optimiser."""

    config: GPTConfig = TINY_GPT
    global_batch: int = 16
    steps: int = 30
    lr: float = 3e-3
    seed: int = 0

    def with_steps(self, steps: int) -> GPTRun:
        return replace(self, steps=steps)


def gpt_and_optimizer(run: GPTRun) -> tuple[GPT, torch.optim.Optimizer]:
    """The run's GPT (the same initial weights in every process) and its AdamW."""
    torch.manual_seed(run.seed)
    model = GPT(run.config)
    return model, torch.optim.AdamW(model.param_groups(0.1), lr=run.lr)


def gpt_batches(ids: torch.Tensor, run: GPTRun) -> RandomBatches:
    """The run's global batches: the same stream in every process."""
    return RandomBatches(
        ids, block_size=run.config.block_size, batch_size=run.global_batch, seed=run.seed + 1
    )


def train_gpt_single(ids: torch.Tensor, run: GPTRun) -> list[float]:
    """One process, the whole global batch each step: the losses."""
    model, optimizer = gpt_and_optimizer(run)
    loss_fn, batches, losses = NextTokenLoss(), gpt_batches(ids, run), []
    for _ in range(run.steps):
        x, y = next(batches)  # (B, T) each
        loss = loss_fn(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def train_gpt_ddp(ids: torch.Tensor, run: GPTRun) -> list[float]:
    """Worker: the same training with DDP, each rank its slice of the global batch; the losses
    (mean over the ranks: the global batch's loss)."""
    rank, world = dist.get_rank(), dist.get_world_size()
    model, optimizer = gpt_and_optimizer(run)
    ddp = nn.parallel.DistributedDataParallel(model)
    loss_fn, batches, losses = NextTokenLoss(), gpt_batches(ids, run), []
    for _ in range(run.steps):
        x, y = rank_slice(next(batches), rank, world)  # (B/N, T) each
        loss = loss_fn(ddp(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        mean = loss.detach().clone()
        dist.all_reduce(mean)
        losses.append(mean.item() / world)
    return losses


def step_breakdown(ids: torch.Tensor, run: GPTRun, repeats: int = 10) -> dict:
    """Worker: median seconds of a compute-only step, a DDP step and a lone all-reduce of the
    gradients (see the module docstring), and the gradient bytes a step all-reduces."""
    rank, world = dist.get_rank(), dist.get_world_size()
    model, optimizer = gpt_and_optimizer(run)
    ddp = nn.parallel.DistributedDataParallel(model)
    loss_fn, batches = NextTokenLoss(), gpt_batches(ids, run)

    def step(sync: bool) -> float:
        x, y = rank_slice(next(batches), rank, world)
        dist.barrier()  # start together: no rank's time includes waiting for a late one
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        if sync:
            loss_fn(ddp(x), y).backward()
        else:
            with ddp.no_sync():
                loss_fn(ddp(x), y).backward()
        optimizer.step()
        return time.perf_counter() - start

    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def all_reduce() -> float:
        dist.barrier()
        start = time.perf_counter()
        dist.all_reduce(flat)
        return time.perf_counter() - start

    for _ in range(2):  # warm-up
        step(True), step(False), all_reduce()
    compute = [step(False) for _ in range(repeats)]
    full = [step(True) for _ in range(repeats)]
    alone = [all_reduce() for _ in range(repeats)]
    return {
        "compute_seconds": statistics.median(compute),
        "step_seconds": statistics.median(full),
        "all_reduce_seconds": statistics.median(alone),
        "gradient_bytes": flat.numel() * flat.element_size(),
    }
