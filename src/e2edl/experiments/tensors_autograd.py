"""Lesson 01's experiment: the from-scratch autograd engines agree with PyTorch, and they can train.

(a) Random expression graphs — random ops over a few random leaves, nodes reused, broadcasting and
    matrix-product chains for the tensor engine — are run through ``e2edl.autograd.Value``/``Tensor``
    and through ``torch.autograd`` in float64; the forward values and the leaves' gradients must agree.
    The error of one number is ``|ours − torch| / (1 + |torch|)``: absolute near 0, relative for big ones.
(b) A small MLP written with the ``Tensor`` engine (no torch) learns scikit-learn's two moons and is
    scored on a held-out test split it never trained on.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import make_moons
from sklearn.model_selection import train_test_split
from tqdm.auto import tqdm

from e2edl.autograd import Tensor, TensorMLP, Value, cross_entropy, sgd_step
from e2edl.course.claims import Claim
from e2edl.course.lesson import Lesson, RunConfig

MOONS_NOISE = 0.15


# ---- (a) random expression graphs, both engines vs torch -------------------------------------------
def _softplus(a):
    return F.softplus(a) if isinstance(a, torch.Tensor) else a.softplus()


# Recipes that work on our engines and on torch tensors alike. Domains are safe by construction:
# log only sees values >= 0.1 and division only values >= 0.5; exp sees tanh(x), so it cannot overflow.
UNARY = {
    "neg": lambda a: -a,
    "exp": lambda a: a.tanh().exp(),
    "log": lambda a: (a * a + 0.1).log(),
    "tanh": lambda a: a.tanh(),
    "relu": lambda a: a.relu(),
    "sigmoid": lambda a: a.sigmoid(),
    "square": lambda a: a**2,
    "rsqrt": lambda a: (a * a + 0.5) ** -0.5,
    "rdiv_const": lambda a: 1.0 / (a * a + 1.0),
}
BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (b * b + 0.5),
}
# Tensor-only: reductions keep every node broadcastable against every other one.
TENSOR_UNARY = {
    "softplus": _softplus,
    "sum_all": lambda a: a.sum(),
    "mean_first_keep": lambda a: a.mean(axis=0, keepdims=True) if a.ndim else a,
    "sum_last_keep": lambda a: a.sum(axis=-1, keepdims=True) if a.ndim else a,
    "logsumexp_last_keep": lambda a: a.logsumexp(axis=-1, keepdims=True) if a.ndim else a,
}


def random_program(rng: np.random.Generator, ops: list[str], n_ops: int) -> list[tuple[str, int, int]]:
    """``n_ops`` steps ``(op, i, j)``: apply ``op`` to nodes ``i`` (and ``j``) of those built so far."""
    return [(str(rng.choice(ops)), int(rng.integers(1000)), int(rng.integers(1000))) for _ in range(n_ops)]


def evaluate(program, leaves, unary: dict):
    nodes = list(leaves)
    for op, i, j in program:
        a, b = nodes[i % len(nodes)], nodes[j % len(nodes)]
        nodes.append(unary[op](a) if op in unary else BINARY[op](a, b))
    return nodes


def _error(ours, theirs) -> float:
    """Largest ``|ours − torch| / (1 + |torch|)`` over all entries."""
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    return float(np.max(np.abs(ours - theirs) / (1.0 + np.abs(theirs)), initial=0.0))


def check_scalar_graph(rng: np.random.Generator) -> tuple[float, float]:
    """One random scalar graph through ``Value`` and torch: (max value error, max gradient error)."""
    values = rng.uniform(-2, 2, size=rng.integers(1, 5))
    program = random_program(rng, sorted(UNARY) + sorted(BINARY), int(rng.integers(1, 11)))
    ours = [Value(v) for v in values]
    theirs = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in values]
    our_nodes, their_nodes = evaluate(program, ours, UNARY), evaluate(program, theirs, UNARY)
    # the output sums every node built, so every backward closure runs and nodes are reused
    our_out = sum(our_nodes[len(values) :], Value(0.0))
    their_out = sum(their_nodes[len(values) :], torch.tensor(0.0, dtype=torch.float64))
    our_out.backward()
    their_out.backward()
    value_error = _error([n.data for n in our_nodes], [n.item() for n in their_nodes])
    their_grads = [0.0 if t.grad is None else t.grad.item() for t in theirs]
    return value_error, _error([v.grad for v in ours], their_grads)


def _random_leaves(rng: np.random.Generator) -> list[np.ndarray]:
    """1-4 arrays whose shapes broadcast together: a base shape with leading axes dropped, sizes set to 1."""
    base = rng.integers(1, 5, size=rng.integers(0, 4))
    shapes = []
    for _ in range(rng.integers(1, 5)):
        kept = base[rng.integers(0, len(base) + 1) :]
        shapes.append(tuple(int(n) if rng.random() < 0.5 else 1 for n in kept))
    return [rng.uniform(-2, 2, size=s) for s in shapes]


def _matmul_chain(rng: np.random.Generator):
    """Leaves (*batch, n_i, n_{i+1}) with broadcastable batch axes, and a builder for their product."""
    sizes = rng.integers(1, 5, size=rng.integers(2, 5))
    batch = rng.integers(1, 4, size=rng.integers(0, 3))
    leaves = []
    for n, m in zip(sizes, sizes[1:]):
        b = tuple(int(k) if rng.random() < 0.5 else 1 for k in batch[rng.integers(0, len(batch) + 1) :])
        leaves.append(rng.uniform(-2, 2, size=(*b, n, m)))
    activations = [str(a) for a in rng.choice(["tanh", "relu", "sigmoid"], size=len(leaves))]

    def build(xs):
        out, nodes = xs[0], list(xs)
        for x, act in zip(xs[1:], activations):
            out = getattr(out @ x, act)()  # (*batch, n_0, n_i) @ (*batch, n_i, n_i+1)
            nodes.append(out)
        return nodes

    return leaves, build


def check_tensor_graph(rng: np.random.Generator) -> tuple[float, float]:
    """One random tensor graph (broadcasting ops, or a matmul chain) through ``Tensor`` and torch."""
    if rng.random() < 0.5:
        leaves = _random_leaves(rng)
        unary = UNARY | TENSOR_UNARY
        program = random_program(rng, sorted(unary) + sorted(BINARY), int(rng.integers(1, 9)))
        build = lambda xs: evaluate(program, xs, unary)
    else:
        leaves, build = _matmul_chain(rng)
    ours = [Tensor(x) for x in leaves]
    theirs = [torch.tensor(x, requires_grad=True) for x in leaves]
    our_nodes, their_nodes = build(ours), build(theirs)
    weights = [rng.normal(size=t.shape) for t in their_nodes]  # so each entry gets its own upstream grad
    our_out = sum(((n * w).sum() for n, w in zip(our_nodes, weights)), Tensor(0.0))
    their_out = sum((n * torch.tensor(w)).sum() for n, w in zip(their_nodes, weights))
    our_out.backward()
    their_out.backward()
    value_error = max(_error(o.data, t.detach().numpy()) for o, t in zip(our_nodes, their_nodes))
    grad_error = max(
        _error(o.grad, np.zeros_like(o.data) if t.grad is None else t.grad.numpy())
        for o, t in zip(ours, theirs)
    )
    return value_error, grad_error


def compare_engines(n_graphs: int, seed: int, progress: bool = False) -> dict:
    """Largest value and gradient errors of both engines vs torch over ``n_graphs`` random graphs each."""
    rng = np.random.default_rng(seed)
    errors = {"scalar": [], "tensor": []}
    for _ in tqdm(range(n_graphs), desc="engines vs torch", disable=not progress, leave=False):
        errors["scalar"].append(check_scalar_graph(rng))
        errors["tensor"].append(check_tensor_graph(rng))
    return {
        f"{engine}_max_{kind}_error": max(e[k] for e in errs)
        for engine, errs in errors.items()
        for k, kind in enumerate(("value", "grad"))
    }


# ---- (b) an MLP on the Tensor engine learns two moons -------------------------------------------------
def make_moons_split(n: int, seed: int):
    """``make_moons`` (noise 0.15) split 70/30 into train and a held-out test set, stratified."""
    x, y = make_moons(n_samples=n, noise=MOONS_NOISE, random_state=seed)
    return train_test_split(x, y, test_size=0.3, random_state=seed, stratify=y)


def accuracy(model: TensorMLP, x: np.ndarray, y: np.ndarray) -> float:
    return float((model(x).data.argmax(axis=1) == y).mean())


def train_moons(x_train, y_train, x_test, y_test, epochs: int, seed: int, progress: bool = False):
    """Minibatch SGD (batch 32) on cross-entropy; returns the model and per-epoch train/test losses."""
    model = TensorMLP(2, [32, 32, 2], activation="tanh", seed=seed)
    rng = np.random.default_rng(seed)
    history = {"train_loss": [], "test_loss": []}
    for _ in tqdm(range(epochs), desc="moons MLP", disable=not progress, leave=False):
        order, losses = rng.permutation(len(x_train)), []
        for start in range(0, len(order), 32):
            batch = order[start : start + 32]
            model.zero_grad()
            loss = cross_entropy(model(x_train[batch]), y_train[batch])
            loss.backward()
            sgd_step(model.parameters(), lr=0.3)
            losses.append(loss.data.item())
        history["train_loss"].append(float(np.mean(losses)))
        history["test_loss"].append(cross_entropy(model(x_test), y_test).data.item())
    return model, history


def plot_decision_boundary(model: TensorMLP, x, y, title: str):
    """Colour the plane by the model's probability of class 1; dots are the (test) points."""
    lo, hi = x.min(axis=0) - 0.5, x.max(axis=0) + 0.5
    g0, g1 = np.meshgrid(np.linspace(lo[0], hi[0], 200), np.linspace(lo[1], hi[1], 200))
    grid = np.stack([g0.ravel(), g1.ravel()], axis=1)  # (200*200, 2)
    logits = model(grid).data  # (200*200, 2)
    p1 = np.exp(logits[:, 1] - np.logaddexp(logits[:, 0], logits[:, 1])).reshape(g0.shape)
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.contourf(g0, g1, p1, levels=20, cmap="RdBu_r", alpha=0.6)
    ax.contour(g0, g1, p1, levels=[0.5], colors="k", linewidths=1.5)
    ax.scatter(x[:, 0], x[:, 1], c=y, cmap="RdBu_r", edgecolors="k", s=14)
    ax.set(title=title, xlabel="$x_1$", ylabel="$x_2$")
    return fig


