"""The residual lesson's experiment: the degradation problem, and what identity skip connections do.

Every network of the depth study (``e2edl.recipes.residual``) is trained by the recipe the notebook
shows, ``train_deep_cnn``: plain and residual ``DeepCNN``s of each depth, same weights to learn,
same start, same batches, same budget. The full study also trains the shallowest and the deepest
plain networks for three times the budget.

Measured: training-loss curves; per network, the training loss of the final weights and the
validation accuracy (the comparison the lesson's claims are about); per-layer gradient norms of
the deepest pair at initialisation and after training; the loss of the trained deepest pair along
a random filter-normalised direction. The test set is scored once, at the end.
"""

from __future__ import annotations

import dataclasses

import matplotlib.pyplot as plt
import torch
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from e2edl.course.claims import Claim
from e2edl.course.lesson import Lesson, RunConfig
from e2edl.data.batch_transforms import BatchNormalize
from e2edl.figures import Table
from e2edl.recipes.residual import FULL_STUDY, QUICK_STUDY, build_deep_cnn, load_fashion, train_deep_cnn
from e2edl.train import evaluate
from e2edl.train.grad_norms import layer_grad_norms
from e2edl.train.loss_landscape import filter_normalised_direction, loss_along

PROBE = 256  # the fixed batch of training images for gradient norms and landscapes


def accuracy(model: nn.Module, loader, device) -> float:
    metric = MulticlassAccuracy(num_classes=10, average="micro")
    return evaluate(model, loader, metrics={"accuracy": metric}, device=device)["accuracy"]


