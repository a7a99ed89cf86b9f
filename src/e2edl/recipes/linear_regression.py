"""The linear-regression lesson's recipes: a straight line fitted three ways, and linear classifiers.

The data: ``make_line`` (``y = 2 + 3x + noise``) and ``make_blobs`` (Gaussian clouds, one per class).
The line, solved in closed form (``least_squares``) and by hand-written full-batch gradient descent
(``gradient_descent``, with the learning rate where it starts to diverge: ``critical_learning_rate``).
Then the recipes the lesson trains in the open, each a linear layer trained by minibatch SGD with
``fit``: ``train_linear_regression`` (mean squared error), ``train_logistic_regression`` (two
classes, binary cross-entropy on one logit) and ``train_softmax_regression`` (K classes,
cross-entropy on K logits).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torchmetrics.classification import BinaryAccuracy, MulticlassAccuracy

from e2edl.data.tensor_loader import TensorLoader
from e2edl.train import fit, seed_everything
from e2edl.train.history import History

TRUE_INTERCEPT, TRUE_SLOPE, NOISE = 2.0, 3.0, 0.5
TWO_BLOBS = ((-1.5, -1.5), (1.5, 1.5))  # class 0, class 1
THREE_BLOBS = ((0.0, 2.0), (-1.7, -1.0), (1.7, -1.0))  # three clouds on a circle of radius 2


# ---- the line, in closed form and by gradient descent ---------------------------------------------
def make_line(n: int = 1000, noise: float = NOISE, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``x ~ U(0, 2)`` and ``y = 2 + 3x + ε``, ``ε ~ N(0, noise²)``; both of shape (n, 1)."""
    g = torch.Generator().manual_seed(seed)
    x = 2 * torch.rand(n, 1, generator=g)
    y = TRUE_INTERCEPT + TRUE_SLOPE * x + noise * torch.randn(n, 1, generator=g)
    return x, y


def design_matrix(x: torch.Tensor) -> torch.Tensor:
    """(n, 1) → (n, 2) float64: a column of ones (for the intercept) beside x."""
    return torch.cat([torch.ones_like(x), x], dim=1).double()


