"""One random-graph harness for the autograd engines: a random program, run through an engine and
through a reference (``torch.autograd`` in float64, or another engine), every value and every
leaf's gradient compared.

A *program* is a list of steps ``(op, i, j)``: apply ``op`` to node ``i`` (and ``j``) of the nodes
built so far, indices wrapping around, so later steps reuse earlier nodes — the case where a
gradient must be *accumulated* from several uses. The ops are written once for every engine: they
call only what ``Value``, ``Tensor`` and ``torch.Tensor`` have in common, and keep each input in a
safe domain by construction (``log`` sees values ≥ 0.1, division values ≥ 0.5, ``exp`` sees a tanh).

The tests draw programs with hypothesis (which shrinks a failure to a small program); the
tensors-autograd experiment and lesson draw them with NumPy (``random_scalar_case``,
``random_tensor_case``). Both run them with the functions here. The error of one number is
``|ours − reference| / (1 + |reference|)``: absolute near 0, relative for large numbers.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from e2edl.autograd.scalar import Value
from e2edl.autograd.tensor import Tensor

Program = list[tuple[str, int, int]]
Builder = Callable[[list], list]  # leaves -> every node built (leaves included or not)


def torch_leaf(x) -> torch.Tensor:
    """The reference engine's leaf: a float64 torch tensor that records gradients."""
    return torch.tensor(x, dtype=torch.float64, requires_grad=True)


def _softplus(a):
    return F.softplus(a) if isinstance(a, torch.Tensor) else a.softplus()


def swap_last_two(a):
    """``A.T`` for a (batched) matrix in any engine."""
    return a.transpose(-1, -2) if isinstance(a, torch.Tensor) else a.T


# Ops for every engine (scalars and tensors alike).
UNARY: dict[str, Callable] = {
    "neg": lambda a: -a,
    "exp": lambda a: a.tanh().exp(),  # tanh first, so that chains of exp cannot overflow
    "log": lambda a: (a * a + 0.1).log(),
    "tanh": lambda a: a.tanh(),
    "relu": lambda a: a.relu(),
    "sigmoid": lambda a: a.sigmoid(),
    "square": lambda a: a**2,
    "cube": lambda a: a**3,
    "rsqrt": lambda a: (a * a + 0.5) ** -0.5,
    "add_const": lambda a: a + 1.5,
    "rsub_const": lambda a: 2.0 - a,
    "rmul_const": lambda a: 3.0 * a,
    "rdiv_const": lambda a: 1.0 / (a * a + 1.0),
}
BINARY: dict[str, Callable] = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (b * b + 0.5),
}
# Tensor-only ops. Every result still broadcasts against every other node (reductions keep their
# axes or drop the leading one), so any two nodes can meet in a binary op.
TENSOR_UNARY: dict[str, Callable] = {
    "softplus": _softplus,
    "sum_all": lambda a: a.sum(),
    "mean_all": lambda a: a.mean(),
    "sum_first": lambda a: a.sum(axis=0) if a.ndim else a,
    "sum_last_keep": lambda a: a.sum(axis=-1, keepdims=True) if a.ndim else a,
    "mean_first_keep": lambda a: a.mean(axis=0, keepdims=True) if a.ndim else a,
    "mean_two_keep": lambda a: a.mean(axis=(0, -1), keepdims=True) if a.ndim >= 2 else a,
    "logsumexp_last_keep": lambda a: a.logsumexp(axis=-1, keepdims=True) if a.ndim else a,
}
OPS = UNARY | BINARY | TENSOR_UNARY
SCALAR_OPS = tuple(sorted(UNARY) + sorted(BINARY))  # what a Value supports
TENSOR_OPS = tuple(sorted(UNARY | TENSOR_UNARY) + sorted(BINARY))  # what a Tensor supports
ACTIVATIONS = ("tanh", "relu", "sigmoid")


class Errors(NamedTuple):
    """The largest disagreement over a graph's node values and over its leaves' gradients."""

    value: float
    grad: float


def evaluate(program: Program, leaves: Sequence) -> list:
    """Apply ``program`` to ``leaves``; return every node: the leaves, then one per step."""
    nodes = list(leaves)
    for op, i, j in program:
        a, b = nodes[i % len(nodes)], nodes[j % len(nodes)]
        nodes.append(BINARY[op](a, b) if op in BINARY else OPS[op](a))
    return nodes


