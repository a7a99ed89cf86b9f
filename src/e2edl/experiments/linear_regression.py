"""Lesson 02's experiment: linear regression three ways, a learning rate that diverges, logistic regression.

The data are ``y = 2 + 3x + noise``. The closed-form least-squares fit, hand-written gradient
descent and ``nn.Linear`` + ``torch.optim.SGD`` must all recover the intercept 2 and the slope 3;
gradient descent must reach the least-squares answer itself; a learning rate just above the
critical one ``2 / λ_max`` must blow up. Then logistic regression separates two Gaussian blobs,
checked against scikit-learn's solver.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn
from torchmetrics.classification import BinaryAccuracy

from e2edl.course.claims import Claim
from e2edl.course.lesson import Lesson, RunConfig
from e2edl.data.tensor_loader import TensorLoader
from e2edl.train import fit, seed_everything

TRUE_INTERCEPT, TRUE_SLOPE, NOISE = 2.0, 3.0, 0.5
PARAM_TOLERANCE = 0.1  # ~3 standard errors of the least-squares estimates for n = 1000, σ = 0.5


def make_line(n: int = 1000, noise: float = NOISE, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``x ~ U(0, 2)`` and ``y = 2 + 3x + ε``, ``ε ~ N(0, noise²)``; both of shape (n, 1)."""
    g = torch.Generator().manual_seed(seed)
    x = 2 * torch.rand(n, 1, generator=g)
    y = TRUE_INTERCEPT + TRUE_SLOPE * x + noise * torch.randn(n, 1, generator=g)
    return x, y


def design_matrix(x: torch.Tensor) -> torch.Tensor:
    """(n, 1) → (n, 2): a column of ones (for the intercept) beside x."""
    return torch.cat([torch.ones_like(x), x], dim=1)


