"""Two processes on the same cores: how many threads each should have (a worker function).

PyTorch computes a large matmul with one thread per core by default. Two processes that each
do so on a 2-core machine run 4 threads on 2 cores; with GNU OpenMP's default, a thread that
runs out of work *spins* (busy-waits) for a while before it sleeps, taking a core from the
other process's threads, which then wait for their turn — and spin in their turn. Measured on
this course's 2-core machines: **10–14× slower** than one process alone, where fair sharing
would cost 2×. The fixes: one thread per process (``torchrun`` sets ``OMP_NUM_THREADS=1`` for its
workers; ``e2edl.train.distributed.share_cores`` gives each process ``cores / processes``), or a
short spin (``import e2edl`` sets ``GOMP_SPINCOUNT=3000`` before PyTorch loads).
"""

from __future__ import annotations

import time

import torch
import torch.distributed as dist


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
