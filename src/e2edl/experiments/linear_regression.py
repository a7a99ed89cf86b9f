"""The linear-regression lesson's experiment: a line fitted three ways, a learning rate that
diverges, logistic regression, softmax and cross-entropy, softmax regression.

The data are ``y = 2 + 3x + noise``. The closed-form least-squares fit, hand-written gradient
descent and ``nn.Linear`` + SGD (the lesson's recipe) must all recover the intercept 2 and the
slope 3; gradient descent must reach the least-squares answer itself; a learning rate just above
the critical one ``2 / λ_max`` must blow up. Then logistic regression separates two Gaussian blobs
and softmax regression three, each checked against scikit-learn's unpenalised solver on the same
training points; the hand-written cross-entropy (``e2edl.nn.softmax``) must equal PyTorch's, label
smoothing included. The recipes are the ones the notebook trains in the open, with the same run
folders, so ``resume=True`` reuses what the notebook trained.
"""

from __future__ import annotations

import math
from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from e2edl.course.claims import Claim
from e2edl.course.lesson import Lesson, RunConfig
from e2edl.figures import Table
from e2edl.nn.softmax import cross_entropy
from e2edl.recipes.linear_regression import (
    LINE_RECIPE,
    LOGISTIC_RECIPE,
    SOFTMAX_RECIPE,
    THREE_BLOBS,
    TRUE_INTERCEPT,
    TRUE_SLOPE,
    TWO_BLOBS,
    Blobs,
    accuracy,
    critical_learning_rate,
    gradient_descent,
    least_squares,
    make_blobs,
    make_line,
    train_linear_regression,
    train_logistic_regression,
    train_softmax_regression,
)

PARAM_TOLERANCE = 0.1  # ~3 standard errors of the least-squares estimates for n = 1000, σ = 0.5


