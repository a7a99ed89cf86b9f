"""Lesson 11's experiment: the degradation problem, and what identity skip connections do about it.

Plain and residual ``DeepCNN``s (``e2edl.nn.plain_residual``) of several depths, width 8, are
trained on a Fashion-MNIST subset with the same recipe and budget: SGD with Nesterov momentum, a
one-cycle schedule peaking at 0.1, weight decay 5e-4, batches of 128. A plain network and a
residual one of the same depth have the same weights to learn and start from the same values.

Measured: training-loss curves and test accuracy per depth and kind; per-layer gradient norms of
the deepest pair at initialisation and after training; the loss of the trained deepest pair
along a random filter-normalised direction in weight space.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from e2edl.course.claims import Claim
from e2edl.course.lesson import Lesson, RunConfig
from e2edl.data import TensorLoader, load_mnist
from e2edl.data.batch_transforms import FASHION_MEAN, FASHION_STD, BatchNormalize
from e2edl.figures import Table
from e2edl.nn.plain_residual import DeepCNN
from e2edl.train import evaluate, fit, seed_everything
from e2edl.train.grad_norms import layer_grad_norms
from e2edl.train.loss_landscape import filter_normalised_direction, loss_along

WIDTH, BATCH, LR, WEIGHT_DECAY = 8, 128, 0.1, 5e-4
QUICK = {"depths": (8, 20), "train_subset": 5000, "epochs": 1, "test_subset": 2000}
FULL = {"depths": (8, 20, 44), "train_subset": 15000, "epochs": 2, "test_subset": 10000}


class FashionSubset:
    """The first ``train_subset`` training and ``test_subset`` test images of Fashion-MNIST."""

    def __init__(self, train_subset: int, test_subset: int) -> None:
        x_train, y_train = load_mnist("train", name="fashion-mnist")
        x_test, y_test = load_mnist("test", name="fashion-mnist")
        self.x_train, self.y_train = x_train[:train_subset], y_train[:train_subset]
        self.x_test, self.y_test = x_test[:test_subset], y_test[:test_subset]
        self.normalize = BatchNormalize(FASHION_MEAN, FASHION_STD)

    def train_loader(self, seed: int) -> TensorLoader:
        return TensorLoader(self.x_train, self.y_train, batch_size=BATCH, shuffle=True, seed=seed,
                            drop_last=True, transform=self.normalize)  # fmt: skip

    def test_loader(self) -> TensorLoader:
        return TensorLoader(self.x_test, self.y_test, batch_size=1000, transform=self.normalize)

    def probe_batch(self, n: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
        """The first ``n`` training images, normalised: the fixed batch for gradients and landscapes."""
        return self.normalize((self.x_train[:n], self.y_train[:n]))


def record_every(steps_per_epoch: int, points: int = 3) -> int:
    """The largest divisor of ``steps_per_epoch`` that gives at least ``points`` training-loss records
    per epoch: each record then averages the same number of steps (``fit`` counts steps across epochs)."""
    divisors = [d for d in range(1, steps_per_epoch + 1) if steps_per_epoch % d == 0]
    return max((d for d in divisors if d * points <= steps_per_epoch), default=1)


def train(data: FashionSubset, cfg: RunConfig, depth: int, residual: bool, epochs: int):
    """Train one ``DeepCNN``; returns (model, history, gradient norms at initialisation, test accuracy).

    No validation data during training: the history's records are training losses (cheap), and
    the test set is evaluated once, at the end."""
    seed_everything(cfg.seed)
    model = DeepCNN(depth, residual=residual, width=WIDTH)
    grads_at_init = layer_grad_norms(model, *data.probe_batch())
    loader = data.train_loader(cfg.seed)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=LR, momentum=0.9, nesterov=True, weight_decay=WEIGHT_DECAY
    )
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=LR, total_steps=epochs * len(loader),
                                                    pct_start=0.2)  # fmt: skip
    history = fit(
        model,
        loader,
        epochs=epochs,
        loss_fn=nn.CrossEntropyLoss(),
        optimizer=optimizer,
        scheduler=scheduler,
        scheduler_interval="step",
        eval_every=record_every(len(loader)),
        **cfg.fit_options(f"{'residual' if residual else 'plain'}-{depth}"),
    )
    accuracy = MulticlassAccuracy(num_classes=10, average="micro")
    test = evaluate(
        model, data.test_loader(), nn.CrossEntropyLoss(), {"accuracy": accuracy}, device=cfg.device
    )
    return model.cpu(), history, grads_at_init, test["accuracy"]


def final_train_loss(model: nn.Module, data: FashionSubset, n: int = 2000) -> float:
    """Cross-entropy of the trained model (evaluation mode) on the first ``n`` training images."""
    model.eval()
    with torch.no_grad():
        x, y = data.normalize((data.x_train[:n], data.y_train[:n]))
        return float(nn.functional.cross_entropy(model(x), y))


# ---------------------------------------------------------------------------------- figures


def curves_figure(histories: dict) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6, 3.6))
    depths = sorted({depth for _, depth in histories})
    colors = dict(zip(depths, ["tab:blue", "tab:orange", "tab:red", "tab:purple"]))
    for (kind, depth), history in sorted(histories.items()):
        points = [(r["epoch"], r["train_loss"]) for r in history.records]
        ax.plot(*zip(*points), color=colors[depth], ls="-" if kind == "residual" else "--",
                marker="o", ms=3, label=f"{kind}-{depth}")  # fmt: skip
    ax.set(xlabel="epoch", ylabel="training loss", title="Plain (dashed) vs residual (solid)")
    ax.legend(fontsize=8, ncol=2)
    return fig


def grad_norms_figure(norms: dict, depth: int) -> plt.Figure:
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), sharey=True)
    for ax, when in zip(axes, ("at initialisation", "after training")):
        for kind, style in (("plain", "--"), ("residual", "-")):
            values = [v for _, v in norms[(kind, when)]]
            ax.plot(range(1, len(values) + 1), values, style, marker=".", label=f"{kind}-{depth}")
        ax.set(xlabel="layer (1 = first convolution)", yscale="log", title=when)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("‖∂loss/∂W‖ per layer")
    return fig


def landscape_figure(alphas: list[float], losses: dict) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(5, 3.4))
    for name, values in losses.items():
        ax.plot(alphas, values, "--" if name.startswith("plain") else "-", marker=".", label=name)
    ax.set(xlabel="α (step along a random filter-normalised direction)", ylabel="training loss",
           yscale="log", title="Loss around the trained weights")  # fmt: skip
    ax.legend(fontsize=8)
    return fig


# -------------------------------------------------------------------------------------- run


def run(cfg: RunConfig) -> dict:
    setup = QUICK if cfg.quick else FULL
    epochs = cfg.epochs or setup["epochs"]
    data = FashionSubset(setup["train_subset"], setup["test_subset"])
    deepest, shallowest = max(setup["depths"]), min(setup["depths"])
    histories, models, rows, norms = {}, {}, [], {}
    for depth in setup["depths"]:
        for kind in ("plain", "residual"):
            model, history, grads_at_init, test_accuracy = train(data, cfg, depth, kind == "residual", epochs)
            histories[(kind, depth)], models[(kind, depth)] = history, model
            rows.append({"depth": depth, "kind": kind, "train_loss": final_train_loss(model, data),
                         "test_accuracy": test_accuracy, "seconds": history.last["elapsed"]})  # fmt: skip
            if depth == deepest:
                norms[(kind, "at initialisation")] = grads_at_init
                norms[(kind, "after training")] = layer_grad_norms(model, *data.probe_batch())

    alphas = [i / 8 for i in range(-8, 9)]  # -1 .. 1
    probe = [data.probe_batch()]
    landscape = {}
    for kind in ("plain", "residual"):
        model = models[(kind, deepest)]
        direction = filter_normalised_direction(model, torch.Generator().manual_seed(cfg.seed))
        landscape[f"{kind}-{deepest}"] = loss_along(model, direction, alphas, probe)

    result = {(r["kind"], r["depth"]): r for r in rows}

    def first_layers_share(kind: str, when: str) -> float:
        """Gradient norm of the first third of the layers over that of the last third."""
        values = [v for _, v in norms[(kind, when)]]
        third = len(values) // 3
        return sum(values[:third]) / sum(values[-third:])

    metrics = {
        "deepest_depth": deepest,
        "residual_minus_plain_test_accuracy": result[("residual", deepest)]["test_accuracy"]
        - result[("plain", deepest)]["test_accuracy"],
        "plain_deep_minus_shallow_train_loss": result[("plain", deepest)]["train_loss"]
        - result[("plain", shallowest)]["train_loss"],
        "residual_deep_minus_shallow_train_loss": result[("residual", deepest)]["train_loss"]
        - result[("residual", shallowest)]["train_loss"],
        "plain_early_over_late_grad_norm_at_init": first_layers_share("plain", "at initialisation"),
        "residual_early_over_late_grad_norm_at_init": first_layers_share("residual", "at initialisation"),
    }
    for r in rows:
        metrics[f"{r['kind']}_{r['depth']}_test_accuracy"] = r["test_accuracy"]
        metrics[f"{r['kind']}_{r['depth']}_train_loss"] = r["train_loss"]
    figures = {
        "curves.png": curves_figure(histories),
        "grad_norms.png": grad_norms_figure(norms, deepest),
        "landscape.png": landscape_figure(alphas, landscape),
    }
    depths = Table(rows, formats={"train_loss": ".4f", "test_accuracy": ".4f", "seconds": ".0f"})
    return {"metrics": metrics, "figures": figures, "tables": {"depths": depths},
            "landscape": {"alphas": alphas, **landscape}}  # fmt: skip


LESSON = Lesson(
    name="residual",
    title="Residual connections and the degradation problem",
    datasets=("fashion-mnist",),
    claims=(
        Claim(
            "residual_minus_plain_test_accuracy",
            ">",
            0.0,
            0.0,
            "deepest depth: the residual net's test accuracy beats the plain net's",
        ),
        Claim(
            "plain_deep_minus_shallow_train_loss",
            ">",
            0.0,
            0.0,
            "degradation: the deepest plain net ends with a higher training loss than the shallowest",
        ),
        Claim(
            "residual_deep_minus_shallow_train_loss",
            "<",
            0.0,
            0.0,
            "with skip connections the deepest net ends with a lower training loss than the shallowest",
        ),
        Claim(
            "plain_early_over_late_grad_norm_at_init",
            ">=",
            2.0,
            5.0,
            "at init the deepest plain net's first third of layers gets more gradient than its last third",
        ),
    ),  # fmt: skip
    run=run,
)