def _data(node) -> np.ndarray:
    return (
        node.detach().numpy() if isinstance(node, torch.Tensor) else np.asarray(node.data, dtype=np.float64)
    )


def _grad(leaf) -> np.ndarray:
    if isinstance(leaf, torch.Tensor):  # torch leaves no .grad where the output does not depend on them
        return np.zeros(tuple(leaf.shape)) if leaf.grad is None else leaf.grad.numpy()
    return np.asarray(leaf.grad, dtype=np.float64)


def relative_error(ours, reference) -> float:
    """Largest ``|ours − reference| / (1 + |reference|)``; infinite where the shapes differ."""
    ours, reference = np.asarray(ours, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    if ours.shape != reference.shape:
        return float("inf")
    return float(np.max(np.abs(ours - reference) / (1.0 + np.abs(reference)), initial=0.0))


# ---- scalar graphs ----------------------------------------------------------------------------------
def scalar_graph(values: Sequence[float], program: Program, leaf: Callable = Value):
    """Run ``program`` on ``leaf(v)`` for each value, then ``backward()`` from the sum of every node
    built (so every backward closure runs). Returns (every node's value, every leaf's gradient)."""
    leaves = [leaf(v) for v in values]
    nodes = evaluate(program, leaves)
    output = functools.reduce(operator.add, nodes[len(leaves) :])
    output.backward()
    return [float(_data(n)) for n in nodes], [float(_grad(x)) for x in leaves]


def compare_scalar(
    values: Sequence[float], program: Program, engine: Callable = Value, reference: Callable = torch_leaf
) -> Errors | None:
    """``engine`` against ``reference`` on one scalar graph; ``None`` where the reference's numbers are
    not finite (a long chain of cubes can overflow), since such a graph says nothing."""
    want_values, want_grads = scalar_graph(values, program, reference)
    if not np.isfinite(want_values + want_grads).all():
        return None
    got_values, got_grads = scalar_graph(values, program, engine)
    return Errors(relative_error(got_values, want_values), relative_error(got_grads, want_grads))


def random_program(rng: np.random.Generator, ops: Sequence[str], max_steps: int) -> Program:
    """1 to ``max_steps`` steps ``(op, i, j)`` with ops drawn from ``ops``."""
    steps = int(rng.integers(1, max_steps + 1))
    return [
        (str(rng.choice(list(ops))), int(rng.integers(100)), int(rng.integers(100))) for _ in range(steps)
    ]


def random_scalar_case(
    rng: np.random.Generator, ops: Sequence[str] = SCALAR_OPS, max_steps: int = 10
) -> tuple[list[float], Program]:
    """1-4 leaf values in [-2, 2] and a random program over them."""
    values = [float(v) for v in rng.uniform(-2, 2, size=rng.integers(1, 5))]
    return values, random_program(rng, ops, max_steps)


# ---- tensor graphs ----------------------------------------------------------------------------------
def tensor_graph(leaves: Sequence[np.ndarray], build: Builder, seed: int, leaf: Callable = Tensor):
    """Run ``build`` on ``leaf(x)`` for each array, then ``backward()`` from a scalar that depends on
    every entry of every node through its own random weight (drawn from ``seed``), so that each entry
    gets a different upstream gradient. Returns (every node's array, every leaf's gradient)."""
    xs = [leaf(x) for x in leaves]
    nodes = build(xs)
    rng = np.random.default_rng(seed)
    terms = [(node * leaf(rng.normal(size=_data(node).shape))).sum() for node in nodes]
    functools.reduce(operator.add, terms).backward()
    return [_data(n) for n in nodes], [_grad(x) for x in xs]


def compare_tensor(
    leaves: Sequence[np.ndarray],
    build: Builder,
    seed: int = 0,
    engine: Callable = Tensor,
    reference: Callable = torch_leaf,
) -> Errors | None:
    """``engine`` against ``reference`` on one tensor graph; ``None`` where the reference is not finite."""
    want_values, want_grads = tensor_graph(leaves, build, seed, reference)
    if not all(np.isfinite(a).all() for a in want_values + want_grads):
        return None
    got_values, got_grads = tensor_graph(leaves, build, seed, engine)
    if len(got_values) != len(want_values):
        return Errors(float("inf"), float("inf"))
    return Errors(
        max(relative_error(g, w) for g, w in zip(got_values, want_values)),
        max(relative_error(g, w) for g, w in zip(got_grads, want_grads)),
    )


def program_builder(program: Program) -> Builder:
    return lambda xs: evaluate(program, xs)


def matmul_chain_builder(transposed: Sequence[bool], activations: Sequence[str]) -> Builder:
    """``act(…act(A1 @ A2) @ A3 …)``, where a factor stored transposed is used as ``A.T``."""

    def build(xs: list) -> list:
        nodes = list(xs)
        out = swap_last_two(xs[0]) if transposed[0] else xs[0]
        for x, flip, act in zip(xs[1:], transposed[1:], activations):
            out = out @ (swap_last_two(x) if flip else x)  # (*batch, n_0, n_i) @ (*batch, n_i, n_i+1)
            out = out if act == "none" else getattr(out, act)()
            nodes.append(out)
        return nodes

    return build


def random_broadcast_leaves(rng: np.random.Generator) -> list[np.ndarray]:
    """1-4 arrays whose shapes broadcast to one base shape: some leading axes dropped, some sizes 1."""
    base = rng.integers(1, 5, size=rng.integers(0, 4))
    leaves = []
    for _ in range(rng.integers(1, 5)):
        kept = base[rng.integers(0, len(base) + 1) :]
        shape = tuple(1 if rng.random() < 0.5 else int(n) for n in kept)
        leaves.append(rng.uniform(-2, 2, size=shape))
    return leaves


def random_matmul_chain(
    rng: np.random.Generator, activations: Sequence[str] = ACTIVATIONS, batched: bool = True
) -> tuple[list[np.ndarray], Builder]:
    """A chain of 1-4 products with random sizes; ``batched``: leading batch axes that broadcast, and
    some factors stored transposed."""
    sizes = rng.integers(1, 5, size=rng.integers(2, 6))
    batch = rng.integers(1, 4, size=rng.integers(0, 3)) if batched else np.array([], dtype=int)
    leaves, transposed = [], []
    for n, m in zip(sizes, sizes[1:]):
        b = tuple(1 if rng.random() < 0.5 else int(k) for k in batch[rng.integers(0, len(batch) + 1) :])
        flip = batched and bool(rng.random() < 0.5)
        leaves.append(rng.uniform(-2, 2, size=(*b, m, n) if flip else (*b, n, m)))
        transposed.append(flip)
    acts = [str(a) for a in rng.choice(list(activations), size=len(leaves))]
    return leaves, matmul_chain_builder(transposed, acts)


def random_tensor_case(
    rng: np.random.Generator,
    ops: Sequence[str] = TENSOR_OPS,
    activations: Sequence[str] = ACTIVATIONS,
    batched: bool = True,
    max_steps: int = 8,
) -> tuple[list[np.ndarray], Builder]:
    """Half the time broadcasting leaves and a random program over ``ops``, else a matmul chain."""
    if rng.random() < 0.5:
        return random_broadcast_leaves(rng), program_builder(random_program(rng, ops, max_steps))
    return random_matmul_chain(rng, activations, batched)


# ---- many graphs -----------------------------------------------------------------------------------
def compare_engines(n_graphs: int, seed: int = 0, progress: bool = False) -> dict[str, float]:
    """Both library engines against torch on ``n_graphs`` random graphs each: the largest errors, and
    how many graphs were compared (those whose torch numbers are finite)."""
    from tqdm.auto import tqdm

    rng = np.random.default_rng(seed)
    found: dict[str, list[Errors]] = {"scalar": [], "tensor": []}
    for _ in tqdm(range(n_graphs), desc="engines vs torch", disable=not progress, leave=False):
        found["scalar"].append(compare_scalar(*random_scalar_case(rng)))
        found["tensor"].append(compare_tensor(*random_tensor_case(rng), seed=int(rng.integers(2**31))))
    summary: dict[str, float] = {}
    for engine, errors in found.items():
        checked = [e for e in errors if e is not None]
        summary[f"{engine}_graphs_compared"] = len(checked)
        summary[f"{engine}_max_value_error"] = max(e.value for e in checked)
        summary[f"{engine}_max_grad_error"] = max(e.grad for e in checked)
    return summary