def least_squares(x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """The closed-form minimiser of the mean squared error: (intercept, slope)."""
    solution = torch.linalg.lstsq(design_matrix(x).double(), y.double()).solution
    return solution[0, 0].item(), solution[1, 0].item()


def mse(x: torch.Tensor, y: torch.Tensor, b: float, w: float) -> float:
    return ((b + w * x - y) ** 2).mean().item()


def gradient_descent(
    x: torch.Tensor, y: torch.Tensor, lr: float, steps: int
) -> tuple[float, float, list[float]]:
    """Full-batch gradient descent on the MSE with hand-derived gradients; returns (b, w, losses).

    ``∂L/∂b = 2·mean(ŷ − y)`` and ``∂L/∂w = 2·mean((ŷ − y)·x)``.
    """
    x, y = x.double(), y.double()
    b, w = 0.0, 0.0
    losses = []
    for _ in range(steps):
        error = b + w * x - y
        losses.append((error**2).mean().item())
        b, w = b - lr * 2 * error.mean().item(), w - lr * 2 * (error * x).mean().item()
    return b, w, losses


def critical_learning_rate(x: torch.Tensor) -> float:
    """``2 / λ_max`` of the MSE's Hessian ``(2/n)·XᵀX``: above it gradient descent diverges."""
    X = design_matrix(x).double()
    hessian = 2 * X.T @ X / len(X)
    return 2 / torch.linalg.eigvalsh(hessian).max().item()


def train_linear_sgd(x, y, cfg: RunConfig, epochs: int, lr: float = 0.05) -> tuple[float, float, list[float]]:
    """``nn.Linear(1, 1)`` trained by minibatch SGD with the course's ``fit``; returns (b, w, losses)."""
    seed_everything(cfg.seed)
    model = nn.Linear(1, 1)
    history = fit(
        model,
        TensorLoader(x, y, batch_size=32, shuffle=True, seed=cfg.seed),
        epochs=epochs,
        loss_fn=nn.MSELoss(),
        optimizer=torch.optim.SGD(model.parameters(), lr=lr),
        **cfg.fit_options("sgd"),
    )
    return model.bias.item(), model.weight.item(), history.series("train_loss")


def make_two_blobs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two Gaussian blobs (σ = 1) centred at (−1.5, −1.5) → label 0 and (1.5, 1.5) → label 1."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=g)
    centres = torch.tensor([[-1.5, -1.5], [1.5, 1.5]])
    return centres[labels] + torch.randn(n, 2, generator=g), labels.float()


def train_logistic(x, y, x_test, y_test, cfg: RunConfig, epochs: int) -> tuple[nn.Linear, float]:
    """Logistic regression: one linear layer whose logit goes through ``BCEWithLogitsLoss``."""
    seed_everything(cfg.seed)
    model = nn.Linear(2, 1)
    squeeze = nn.Sequential(model, nn.Flatten(0))  # (n, 1) logits → (n,), the labels' shape
    history = fit(
        squeeze,
        TensorLoader(x, y, batch_size=32, shuffle=True, seed=cfg.seed),
        epochs=epochs,
        loss_fn=nn.BCEWithLogitsLoss(),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        val_loader=TensorLoader(x_test, y_test, batch_size=512),
        metrics={"accuracy": BinaryAccuracy()},
        **cfg.fit_options("logistic"),
    )
    return model.cpu(), history.last["val_accuracy"]


def sklearn_accuracy(x, y, x_test, y_test) -> float:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression().fit(x.numpy(), y.numpy()).score(x_test.numpy(), y_test.numpy())


def plot_fits(x, y, fits: dict[str, tuple[float, float]]):
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.scatter(x[:300, 0], y[:300, 0], s=6, alpha=0.4, color="gray", label="data (300 of them)")
    grid = np.linspace(0, 2, 10)
    for (name, (b, w)), style in zip(fits.items(), ["-", "--", ":", "-."]):
        ax.plot(grid, b + w * grid, style, lw=2, label=f"{name}: b={b:.3f}, w={w:.3f}")
    ax.set(xlabel="x", ylabel="y", title="y = 2 + 3x + noise, fitted three ways")
    ax.legend(fontsize=7)
    return fig


def plot_learning_rates(curves: dict[str, list[float]], best_loss: float):
    """Excess loss over the least-squares minimum, on a log scale, so convergence *rates* show."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for label, losses in curves.items():
        ax.semilogy(range(len(losses)), [max(loss - best_loss, 1e-16) for loss in losses], label=label)
    ax.set(
        xlabel="step",
        ylabel="MSE − least-squares MSE (log)",
        title="Gradient descent at several learning rates",
    )
    ax.legend(fontsize=7)
    return fig


def plot_boundary(model: nn.Linear, x, y):
    fig, ax = plt.subplots(figsize=(4.5, 4))
    u = np.linspace(float(x[:, 0].min()) - 0.5, float(x[:, 0].max()) + 0.5, 200)
    v = np.linspace(float(x[:, 1].min()) - 0.5, float(x[:, 1].max()) + 0.5, 200)
    uu, vv = np.meshgrid(u, v)
    grid = torch.tensor(np.stack([uu.ravel(), vv.ravel()], 1), dtype=torch.float32)
    with torch.no_grad():
        p = torch.sigmoid(model(grid)).reshape(uu.shape).numpy()
    ax.contourf(uu, vv, p, levels=20, cmap="RdBu_r", alpha=0.4)
    ax.contour(uu, vv, p, levels=[0.5], colors="k")
    ax.scatter(x[:, 0], x[:, 1], c=y, cmap="RdBu_r", s=8, edgecolors="none")
    ax.set(title="Logistic regression: P(class 1) and the 0.5 boundary", xlabel="x₁", ylabel="x₂")
    return fig


def run(cfg: RunConfig) -> dict:
    sgd_epochs = cfg.epochs or (10 if cfg.quick else 30)
    x, y = make_line(seed=cfg.seed)
    b_ls, w_ls = least_squares(x, y)

    lr_critical = critical_learning_rate(x)
    b_gd, w_gd, gd_losses = gradient_descent(x, y, lr=0.9 * lr_critical, steps=300 if cfg.quick else 1000)
    curves = {
        f"{factor} × critical ({factor * lr_critical:.3f})": gradient_descent(
            x, y, factor * lr_critical, 100
        )[2]
        for factor in (0.1, 0.5, 0.9, 1.1)
    }
    diverging = curves[f"1.1 × critical ({1.1 * lr_critical:.3f})"]
    b_sgd, w_sgd, _ = train_linear_sgd(x, y, cfg, sgd_epochs)

    x_blobs, y_blobs = make_two_blobs(400, seed=cfg.seed)
    x_test, y_test = make_two_blobs(2000, seed=cfg.seed + 1)
    logistic, accuracy = train_logistic(x_blobs, y_blobs, x_test, y_test, cfg, epochs=10 if cfg.quick else 30)
    reference = sklearn_accuracy(x_blobs, y_blobs, x_test, y_test)

    def param_error(b: float, w: float) -> float:
        return max(abs(b - TRUE_INTERCEPT), abs(w - TRUE_SLOPE))

    figures = {
        "fits.png": plot_fits(
            x,
            y,
            {
                "least squares": (b_ls, w_ls),
                "gradient descent": (b_gd, w_gd),
                "nn.Linear + SGD": (b_sgd, w_sgd),
            },
        ),
        "learning_rates.png": plot_learning_rates(curves, best_loss=mse(x.double(), y.double(), b_ls, w_ls)),
        "logistic_boundary.png": plot_boundary(logistic, x_test[:500], y_test[:500]),
    }

    metrics = {
        "least_squares_param_error": param_error(b_ls, w_ls),
        "gd_vs_least_squares": max(abs(b_gd - b_ls), abs(w_gd - w_ls)),
        "sgd_param_error": param_error(b_sgd, w_sgd),
        "critical_lr": lr_critical,
        "diverging_loss_growth": diverging[-1] / diverging[0] if math.isfinite(diverging[-1]) else math.inf,
        "logistic_test_accuracy": accuracy,
        "sklearn_test_accuracy": reference,
        "logistic_accuracy_gap_to_sklearn": abs(accuracy - reference),
    }
    params = {"least_squares": [b_ls, w_ls], "gradient_descent": [b_gd, w_gd], "sgd": [b_sgd, w_sgd]}
    return {"metrics": metrics, "figures": figures, "parameters": params}


LESSON = Lesson(
    name="linear-regression",
    title="Linear regression via SGD, and logistic regression",
    datasets=(),
    claims=(
        Claim(
            "least_squares_param_error",
            "<=",
            PARAM_TOLERANCE,
            PARAM_TOLERANCE,
            "closed form recovers b=2, w=3",
        ),
        Claim("gd_vs_least_squares", "<=", 1e-4, 1e-6, "hand-written GD reaches the least-squares answer"),
        Claim("sgd_param_error", "<=", PARAM_TOLERANCE, PARAM_TOLERANCE, "nn.Linear + SGD recovers b=2, w=3"),
        Claim(
            "diverging_loss_growth",
            ">=",
            1e6,
            1e6,
            "lr = 1.1 × critical multiplies the loss by ≥ 10⁶ in 100 steps",
        ),
        Claim(
            "logistic_test_accuracy",
            ">=",
            0.97,
            0.97,
            "logistic regression on held-out blobs (best possible ≈ 0.983)",
        ),
        Claim("logistic_accuracy_gap_to_sklearn", "<=", 0.01, 0.01, "matches scikit-learn's solver"),
    ),
    run=run,
)
