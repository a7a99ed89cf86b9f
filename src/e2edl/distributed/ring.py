"""All-reduce written by hand: a ring of sends and receives, equal to ``dist.all_reduce``.

N ranks stand in a ring; each sends only to its right neighbour and receives only from its
left. The tensor is cut into N chunks. Two phases of N-1 steps each:

1. **reduce-scatter**: at step s rank r sends chunk (r - s) mod N to the right and adds the chunk
   (r - s - 1) mod N it receives from the left into its own. After N-1 steps rank r holds the
   complete sum of chunk (r + 1) mod N.
2. **all-gather**: the complete chunks travel once more round the ring, each rank copying what it
   receives, until every rank has every complete chunk.

Each rank sends 2(N-1) messages of n/N values: 2(N-1)/N · n values in all — nearly 2n, **whatever
N is**. That is why the ring is the bandwidth-optimal all-reduce and what NCCL does for large
messages. Its cost, in the latency–bandwidth (α–β) model of a message of b bytes costing
α + b/β, is ``2(N-1)·α + 2(N-1)/N · bytes/β`` (:mod:`e2edl.distributed.cost_model`).

The sums are added in ring order, so for three or more ranks the last bits can differ from
another all-reduce's (floating-point addition is not associative); for two ranks both add
a + b, and the results are equal bit for bit.
"""

from __future__ import annotations

import time

import torch
import torch.distributed as dist


def _exchange(send: torch.Tensor, to: int, receive: torch.Tensor, source: int) -> None:
    """Send ``send`` to rank ``to`` while receiving ``receive`` from rank ``source``.

    The send is started first and not waited for (``isend``): if every rank first waited for its
    own send to be received, every rank would wait and none would receive — a deadlock."""
    request = dist.isend(send, dst=to)
    dist.recv(receive, src=source)
    request.wait()


def ring_all_reduce(tensor: torch.Tensor) -> torch.Tensor:
    """Sum ``tensor`` over all ranks, in place, with a ring of send/recv (returns ``tensor``)."""
    if not tensor.is_contiguous():
        raise ValueError("ring_all_reduce works in place on a contiguous tensor: pass tensor.contiguous()")
    world, rank = dist.get_world_size(), dist.get_rank()
    if world == 1:
        return tensor
    chunks = tensor.view(-1).tensor_split(world)  # N views into the tensor, sizes differ by ≤ 1
    right, left = (rank + 1) % world, (rank - 1) % world
    for step in range(world - 1):  # reduce-scatter
        send, receive = (rank - step) % world, (rank - step - 1) % world
        incoming = torch.empty_like(chunks[receive])
        _exchange(chunks[send], right, incoming, left)
        chunks[receive].add_(incoming)
    for step in range(world - 1):  # all-gather: chunk (rank + 1) mod N is complete here
        send, receive = (rank + 1 - step) % world, (rank - step) % world
        _exchange(chunks[send], right, chunks[receive], left)
    return tensor


def compare_with_all_reduce(numel: int = 1000, seed: int = 0) -> dict:
    """Worker: the hand ring against ``dist.all_reduce`` on the same random tensor (per rank)."""
    generator = torch.Generator().manual_seed(seed + dist.get_rank())
    tensor = torch.randn(numel, generator=generator)
    ours, theirs = ring_all_reduce(tensor.clone()), tensor.clone()
    dist.all_reduce(theirs)
    return {"ring": ours, "all_reduce": theirs, "max_difference": (ours - theirs).abs().max().item()}


def time_all_reduce(sizes_bytes: list[int], repeats: int = 5, method: str = "ring") -> list[float]:
    """Worker: the fewest seconds of one all-reduce of a float32 tensor of each size.

    ``method``: ``"ring"`` (ours) or ``"gloo"`` (``dist.all_reduce``). A barrier before each
    repetition starts every rank together, so a measurement is not one rank waiting for another.
    The fastest repetition, not the median: on a shared machine other processes only ever add
    time, and a latency of microseconds drowns in one scheduling delay."""
    reduce = ring_all_reduce if method == "ring" else dist.all_reduce
    fastest = []
    for nbytes in sizes_bytes:
        tensor = torch.ones(max(1, nbytes // 4))
        reduce(tensor)  # warm-up: the first message sets up the connection's buffers
        seconds = []
        for _ in range(repeats):
            dist.barrier()
            start = time.perf_counter()
            reduce(tensor)
            seconds.append(time.perf_counter() - start)
        fastest.append(min(seconds))
    return fastest
