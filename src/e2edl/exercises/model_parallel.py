"""The model-parallel lesson's exercises: the tensor-parallel MLP simulated on one process, the
row order that hands each rank whole attention heads, and the pipeline's bubble.

Each check compares the learner's function with the library (``e2edl.distributed``) or with the
unsplit computation on fixed random inputs, and names the typical mistake when it sees one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from e2edl.distributed.tensor_parallel import grouped_rows
from e2edl.exercises.checking import Hint, call, expect_number, expect_tensor
from e2edl.exercises.exercise import Exercise

# ------------------------------------------------------------------------- tensor-parallel MLP


def _mlp(x, w1, b1, w2, b2):
    return F.linear(F.gelu(F.linear(x, w1, b1)), w2, b2)  # nn.Linear: weight (out, in)


def check_tensor_parallel_mlp(fn) -> None:
    generator = torch.Generator().manual_seed(0)
    C, H = 8, 32
    x = torch.randn(2, 5, C, generator=generator)
    w1, b1 = torch.randn(H, C, generator=generator) * 0.3, torch.randn(H, generator=generator) * 0.3
    w2, b2 = torch.randn(C, H, generator=generator) * 0.3, torch.randn(C, generator=generator) * 0.3
    want = _mlp(x, w1, b1, w2, b2)  # (B, T, C)
    for world in (1, 2, 4):
        got = call(fn, x, w1, b1, w2, b2, world, what="tensor_parallel_mlp")
        if (
            isinstance(got, torch.Tensor)
            and got.shape == want.shape
            and not torch.allclose(got, want, atol=1e-5)
        ):
            if torch.allclose(got, want + (world - 1) * b2, atol=1e-5):
                raise Hint(
                    f"with {world} ranks the output bias is added {world} times: every rank's partial output "
                    "is summed, so add c_proj's bias once, after the sum (or on one rank only)"
                )
            partial_sum = sum(
                F.linear(F.linear(x, w1r, b1r), w2r)
                for w1r, b1r, w2r in zip(w1.chunk(world), b1.chunk(world), w2.chunk(world, dim=1))
            )
            if torch.allclose(got, F.linear(F.gelu(partial_sum), torch.eye(C)) + b2, atol=1e-5):
                raise Hint(
                    "GELU is applied per rank, on each rank's hidden units, before the row-wise matmul"
                )
        expect_tensor(got, want, f"the MLP's output with {world} ranks", atol=1e-5, rtol=1e-4)


# -------------------------------------------------------------------------- head-grouped rows


def check_grouped_qkv_rows(fn) -> None:
    for n_embd, world in ((8, 2), (12, 3), (16, 4), (8, 1)):
        want = grouped_rows(n_embd, world)
        got = call(fn, n_embd, world, what="grouped_qkv_rows")
        got = torch.as_tensor(got) if isinstance(got, (list, tuple)) else got
        if isinstance(got, torch.Tensor) and got.shape == want.shape and not torch.equal(got, want):
            if torch.equal(got, torch.arange(3 * n_embd)):
                raise Hint(
                    "that is the fused order q | k | v: cut in N pieces it hands rank 0 all the queries "
                    "and no values. Reorder the rows so each rank's piece is its heads' q, then k, then v"
                )
            if torch.equal(got, torch.arange(3 * n_embd).view(3, n_embd).T.reshape(-1)):
                raise Hint(
                    "you interleaved single rows (q0 k0 v0 q1 …): keep each rank's C/N query rows together"
                )
        expect_tensor(got, want, f"the row order for n_embd={n_embd} on {world} ranks")


# ------------------------------------------------------------------------------ pipeline bubble


def check_bubble_fraction(fn) -> None:
    for stages, micro in ((2, 1), (2, 4), (4, 4), (4, 16), (1, 8)):
        want = (stages - 1) / (micro + stages - 1)
        got = call(fn, stages, micro, what="bubble_fraction")
        if isinstance(got, (int, float)) and abs(got - want) > 1e-12:
            if micro and abs(got - (stages - 1) / micro) < 1e-12:
                raise Hint(
                    "that is idle time over *busy* time; the bubble is the share of the whole step: "
                    "divide by all m + p - 1 slots"
                )
            if abs(got - (stages - 1) / (micro + stages)) < 1e-12:
                raise Hint("a sweep of m micro-batches through p stages takes m + p - 1 slots, not m + p")
        expect_number(
            got, want, f"the bubble of {stages} stages with {micro} micro-batches", atol=1e-12, rtol=0
        )


EXERCISES = [
    Exercise(
        "tensor-parallel-mlp",
        "tensor_parallel_mlp",
        "the GPT MLP split over N ranks: c_fc column-wise, c_proj row-wise, the partial outputs summed",
        check_tensor_parallel_mlp,
    ),
    Exercise(
        "grouped-qkv-rows",
        "grouped_qkv_rows",
        "the order of c_attn's 3C output rows that hands each of N ranks its heads' q, k and v",
        check_grouped_qkv_rows,
    ),
    Exercise(
        "bubble-fraction",
        "bubble_fraction",
        "the share of a pipeline step each stage sits idle: (p - 1) / (m + p - 1)",
        check_bubble_fraction,
    ),
]