def plot_losses(history: dict):
    fig, ax = plt.subplots(figsize=(5, 3.5))
    epochs = range(1, len(history["train_loss"]) + 1)
    ax.plot(epochs, history["train_loss"], label="train (mean over the epoch's batches)")
    ax.plot(epochs, history["test_loss"], label="held-out test (end of epoch)")
    ax.set(xlabel="epoch", ylabel="cross-entropy", yscale="log", title="MLP on the from-scratch engine")
    ax.legend(fontsize=8)
    return fig


def run(cfg: RunConfig) -> dict:
    n_graphs = 50 if cfg.quick else 500
    n_samples = 1000 if cfg.quick else 3000
    epochs = cfg.epochs or (40 if cfg.quick else 100)

    errors = compare_engines(n_graphs, cfg.seed, cfg.progress)
    x_train, x_test, y_train, y_test = make_moons_split(n_samples, cfg.seed)
    model, history = train_moons(x_train, y_train, x_test, y_test, epochs, cfg.seed, cfg.progress)
    test_accuracy = accuracy(model, x_test, y_test)

    figures = {
        "moons_decision_boundary.png": plot_decision_boundary(
            model, x_test, y_test, f"Held-out test points (accuracy {test_accuracy:.3f})"
        ),
        "moons_loss_curve.png": plot_losses(history),
    }

    metrics = {
        "max_value_error": max(errors["scalar_max_value_error"], errors["tensor_max_value_error"]),
        "max_grad_error": max(errors["scalar_max_grad_error"], errors["tensor_max_grad_error"]),
        "moons_test_accuracy": test_accuracy,
        "moons_train_accuracy": accuracy(model, x_train, y_train),
        "moons_final_test_loss": history["test_loss"][-1],
    }
    return {
        "metrics": metrics,
        "figures": figures,
        "engine_errors": errors,
        "graphs_per_engine": n_graphs,
        "moons": {"train": len(x_train), "test": len(x_test), "noise": MOONS_NOISE, "epochs": epochs},
    }


LESSON = Lesson(
    name="tensors-autograd",
    title="Tensors and autograd, with an autograd engine from scratch",
    datasets=(),
    claims=(
        Claim("max_value_error", "<=", quick=1e-6, full=1e-6, text="engines' values match torch"),
        Claim("max_grad_error", "<=", quick=1e-6, full=1e-6, text="engines' gradients match torch"),
        Claim("moons_test_accuracy", ">=", quick=0.95, full=0.95, text="from-scratch MLP, test accuracy"),
    ),
    run=run,
)