def first_training_images(data, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` training images, normalised, and their labels: a fixed batch to measure on."""
    return BatchNormalize(*data.mean_std)((data.x_train[:n], data.y_train[:n]))


def final_train_loss(model: nn.Module, data, n: int = 2000) -> float:
    """Cross-entropy of the trained model (evaluation mode) on the first ``n`` training images."""
    x, y = first_training_images(data, n)
    model.eval()
    with torch.no_grad():
        return float(nn.functional.cross_entropy(model.cpu()(x), y))


def early_over_late(norms: list[tuple[str, float]]) -> float:
    """Summed gradient norm of the first third of the layers over that of the last third.

    How far apart two networks' gradient profiles are is then the factor between their ratios
    (``grad_profile_gap_*``: 1 when the profiles have the same shape)."""
    values = [v for _, v in norms]
    third = len(values) // 3
    return sum(values[:third]) / sum(values[-third:])


# ---------------------------------------------------------------------------------- figures


def curves_figure(histories: dict) -> plt.Figure:
    """Training loss against epochs, one line per network: the study's budget on the left, the
    longer budget (full mode) on the right."""
    budgets = sorted({recipe.epochs for recipe in histories})
    fig, axes = plt.subplots(1, len(budgets), figsize=(6 + 4 * (len(budgets) - 1), 3.6), squeeze=False)
    depths = sorted({recipe.depth for recipe in histories})
    colors = dict(zip(depths, ["tab:blue", "tab:orange", "tab:red", "tab:purple"]))
    for ax, epochs in zip(axes[0], budgets):
        for recipe, history in histories.items():
            if recipe.epochs != epochs:
                continue
            points = [(r["epoch"], r["train_loss"]) for r in history.records]
            ax.plot(*zip(*points), color=colors[recipe.depth], ls="-" if recipe.residual else "--",
                    marker="o", ms=3, label=recipe.name)  # fmt: skip
        ax.set(
            xlabel="epoch",
            title=f"{epochs} epoch{'s' if epochs > 1 else ''}: plain (dashed) vs residual (solid)",
        )
        ax.legend(fontsize=7, ncol=2)
    axes[0][0].set_ylabel("training loss (mean since the last point)")
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
    study = QUICK_STUDY if cfg.quick else FULL_STUDY
    if cfg.epochs:
        study = dataclasses.replace(study, epochs=cfg.epochs)
    data = load_fashion(study)
    probe_x, probe_y = first_training_images(data, PROBE)
    deepest, shallowest = max(study.depths), min(study.depths)

    models, histories, rows, norms = {}, {}, {}, {}
    for recipe in study.recipes():
        if recipe.depth == deepest and recipe.epochs == study.epochs:
            kind = "residual" if recipe.residual else "plain"
            norms[(kind, "at initialisation")] = layer_grad_norms(
                build_deep_cnn(recipe, cfg.seed), probe_x, probe_y
            )
        model, history = train_deep_cnn(data, recipe, **cfg.fit_options(recipe.name))
        models[recipe], histories[recipe] = model, history
        rows[recipe] = {"network": recipe.name, "depth": recipe.depth, "epochs": recipe.epochs,
                        "train_loss": final_train_loss(model, data),
                        "val_accuracy": accuracy(model, data.val_loader(), cfg.device),
                        "seconds": history.last["elapsed"]}  # fmt: skip

    def pick(residual: bool, depth: int, epochs: int = study.epochs):
        return next(r for r in rows if (r.residual, r.depth, r.epochs) == (residual, depth, epochs))

    for kind, residual in (("plain", False), ("residual", True)):
        model = models[pick(residual, deepest)]
        norms[(kind, "after training")] = layer_grad_norms(model, probe_x, probe_y)

    alphas = [i / 8 for i in range(-8, 9)]  # -1 .. 1
    landscape = {}
    for residual in (False, True):
        recipe = pick(residual, deepest)
        direction = filter_normalised_direction(models[recipe], torch.Generator().manual_seed(cfg.seed))
        landscape[recipe.name] = loss_along(models[recipe], direction, alphas, [(probe_x, probe_y)])

    # Every decision above was taken on training loss and validation accuracy; now, once, the test set.
    for recipe, model in models.items():
        rows[recipe]["test_accuracy"] = accuracy(model, data.test_loader(), cfg.device)

    plain, residual = rows[pick(False, deepest)], rows[pick(True, deepest)]
    metrics = {
        "deepest_depth": deepest,
        "residual_minus_plain_val_accuracy": residual["val_accuracy"] - plain["val_accuracy"],
        "residual_minus_plain_test_accuracy": residual["test_accuracy"] - plain["test_accuracy"],
        "plain_deep_minus_shallow_train_loss": plain["train_loss"]
        - rows[pick(False, shallowest)]["train_loss"],
        "residual_deep_minus_shallow_train_loss": residual["train_loss"]
        - rows[pick(True, shallowest)]["train_loss"],
        "plain_early_over_late_grad_norm_at_init": early_over_late(norms[("plain", "at initialisation")]),
        "residual_early_over_late_grad_norm_at_init": early_over_late(
            norms[("residual", "at initialisation")]
        ),
        "plain_early_over_late_grad_norm_after_training": early_over_late(norms[("plain", "after training")]),
        "residual_early_over_late_grad_norm_after_training": early_over_late(
            norms[("residual", "after training")]
        ),
    }
    for when, key in (("at_init", "at initialisation"), ("after_training", "after training")):
        plain_ratio = early_over_late(norms[("plain", key)])
        residual_ratio = early_over_late(norms[("residual", key)])
        metrics[f"grad_profile_gap_{when}"] = max(plain_ratio / residual_ratio, residual_ratio / plain_ratio)
    metrics["grad_profile_gap_shrink"] = (
        metrics["grad_profile_gap_after_training"] / metrics["grad_profile_gap_at_init"]
    )
    if study.long_epochs:
        deep, shallow = (
            rows[pick(False, deepest, study.long_epochs)],
            rows[pick(False, shallowest, study.long_epochs)],
        )
        metrics["long_epochs"] = study.long_epochs
        metrics["plain_deep_minus_shallow_train_loss_long"] = deep["train_loss"] - shallow["train_loss"]
        metrics["plain_deficit_kept_with_longer_budget"] = (
            metrics["plain_deep_minus_shallow_train_loss_long"]
            / metrics["plain_deep_minus_shallow_train_loss"]
        )
    for recipe, row in rows.items():
        for key in ("train_loss", "val_accuracy", "test_accuracy"):
            metrics[f"{recipe.name.replace('-', '_')}_{key}"] = row[key]

    figures = {
        "curves": curves_figure(histories),
        "grad_norms": grad_norms_figure(norms, deepest),
        "landscape": landscape_figure(alphas, landscape),
    }
    formats = {"train_loss": ".4f", "val_accuracy": ".4f", "test_accuracy": ".4f", "seconds": ".0f"}
    depths = Table(list(rows.values()), title="Every network of the study", formats=formats)
    return {"metrics": metrics, "figures": figures, "tables": {"depths": depths},
            "landscape": {"alphas": alphas, **landscape}}  # fmt: skip


# Thresholds: below the worst of several seeds, with room. Measured (seeds 0, 1, 2, ... in order):
#   quick, seeds 0-5: val margin .349 .377 .201 .332 .162 .331; test margin .326 .379 .213 .280 .167 .310;
#     plain deep-shallow loss .297 .072 .194 .110 .099 .303; residual -.385 -.444 -.154 -.481 -.147 -.226;
#     plain grad ratio at init 3.73 2.72 1.78 7.27 1.73 2.56; profile gap shrink .14 .38 .41 .21 .49 .25
#   full, seeds 0-2: val margin .066 .071 .160; test margin .071 .068 .160; plain deep-shallow loss
#     .059 .024 .233, with 3x the steps .055 .104 .138 (kept .93 4.4 .59); residual -.166 -.150 -.144;
#     plain grad ratio at init 28 87 54; profile gap shrink .027 .046 .011
CLAIMS = (
    Claim(
        "residual_minus_plain_val_accuracy", ">=", 0.08, 0.03,
        "deepest depth: the residual net's validation accuracy beats the plain net's by this margin",
    ),
    Claim(
        "residual_minus_plain_test_accuracy", ">=", 0.08, 0.03,
        "and on the test set, scored once at the end",
    ),
    Claim(
        "plain_deep_minus_shallow_train_loss", ">=", 0.02, 0.01,
        "degradation: the deepest plain net ends with a higher training loss than the shallowest",
    ),
    Claim(
        "residual_deep_minus_shallow_train_loss", "<=", -0.05, -0.08,
        "with skip connections the deepest net ends with a lower training loss than the shallowest",
    ),
    Claim(
        "plain_early_over_late_grad_norm_at_init", ">=", 1.3, 10.0,
        "at init the deepest plain net's first third of layers gets more gradient than its last third",
    ),
    Claim(
        "grad_profile_gap_shrink", "<=", 0.75, 0.2,
        "after training the plain and residual gradient profiles are much closer than at init",
    ),
    Claim(
        "plain_deep_minus_shallow_train_loss_long", ">=", None, 0.025,
        "and with 3x the steps the deepest plain net still ends with a higher training loss",
    ),
    Claim(
        "plain_deficit_kept_with_longer_budget", ">=", None, 0.4,
        "with 3x the steps the deepest plain net keeps much of its training-loss deficit",
    ),
)  # fmt: skip

LESSON = Lesson(
    name="residual",
    title="Residual connections and the degradation problem",
    datasets=("fashion-mnist",),
    claims=CLAIMS,
    run=run,
)
