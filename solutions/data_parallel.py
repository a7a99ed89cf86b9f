"""Reference solutions of the data-parallel lesson's exercises, and typical mistakes each check
must reject with a hint that names it."""

from __future__ import annotations

import torch


def ring_reduce_scatter_step(chunks: list[list[torch.Tensor]], step: int) -> list[list[torch.Tensor]]:
    n = len(chunks)
    out = [[chunk.clone() for chunk in rank] for rank in chunks]
    for rank in range(n):
        left, receive = (rank - 1) % n, (rank - step - 1) % n
        out[rank][receive] = chunks[rank][receive] + chunks[left][receive]  # left's chunk before this step
    return out


def ring_all_reduce_seconds(nbytes: float, world_size: int, latency: float, bandwidth: float) -> float:
    if world_size == 1:
        return 0.0
    steps = 2 * (world_size - 1)
    return steps * latency + steps / world_size * nbytes / bandwidth


# ----------------------------------------------------------------------------- typical mistakes


def _replaces_instead_of_adding(chunks, step):
    n = len(chunks)
    out = [[chunk.clone() for chunk in rank] for rank in chunks]
    for rank in range(n):
        receive = (rank - step - 1) % n
        out[rank][receive] = chunks[(rank - 1) % n][receive].clone()
    return out


def _from_the_right(chunks, step):
    n = len(chunks)
    out = [[chunk.clone() for chunk in rank] for rank in chunks]
    for rank in range(n):
        receive = (rank - step - 1) % n
        out[rank][receive] = chunks[rank][receive] + chunks[(rank + 1) % n][receive]
    return out


def _wrong_chunk(chunks, step):
    n = len(chunks)
    out = [[chunk.clone() for chunk in rank] for rank in chunks]
    for rank in range(n):
        receive = (rank + step) % n
        out[rank][receive] = chunks[rank][receive] + chunks[(rank - 1) % n][receive]
    return out


def _one_phase(nbytes, world_size, latency, bandwidth):
    if world_size == 1:
        return 0.0
    return (world_size - 1) * latency + (world_size - 1) / world_size * nbytes / bandwidth


def _whole_tensor_per_message(nbytes, world_size, latency, bandwidth):
    if world_size == 1:
        return 0.0
    steps = 2 * (world_size - 1)
    return steps * latency + steps * nbytes / bandwidth


MISTAKES = {
    "ring-reduce-scatter-step": [
        (_replaces_instead_of_adding, "ADDS what it receives"),
        (_from_the_right, "LEFT neighbour"),
        (_wrong_chunk, "receives only chunk"),
    ],
    "ring-all-reduce-seconds": [
        (_one_phase, "both phases"),
        (_whole_tensor_per_message, "bytes/N"),
    ],
}
