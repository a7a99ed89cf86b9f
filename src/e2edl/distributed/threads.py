"""Two processes on the same cores: how many threads each should have (worker functions).

PyTorch computes with one thread per core by default. Two processes that each do so on a 2-core
machine run 4 threads on 2 cores; with GNU OpenMP's default, a thread that runs out of work
*spins* (busy-waits) for a while before it sleeps, taking a core from the other process's threads,
which then wait for their turn — and spin in their turn. The issue that asked for this lesson saw
a conv-heavy script run **10–14× slower** that way than alone, where fair sharing would cost 2×.
The data-parallel lesson measures a small CNN's training step (``conv_step_seconds``): on the
2-core Xeon where it was written, 3.2–9.3× slower (a different number each time: who spins when is
luck), and 1.7–2.0× with one thread each. The fixes: one thread per process (``torchrun`` sets
``OMP_NUM_THREADS=1`` for its workers; ``e2edl.train.distributed.share_cores`` gives each process
``cores / processes``), or a short spin (``import e2edl`` sets ``GOMP_SPINCOUNT=3000`` before
PyTorch loads).
"""

from __future__ import annotations

import statistics
import time

import torch
import torch.distributed as dist
from torch import nn


def matmul_seconds(threads: int, both: bool, size: int = 384, repeats: int = 30) -> float | None:
    """Worker: seconds for ``repeats`` (size × size) matmuls with ``threads`` intra-op threads,
    on rank 0 alone (``both=False``; rank 1 waits) or on both ranks at once. Rank 0's seconds;
    ``None`` from the others."""
    rank = dist.get_rank()
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    a = torch.randn(size, size, generator=torch.Generator().manual_seed(rank))
    a @ a  # warm-up: the thread pool starts
    dist.barrier()
    seconds = None
    if both or rank == 0:
        start = time.perf_counter()
        for _ in range(repeats):
            a @ a
        seconds = time.perf_counter() - start
    dist.barrier()
    torch.set_num_threads(previous)
    return seconds if rank == 0 else None


def small_cnn() -> nn.Module:
    """Three 3×3 convolutions (32, 64, 64 channels), a pooling and a linear layer: ten classes of
    32×32 colour images, the size of a CIFAR network's first stage."""
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(64, 10),
    )  # fmt: skip


def conv_step_seconds(threads: int, both: bool, steps: int = 12, batch: int = 32) -> float | None:
    """Worker: the median seconds of a ``small_cnn`` training step (forward, backward, SGD) on a
    batch of ``batch`` random 32×32 images with ``threads`` intra-op threads, on rank 0 alone
    (``both=False``; rank 1 waits) or on both ranks at once. Rank 0's median; ``None`` from the
    others."""
    rank = dist.get_rank()
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    generator = torch.Generator().manual_seed(rank)
    model = small_cnn()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = (
        torch.randn(batch, 3, 32, 32, generator=generator),
        torch.randint(10, (batch,), generator=generator),
    )

    def step() -> None:
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(3):  # warm-up: the thread pool starts, oneDNN picks its kernels
        step()
    dist.barrier()
    seconds = []
    if both or rank == 0:
        for _ in range(steps):
            start = time.perf_counter()
            step()
            seconds.append(time.perf_counter() - start)
    dist.barrier()
    torch.set_num_threads(previous)
    return statistics.median(seconds) if rank == 0 else None
