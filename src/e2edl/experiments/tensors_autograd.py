"""The tensors-autograd lesson's experiment: the from-scratch autograd engines agree with PyTorch,
and they can train.

(a) Random expression graphs (``e2edl.autograd.gradcheck``, the harness the tests use too) through
    ``Value``/``Tensor`` and through ``torch.autograd`` in float64: values and leaf gradients agree.
(b) The scalar engine's ``MLP`` learns XOR, as in the lesson.
(c) A small MLP written with the ``Tensor`` engine (no torch) learns scikit-learn's two moons: its
    curves on a validation split carved from the training points, its accuracy on a held-out test
    split scored once at the end.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_moons
from sklearn.model_selection import train_test_split
from tqdm.auto import tqdm

from e2edl.autograd import MLP, TensorMLP, Value, cross_entropy, gradcheck, sgd_step
from e2edl.course.claims import Claim
from e2edl.course.lesson import Lesson, RunConfig
from e2edl.figures import Table

MOONS_NOISE = 0.15
XOR_INPUTS = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
XOR_TARGETS = [-1.0, 1.0, 1.0, -1.0]
XOR_STEPS, XOR_LR = 200, 0.05  # the lesson's settings


def train_xor(seed: int) -> tuple[MLP, float]:
    """The lesson's XOR run on the library's scalar MLP: summed squared error, plain SGD."""
    mlp = MLP(2, [8, 8, 1], seed=seed)
    for _ in range(XOR_STEPS):
        loss = sum(((mlp(x)[0] - y) ** 2 for x, y in zip(XOR_INPUTS, XOR_TARGETS)), Value(0.0))
        mlp.zero_grad()
        loss.backward()
        sgd_step(mlp.parameters(), lr=XOR_LR)
    final = sum(((mlp(x)[0] - y) ** 2 for x, y in zip(XOR_INPUTS, XOR_TARGETS)), Value(0.0))
    return mlp, final.data


def moons_splits(n: int, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``make_moons`` (noise 0.15): 30% held out as the test split, 20% of the rest for validation."""
    x, y = make_moons(n_samples=n, noise=MOONS_NOISE, random_state=seed)
    x_rest, x_test, y_rest, y_test = train_test_split(x, y, test_size=0.3, random_state=seed, stratify=y)
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest, y_rest, test_size=0.2, random_state=seed, stratify=y_rest
    )
    return {"train": (x_train, y_train), "val": (x_val, y_val), "test": (x_test, y_test)}


def accuracy(model: TensorMLP, x: np.ndarray, y: np.ndarray) -> float:
    return float((model(x).data.argmax(axis=1) == y).mean())


def train_moons(train, val, epochs: int, seed: int, progress: bool = False):
    """Minibatch SGD (batch 32, lr 0.1) on cross-entropy; per-epoch train and validation losses."""
    (x_train, y_train), (x_val, y_val) = train, val
    model = TensorMLP(2, [32, 32, 2], activation="tanh", seed=seed)
    rng = np.random.default_rng(seed)
    history = {"train_loss": [], "val_loss": []}
    for _ in tqdm(range(epochs), desc="moons MLP", disable=not progress, leave=False):
        order, losses = rng.permutation(len(x_train)), []
        for start in range(0, len(order), 32):
            batch = order[start : start + 32]
            model.zero_grad()
            loss = cross_entropy(model(x_train[batch]), y_train[batch])
            loss.backward()
            sgd_step(model.parameters(), lr=0.1)
            losses.append(loss.data.item())
        history["train_loss"].append(float(np.mean(losses)))
        history["val_loss"].append(cross_entropy(model(x_val), y_val).data.item())
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
    ax.plot(epochs, history["val_loss"], label="validation (end of epoch)")
    ax.set(xlabel="epoch", ylabel="cross-entropy", yscale="log", title="MLP on the from-scratch engine")
    ax.legend(fontsize=8)
    return fig


def run(cfg: RunConfig) -> dict:
    n_graphs = 50 if cfg.quick else 500
    n_samples = 1000 if cfg.quick else 3000
    epochs = cfg.epochs or (60 if cfg.quick else 100)

    errors = gradcheck.compare_engines(n_graphs, cfg.seed, cfg.progress)
    xor_mlp, xor_loss = train_xor(cfg.seed)
    xor_predictions = [xor_mlp(x)[0].data for x in XOR_INPUTS]

    splits = moons_splits(n_samples, cfg.seed)
    model, history = train_moons(splits["train"], splits["val"], epochs, cfg.seed, cfg.progress)
    test_accuracy = accuracy(model, *splits["test"])

    x_test, y_test = splits["test"]
    figures = {
        "moons_decision_boundary": plot_decision_boundary(
            model, x_test, y_test, f"Held-out test points (accuracy {test_accuracy:.3f})"
        ),
        "moons_loss_curve": plot_losses(history),
    }
    engines = Table(
        [
            {
                "engine": engine,
                "graphs compared": errors[f"{engine}_graphs_compared"],
                "max value error": errors[f"{engine}_max_value_error"],
                "max gradient error": errors[f"{engine}_max_grad_error"],
            }
            for engine in ("scalar", "tensor")
        ],
        title="The from-scratch engines against torch.autograd (float64), |ours − torch| / (1 + |torch|)",
        formats={"max value error": ".1e", "max gradient error": ".1e"},
    )
    xor = Table(
        [
            {"x": str(x), "target": t, "prediction": p}
            for x, t, p in zip(XOR_INPUTS, XOR_TARGETS, xor_predictions)
        ],
        title=f"The scalar MLP after {XOR_STEPS} SGD steps on XOR",
        formats={"prediction": "+.3f"},
    )
    metrics = {
        "max_value_error": max(errors["scalar_max_value_error"], errors["tensor_max_value_error"]),
        "max_grad_error": max(errors["scalar_max_grad_error"], errors["tensor_max_grad_error"]),
        "xor_final_loss": xor_loss,
        "xor_correct_signs": sum((p > 0) == (t > 0) for p, t in zip(xor_predictions, XOR_TARGETS)),
        "moons_test_accuracy": test_accuracy,
        "moons_train_accuracy": accuracy(model, *splits["train"]),
        "moons_final_val_loss": history["val_loss"][-1],
    }
    return {
        "metrics": metrics,
        "figures": figures,
        "tables": {"engines": engines, "xor": xor},
        "engine_errors": errors,
        "graphs_per_engine": n_graphs,
        "moons": {name: len(x) for name, (x, _) in splits.items()} | {"noise": MOONS_NOISE, "epochs": epochs},
    }


LESSON = Lesson(
    name="tensors-autograd",
    title="Tensors and autograd, with an autograd engine from scratch",
    datasets=(),
    claims=(
        Claim("max_value_error", "<=", quick=1e-6, full=1e-6, text="engines' values match torch"),
        Claim("max_grad_error", "<=", quick=1e-6, full=1e-6, text="engines' gradients match torch"),
        Claim(
            "xor_correct_signs", "==", quick=4, full=4, text="the scalar MLP gets all four XOR points right"
        ),
        Claim("xor_final_loss", "<=", quick=1e-3, full=1e-3, text="the scalar MLP learns XOR"),
        Claim("moons_test_accuracy", ">=", quick=0.97, full=0.97, text="from-scratch MLP, test accuracy"),
    ),
    run=run,
)
