"""The data-parallel lesson's exercises: one step of the ring's reduce-scatter, and the ring
all-reduce's cost in the latency–bandwidth model.

The ring is simulated in one process: ``chunks[r][c]`` is rank r's chunk c. Each check runs the
learner's step N-1 times and compares with the library's ring (``e2edl.distributed.ring``) and
with the sums; when the answer is wrong it names the typical mistake.
"""

from __future__ import annotations

import torch

from e2edl.distributed.cost_model import LatencyBandwidth
from e2edl.exercises.checking import Hint, call, expect_number
from e2edl.exercises.exercise import Exercise

# --------------------------------------------------------------------- ring reduce-scatter step


def reference_step(chunks: list[list[torch.Tensor]], step: int) -> list[list[torch.Tensor]]:
    """All ranks at once: rank r receives chunk (r - step - 1) mod N from rank r - 1 and adds it."""
    n = len(chunks)
    out = [[c.clone() for c in rank] for rank in chunks]
    for rank in range(n):
        left, receive = (rank - 1) % n, (rank - step - 1) % n
        out[rank][receive] = chunks[rank][receive] + chunks[left][receive]  # what left sent this step
    return out


def _chunks(world: int, seed: int) -> list[list[torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    return [
        [torch.randint(-9, 10, (3,), generator=generator).float() for _ in range(world)] for _ in range(world)
    ]


def _copy(chunks):
    return [[c.clone() for c in rank] for rank in chunks]


def check_ring_reduce_scatter_step(fn) -> None:
    for world in (2, 3, 4):
        chunks = _chunks(world, seed=world)
        totals = [sum(chunks[r][c] for r in range(world)) for c in range(world)]
        state = _copy(chunks)
        for step in range(world - 1):
            want = reference_step(state, step)
            got = call(fn, _copy(state), step, what="ring_reduce_scatter_step")
            if not (isinstance(got, list) and len(got) == world and all(len(r) == world for r in got)):
                raise Hint(f"return every rank's list of chunks: a list of {world} lists of {world} tensors")
            for rank in range(world):
                for c in range(world):
                    if torch.equal(got[rank][c], want[rank][c]):
                        continue
                    receive = (rank - step - 1) % world
                    if c != receive and not torch.equal(got[rank][c], state[rank][c]):
                        raise Hint(
                            f"with {world} ranks at step {step}, rank {rank} changed chunk {c}; in this step it "
                            f"receives only chunk (rank - step - 1) mod N = {receive} from its left neighbour"
                        )
                    wrong_side = state[rank][receive] + state[(rank + 1) % world][receive]
                    if torch.equal(got[rank][receive], wrong_side):
                        raise Hint(
                            "the ring sends to the right: rank r receives from its LEFT neighbour, rank r - 1"
                        )
                    if torch.equal(got[rank][receive], state[(rank - 1) % world][receive]):
                        raise Hint(
                            "in the reduce-scatter a rank ADDS what it receives to its own chunk; "
                            "replacing it is what the all-gather phase does"
                        )
                    raise Hint(
                        f"with {world} ranks at step {step}, rank {rank}'s chunk {receive} should be its own "
                        "plus what rank r - 1 held before this step"
                    )
            state = got
        for rank in range(world):
            complete = (rank + 1) % world
            if not torch.equal(state[rank][complete], totals[complete]):
                raise Hint(f"after N-1 steps rank {rank} should hold the complete sum of chunk {complete}")


# ------------------------------------------------------------------------------ ring cost model


def check_ring_all_reduce_seconds(fn) -> None:
    cases = [(1e6, 2, 1e-5, 1e9), (4e6, 8, 2e-5, 1e10), (64.0, 4, 5e-5, 1e9), (1e9, 1, 1e-5, 1e9)]
    for nbytes, world, latency, bandwidth in cases:
        want = LatencyBandwidth(latency, bandwidth).ring_all_reduce_seconds(nbytes, world)
        got = call(fn, nbytes, world, latency, bandwidth, what="ring_all_reduce_seconds")
        where = f"for {nbytes:g} bytes on {world} ranks (α = {latency:g} s, β = {bandwidth:g} B/s)"
        if world == 1 and got != 0:
            raise Hint("a single rank sends nothing: the cost is 0")
        steps = 2 * (world - 1)
        mistakes = [
            ((world - 1) * latency + (world - 1) / world * nbytes / bandwidth,
             "count both phases: reduce-scatter AND all-gather each take N-1 steps (2(N-1) in all)"),
            (steps * latency + steps * nbytes / bandwidth,
             "each message carries one chunk, bytes/N, not the whole tensor"),
            (steps * latency + 2 * nbytes / bandwidth,
             "each rank sends 2(N-1) chunks of bytes/N: 2(N-1)/N · bytes, which is less than 2 · bytes"),
        ]  # fmt: skip
        if world > 1 and not (isinstance(got, (int, float)) and abs(got - want) <= 1e-9 * want + 1e-15):
            for wrong, hint in mistakes:
                if isinstance(got, (int, float)) and abs(got - wrong) <= 1e-9 * abs(wrong):
                    raise Hint(hint)
        expect_number(got, want, where, atol=0.0, rtol=1e-9)


EXERCISES = [
    Exercise(
        "ring-reduce-scatter-step",
        "ring_reduce_scatter_step",
        "one step of the ring's reduce-scatter for every rank at once: rank r adds the chunk its left "
        "neighbour sends, chunk (r - step - 1) mod N",
        check_ring_reduce_scatter_step,
    ),
    Exercise(
        "ring-all-reduce-seconds",
        "ring_all_reduce_seconds",
        "the ring all-reduce's time in the latency–bandwidth model: 2(N-1)·α + 2(N-1)/N · bytes/β",
        check_ring_all_reduce_seconds,
    ),
]