def least_squares(x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """The closed-form minimiser of the mean squared error: (intercept, slope)."""
    solution = torch.linalg.lstsq(design_matrix(x), y.double()).solution  # (2, 1)
    return solution[0, 0].item(), solution[1, 0].item()


def gradient_descent(
    x: torch.Tensor, y: torch.Tensor, lr: float, steps: int
) -> tuple[float, float, list[float]]:
    """Full-batch gradient descent on the MSE from ``b = w = 0``; returns (b, w, the loss before each step).

    ``∂L/∂b = 2·mean(ŷ − y)`` and ``∂L/∂w = 2·mean((ŷ − y)·x)``.
    """
    x, y = x.double(), y.double()
    b, w, losses = 0.0, 0.0, []
    for _ in range(steps):
        error = b + w * x - y  # (n, 1): ŷ − y
        losses.append((error**2).mean().item())
        b, w = b - lr * 2 * error.mean().item(), w - lr * 2 * (error * x).mean().item()
    return b, w, losses


def critical_learning_rate(x: torch.Tensor) -> float:
    """``2 / λ_max`` of the MSE's Hessian ``(2/n)·XᵀX``: above it gradient descent diverges."""
    X = design_matrix(x)  # (n, 2)
    hessian = 2 * X.T @ X / len(X)  # (2, 2)
    return 2 / torch.linalg.eigvalsh(hessian).max().item()


# ---- classes ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Blobs:
    """Points (N, 2) and class labels (N,) in three splits: train, validation (carved from the
    training draw) and test (a separate draw, scored once at the end)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    @property
    def num_classes(self) -> int:
        return int(self.y_train.max()) + 1


def make_blobs(
    centres, n_train: int = 400, n_test: int = 2000, seed: int = 0, val_share: float = 0.2
) -> Blobs:
    """Gaussian clouds (σ = 1) around ``centres``, one per class, every class equally likely.

    The training draw (seed ``seed``) is split into train and validation; the test draw uses seed
    ``seed + 1``. Labels are int64 class indices.
    """
    centres = torch.tensor(centres, dtype=torch.float32)  # (K, 2)

    def draw(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(seed)
        labels = torch.randint(0, len(centres), (n,), generator=g)  # which cloud each point comes from
        return centres[labels] + torch.randn(n, 2, generator=g), labels

    x, y = draw(n_train, seed)
    n_val = round(n_train * val_share)  # the draw is random, so its last n_val points are a random split
    x_test, y_test = draw(n_test, seed + 1)
    return Blobs(x[:-n_val], y[:-n_val], x[-n_val:], y[-n_val:], x_test, y_test)


# ---- the recipes: a linear layer, minibatch SGD, fit -------------------------------------------------
@dataclass(frozen=True)
class LinearRecipe:
    """How one linear model is trained: minibatch SGD at a constant learning rate."""

    epochs: int = 10
    batch_size: int = 32
    lr: float = 0.05

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or not self.lr > 0:
            raise ValueError(f"epochs and batch_size must be >= 1 and lr > 0; got {self}")


LINE_RECIPE = LinearRecipe(epochs=10, lr=0.05)
LOGISTIC_RECIPE = LinearRecipe(epochs=20, lr=0.1)
SOFTMAX_RECIPE = LinearRecipe(epochs=20, lr=0.1)


def fit_linear_model(
    model: nn.Module,
    train: tuple[torch.Tensor, torch.Tensor],
    loss_fn: nn.Module,
    recipe: LinearRecipe,
    *,
    val: tuple[torch.Tensor, torch.Tensor] | None = None,
    metrics: dict | None = None,
    run_dir=None,
    seed: int = 0,
    **fit_options,
) -> History:
    """The loop every recipe here shares: shuffled minibatches of ``train = (x, y)``, plain SGD at
    ``recipe.lr`` for ``recipe.epochs`` epochs, ``metrics`` checked on ``val`` after each epoch.

    The recipe's settings, the model's kind and the training size go into the checkpoint, so that
    ``resume=True`` reuses only a training of the very same recipe.
    """
    x, y = train
    return fit(
        model,
        TensorLoader(x, y, batch_size=recipe.batch_size, shuffle=True, seed=seed),
        epochs=recipe.epochs,
        loss_fn=loss_fn,
        optimizer=torch.optim.SGD(model.parameters(), lr=recipe.lr),
        val_loader=TensorLoader(*val, batch_size=1024) if val is not None else None,
        metrics=metrics,
        seed=seed,
        run_dir=run_dir,
        config={
            **asdict(recipe),
            "model": type(model).__name__,
            "loss": type(loss_fn).__name__,
            "train_size": len(x),
        },
        **fit_options,
    )


def train_linear_regression(
    data: tuple[torch.Tensor, torch.Tensor],
    recipe: LinearRecipe = LINE_RECIPE,
    *,
    run_dir=None,
    seed: int = 0,
    **fit_options,
) -> tuple[nn.Linear, History]:
    """``nn.Linear(1, 1)`` fitted to ``data = (x, y)``, both (n, 1), by minibatch SGD on the MSE.

    ``fit_options`` go to ``fit`` (``resume``, ``progress``, ``device``...): ``resume=True`` in the
    same ``run_dir`` reuses a finished training of the same recipe.
    """
    x, y = data
    seed_everything(seed)  # the same seed gives the same initial weights
    model = nn.Linear(1, 1)
    history = fit_linear_model(model, (x, y), nn.MSELoss(), recipe, run_dir=run_dir, seed=seed, **fit_options)
    return model.cpu(), history


def train_logistic_regression(
    data: Blobs, recipe: LinearRecipe = LOGISTIC_RECIPE, *, run_dir=None, seed: int = 0, **fit_options
) -> tuple[nn.Linear, History]:
    """``nn.Linear(2, 1)``: one logit per point, ``sigmoid(logit)`` = P(class 1), trained on the binary
    cross-entropy (``BCEWithLogitsLoss``) of two-class ``data``; accuracy checked on its validation split."""
    seed_everything(seed)
    model = nn.Linear(2, 1)
    # nn.Flatten(0) turns the (B, 1) logits into (B,), the shape of the labels (as floats, 0. or 1.)
    history = fit_linear_model(
        nn.Sequential(model, nn.Flatten(0)),
        (data.x_train, data.y_train.float()),
        nn.BCEWithLogitsLoss(),
        recipe,
        val=(data.x_val, data.y_val.float()),
        metrics={"accuracy": BinaryAccuracy()},
        run_dir=run_dir,
        seed=seed,
        **fit_options,
    )
    return model.cpu(), history


def train_softmax_regression(
    data: Blobs, recipe: LinearRecipe = SOFTMAX_RECIPE, *, run_dir=None, seed: int = 0, **fit_options
) -> tuple[nn.Linear, History]:
    """``nn.Linear(2, K)``: K logits per point, ``softmax(logits)`` = the K class probabilities, trained
    on the cross-entropy (``CrossEntropyLoss``) of ``data``; accuracy checked on its validation split."""
    seed_everything(seed)
    k = data.num_classes
    model = nn.Linear(2, k)
    history = fit_linear_model(
        model,
        (data.x_train, data.y_train),
        nn.CrossEntropyLoss(),
        recipe,
        val=(data.x_val, data.y_val),
        metrics={"accuracy": MulticlassAccuracy(num_classes=k, average="micro")},
        run_dir=run_dir,
        seed=seed,
        **fit_options,
    )
    return model.cpu(), history


@torch.no_grad()
def accuracy(model: nn.Linear, x: torch.Tensor, y: torch.Tensor) -> float:
    """The share of points whose class the linear model gets right: logit > 0 for one output
    (logistic regression), the largest logit for several (softmax regression)."""
    logits = model(x)  # (N, 1) or (N, K)
    predicted = (logits[:, 0] > 0).long() if logits.shape[1] == 1 else logits.argmax(dim=1)
    return (predicted == y).float().mean().item()