def sklearn_accuracy(data: Blobs) -> float:
    """scikit-learn's logistic regression, unpenalised (``C=inf``) so that it minimises the same loss
    as ours, trained on the same points and scored on the same test split."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=np.inf).fit(data.x_train.numpy(), data.y_train.numpy())
    return float(model.score(data.x_test.numpy(), data.y_test.numpy()))


def cross_entropy_error(seed: int) -> float:
    """Largest ``|ours − F.cross_entropy|`` over random logits at three scales (up to 10⁴, where a
    naive softmax overflows) and label smoothing 0, 0.1 and 0.3, in float32."""
    g = torch.Generator().manual_seed(seed)
    worst = 0.0
    for scale in (1.0, 50.0, 1e4):
        logits = torch.randn(64, 10, generator=g) * scale
        targets = torch.randint(0, 10, (64,), generator=g)
        for smoothing in (0.0, 0.1, 0.3):
            ours = cross_entropy(logits, targets, label_smoothing=smoothing)
            theirs = F.cross_entropy(logits, targets, label_smoothing=smoothing)
            worst = max(worst, abs(ours - theirs).item() / (1.0 + abs(theirs).item()))
    return worst


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


def plot_regions(model, x, y, title: str):
    """The class the model picks at every point of the plane (shaded), and the points on top."""
    fig, ax = plt.subplots(figsize=(4.5, 4))
    u = np.linspace(float(x[:, 0].min()) - 0.5, float(x[:, 0].max()) + 0.5, 200)
    v = np.linspace(float(x[:, 1].min()) - 0.5, float(x[:, 1].max()) + 0.5, 200)
    uu, vv = np.meshgrid(u, v)
    grid = torch.tensor(np.stack([uu.ravel(), vv.ravel()], 1), dtype=torch.float32)
    with torch.no_grad():
        logits = model(grid)  # (200*200, 1) or (200*200, K)
    if logits.shape[1] == 1:  # logistic regression: P(class 1), and its 0.5 line
        p = torch.sigmoid(logits[:, 0]).reshape(uu.shape).numpy()
        ax.contourf(uu, vv, p, levels=20, cmap="RdBu_r", alpha=0.4)
        ax.contour(uu, vv, p, levels=[0.5], colors="k")
        ax.scatter(x[:, 0], x[:, 1], c=y, cmap="RdBu_r", s=8, edgecolors="none")
    else:
        k = logits.shape[1]
        regions = logits.argmax(dim=1).reshape(uu.shape).numpy()
        ax.contourf(uu, vv, regions, levels=np.arange(k + 1) - 0.5, cmap="tab10", vmin=0, vmax=9, alpha=0.3)
        ax.scatter(x[:, 0], x[:, 1], c=y, cmap="tab10", vmin=0, vmax=9, s=8, edgecolors="none")
    ax.set(title=title, xlabel="x₁", ylabel="x₂")
    return fig


def run(cfg: RunConfig) -> dict:
    recipes = {"sgd": LINE_RECIPE, "logistic": LOGISTIC_RECIPE, "softmax": SOFTMAX_RECIPE}
    if cfg.epochs:  # `e2edl run --epochs N` changes every recipe (and so needs its own run folder)
        recipes = {name: replace(recipe, epochs=cfg.epochs) for name, recipe in recipes.items()}

    x, y = make_line(seed=cfg.seed)
    b_ls, w_ls = least_squares(x, y)
    lr_critical = critical_learning_rate(x)
    b_gd, w_gd, _ = gradient_descent(x, y, lr=0.9 * lr_critical, steps=300 if cfg.quick else 1000)
    curves = {
        f"{factor} × critical ({factor * lr_critical:.3f})": gradient_descent(
            x, y, factor * lr_critical, 100
        )[2]
        for factor in (0.1, 0.5, 0.9, 1.1)
    }
    diverging = curves[f"1.1 × critical ({1.1 * lr_critical:.3f})"]
    line, _ = train_linear_regression((x, y), recipes["sgd"], **cfg.fit_options("sgd"))
    b_sgd, w_sgd = line.bias.item(), line.weight.item()

    two = make_blobs(TWO_BLOBS, seed=cfg.seed)
    logistic, _ = train_logistic_regression(two, recipes["logistic"], **cfg.fit_options("logistic"))
    three = make_blobs(THREE_BLOBS, seed=cfg.seed)
    softmax, _ = train_softmax_regression(three, recipes["softmax"], **cfg.fit_options("softmax"))
    scores = {
        name: (accuracy(model, data.x_test, data.y_test), sklearn_accuracy(data))
        for name, model, data in (("logistic", logistic, two), ("softmax", softmax, three))
    }

    def param_error(b: float, w: float) -> float:
        return max(abs(b - TRUE_INTERCEPT), abs(w - TRUE_SLOPE))

    fits = {
        "least squares": (b_ls, w_ls),
        "gradient descent": (b_gd, w_gd),
        "nn.Linear + SGD": (b_sgd, w_sgd),
    }
    best_loss = ((b_ls + w_ls * x.double() - y.double()) ** 2).mean().item()
    figures = {
        "fits": plot_fits(x, y, fits),
        "learning_rates": plot_learning_rates(curves, best_loss),
        "logistic_boundary": plot_regions(
            logistic, two.x_test[:500], two.y_test[:500], "Logistic regression: P(class 1), 0.5 boundary"
        ),
        "softmax_regions": plot_regions(
            softmax,
            three.x_test[:500],
            three.y_test[:500],
            "Softmax regression: the class with the largest logit",
        ),
    }
    tables = {
        "estimates": Table(
            [{"method": name, "b": b, "w": w} for name, (b, w) in fits.items()],
            title=f"Intercept and slope of y = {TRUE_INTERCEPT:g} + {TRUE_SLOPE:g}x + noise, three ways",
            formats={"b": ".4f", "w": ".4f"},
        ),
        "classifiers": Table(
            [
                {
                    "model": name,
                    "classes": data.num_classes,
                    "test points": len(data.y_test),
                    "test accuracy (ours)": ours,
                    "scikit-learn, unpenalised": theirs,
                }  # fmt: skip
                for (name, (ours, theirs)), data in zip(scores.items(), (two, three))
            ],
            title="Linear classifiers trained by SGD vs scikit-learn's solver on the same points",
            formats={"test accuracy (ours)": ".4f", "scikit-learn, unpenalised": ".4f"},
        ),
    }
    metrics = {
        "least_squares_param_error": param_error(b_ls, w_ls),
        "gd_vs_least_squares": max(abs(b_gd - b_ls), abs(w_gd - w_ls)),
        "sgd_param_error": param_error(b_sgd, w_sgd),
        "critical_lr": lr_critical,
        "diverging_loss_growth": diverging[-1] / diverging[0] if math.isfinite(diverging[-1]) else math.inf,
        "logistic_test_accuracy": scores["logistic"][0],
        "sklearn_test_accuracy": scores["logistic"][1],
        "logistic_accuracy_gap_to_sklearn": abs(scores["logistic"][0] - scores["logistic"][1]),
        "hand_cross_entropy_error": cross_entropy_error(cfg.seed),
        "softmax_test_accuracy": scores["softmax"][0],
        "softmax_accuracy_gap_to_sklearn": abs(scores["softmax"][0] - scores["softmax"][1]),
    }
    params = {"least_squares": [b_ls, w_ls], "gradient_descent": [b_gd, w_gd], "sgd": [b_sgd, w_sgd]}
    return {"metrics": metrics, "figures": figures, "tables": tables, "parameters": params}


LESSON = Lesson(
    name="linear-regression",
    title="Linear regression via SGD, logistic and softmax regression",
    datasets=(),
    claims=(
        Claim(
            "least_squares_param_error",
            "<=",
            PARAM_TOLERANCE,
            PARAM_TOLERANCE,
            "closed form recovers b=2, w=3",
        ),
        Claim("gd_vs_least_squares", "<=", 1e-9, 1e-9, "hand-written GD reaches the least-squares answer"),
        Claim("sgd_param_error", "<=", PARAM_TOLERANCE, PARAM_TOLERANCE, "nn.Linear + SGD recovers b=2, w=3"),
        Claim(
            "diverging_loss_growth",
            ">=",
            1e12,
            1e12,
            "lr = 1.1 × critical multiplies the loss by ≥ 10¹² in 100 steps",
        ),
        Claim(
            "logistic_test_accuracy",
            ">=",
            0.97,
            0.97,
            "logistic regression on held-out blobs (best possible ≈ 0.983)",
        ),
        Claim(
            "logistic_accuracy_gap_to_sklearn", "<=", 0.01, 0.01, "matches scikit-learn's unpenalised solver"
        ),
        Claim("hand_cross_entropy_error", "<=", 1e-6, 1e-6, "hand-written cross-entropy == F.cross_entropy"),
        Claim("softmax_test_accuracy", ">=", 0.90, 0.90, "softmax regression on three held-out blobs"),
        Claim(
            "softmax_accuracy_gap_to_sklearn", "<=", 0.01, 0.01, "matches scikit-learn's unpenalised solver"
        ),
    ),
    run=run,
)
