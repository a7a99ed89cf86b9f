"""Data parallelism three ways, equal: one process on the global batch, gradients averaged by
hand, and ``DistributedDataParallel`` — plus ``no_sync`` for gradient accumulation and what the
bucket size changes. The ``train_*`` functions with a rank run in a ``LocalGroup`` worker.

The three agree because of one identity. For a global batch cut into N equal slices, the mean
loss over the batch is the mean of the N slices' mean losses, and so is its gradient::

    ∇ (1/B) Σ_i ℓ_i  =  (1/N) Σ_r ∇ (N/B) Σ_{i in slice r} ℓ_i

Each rank computes one term on the right; an all-reduce (sum) divided by N gives every rank the
left-hand side, so every rank takes the step one process would have taken on the whole batch.
Only the order of the floating-point additions differs, so the weights agree to rounding
(``TOLERANCE``), not bit for bit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.algorithms.ddp_comm_hooks import default_hooks

from e2edl.data.rank_shard import rank_slice

TOLERANCE = {"rtol": 1e-5, "atol": 1e-6}  # float32, a few steps: rounding only


@dataclass(frozen=True)
class Problem:
    """A small classification problem and its training: an MLP, SGD, a few global batches."""

    samples: int = 256
    features: int = 16
    hidden: int = 64
    classes: int = 4
    global_batch: int = 32
    steps: int = 8
    lr: float = 0.2
    seed: int = 0

    def data(self) -> tuple[torch.Tensor, torch.Tensor]:
        """x (samples, features) float32, y (samples,) int64: classes by a random linear rule."""
        generator = torch.Generator().manual_seed(self.seed)
        x = torch.randn(self.samples, self.features, generator=generator)
        y = (x @ torch.randn(self.features, self.classes, generator=generator)).argmax(dim=1)
        return x, y

    def model(self) -> nn.Module:
        """The same initial weights in every process (built from the problem's seed)."""
        torch.manual_seed(self.seed)
        return nn.Sequential(
            nn.Linear(self.features, self.hidden), nn.ReLU(), nn.Linear(self.hidden, self.classes)
        )

    def global_batches(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The ``steps`` global batches, in order (the same in every process)."""
        x, y = self.data()
        order = torch.randperm(self.samples, generator=torch.Generator().manual_seed(self.seed + 1))
        b = self.global_batch
        return [(x[idx], y[idx]) for idx in (order[(i * b) % self.samples :][:b] for i in range(self.steps))]


def average_gradients(model: nn.Module) -> None:
    """Data parallelism by hand: replace each gradient by its mean over the ranks (in place)."""
    world = dist.get_world_size()
    for parameter in model.parameters():
        if parameter.grad is not None:
            dist.all_reduce(parameter.grad, op=dist.ReduceOp.SUM)
            parameter.grad.div_(world)


def _mean_over_ranks(value: torch.Tensor) -> float:
    value = value.detach().clone()
    dist.all_reduce(value)
    return value.item() / dist.get_world_size()


def train_single(problem: Problem) -> dict:
    """One process on the whole global batch: the reference (runs anywhere, no group needed)."""
    model = problem.model()
    optimizer = torch.optim.SGD(model.parameters(), lr=problem.lr)
    losses = []
    for x, y in problem.global_batches():
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return {"losses": losses, "weights": model.state_dict()}


def train_by_hand(problem: Problem) -> dict:
    """Worker: each rank its slice of every global batch, gradients averaged by hand."""
    rank, world = dist.get_rank(), dist.get_world_size()
    model = problem.model()
    optimizer = torch.optim.SGD(model.parameters(), lr=problem.lr)
    losses = []
    for batch in problem.global_batches():
        x, y = rank_slice(batch, rank, world)  # (B/N, features), (B/N,)
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        average_gradients(model)
        optimizer.step()
        losses.append(_mean_over_ranks(loss))
    return {"losses": losses, "weights": model.state_dict()}


class CallCounter:
    """A DDP communication hook that counts the all-reduces (one per bucket) and their bytes,
    then does the ordinary all-reduce: ``ddp.register_comm_hook(counter, counter.hook)``."""

    def __init__(self) -> None:
        self.calls, self.bytes = 0, 0

    @staticmethod
    def hook(state, bucket):  # no annotations: DDP checks them, and here they would be strings
        """(CallCounter, dist.GradBucket) → the all-reduce's Future."""
        buffer = bucket.buffer()
        state.calls += 1
        state.bytes += buffer.numel() * buffer.element_size()
        return default_hooks.allreduce_hook(None, bucket)  # None: the default process group


def train_ddp(
    problem: Problem, bucket_cap_mb: float = 25.0, micro_batches: int = 1, no_sync: bool = True
) -> dict:
    """Worker: ``DistributedDataParallel``, optionally with gradient accumulation.

    With ``micro_batches`` k > 1 each rank splits its slice into k micro-batches and adds their
    gradients before the step (each loss divided by k, so the sum is the slice's mean). With
    ``no_sync`` the first k-1 backward passes skip DDP's all-reduce: the gradients pile up
    locally and the last backward reduces them once. Returns the losses, the weights and how
    many all-reduces (buckets) and bytes a step cost.
    """
    rank, world = dist.get_rank(), dist.get_world_size()
    ddp = nn.parallel.DistributedDataParallel(problem.model(), bucket_cap_mb=bucket_cap_mb)
    counter = CallCounter()
    ddp.register_comm_hook(counter, CallCounter.hook)
    optimizer = torch.optim.SGD(ddp.parameters(), lr=problem.lr)
    losses = []
    for batch in problem.global_batches():
        x, y = rank_slice(batch, rank, world)
        optimizer.zero_grad()
        total = torch.zeros(())
        for i, (xm, ym) in enumerate(zip(x.tensor_split(micro_batches), y.tensor_split(micro_batches))):
            last = i == micro_batches - 1
            with ddp.no_sync() if no_sync and not last else _nothing():
                loss = nn.functional.cross_entropy(ddp(xm), ym) * len(ym) / len(y)
                loss.backward()
            total += loss.detach()
        optimizer.step()
        losses.append(_mean_over_ranks(total))
    steps = len(losses)
    return {
        "losses": losses,
        "weights": ddp.module.state_dict(),
        "allreduces_per_step": counter.calls / steps,
        "bytes_per_step": counter.bytes / steps,
    }


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def bucket_timing(
    bucket_caps_mb: list[float], width: int = 512, depth: int = 8, batch: int = 64, steps: int = 10
) -> list[dict]:
    """Worker: seconds per DDP step of a ``depth``-layer MLP of ``width`` for each bucket size.

    Small buckets: many all-reduces, each paying the latency. One huge bucket: a single
    all-reduce that can only start once the whole backward pass is done — nothing overlaps. In
    between, DDP reduces the last layers' gradients while the backward pass still works on
    the first ones. The median of ``steps`` timed steps after a warm-up, rank 0's clock."""
    rank = dist.get_rank()
    rows = []
    for cap in bucket_caps_mb:
        torch.manual_seed(0)  # a fresh model for each DDP (DDP hooks into its parameters)
        layers = [m for _ in range(depth) for m in (nn.Linear(width, width), nn.ReLU())]
        ddp = nn.parallel.DistributedDataParallel(nn.Sequential(*layers), bucket_cap_mb=cap)
        counter = CallCounter()
        ddp.register_comm_hook(counter, CallCounter.hook)
        x = torch.randn(batch, width, generator=torch.Generator().manual_seed(rank))
        seconds = []
        for step in range(steps + 2):
            dist.barrier()
            start = time.perf_counter()
            ddp(x).square().mean().backward()
            seconds.append(time.perf_counter() - start)
            if step == 1:  # after the warm-up steps (DDP re-buckets after its first step)
                seconds, counter.calls = [], 0
        parameter_mb = sum(p.numel() * p.element_size() for p in ddp.parameters()) / 2**20
        seconds.sort()
        rows.append(
            {
                "bucket_cap_mb": cap,
                "buckets": counter.calls / steps,
                "gradient_mb": round(parameter_mb, 2),
                "seconds": seconds[len(seconds) // 2],
            }
        )
    return rows
