"""The mnist-mlp lesson's experiment: the MLP recipe, a comparison of optimisers, and what each
regulariser buys on a small training set.

Everything is trained by ``e2edl.recipes.mnist_mlp.train_mlp`` and every decision reads the
validation split (the last 5,000 training images):

- the **recipe** (``RECIPE``; ``QUICK_RECIPE``, two epochs, in quick mode) is checked on the
  validation split twice per epoch; its first check at >= 98% stops the clock for
  ``seconds_to_98``, which counts reading the data files too;
- the **optimiser comparison**: the same network, the same budget (one epoch, constant rate), each
  optimiser at four learning rates, its best kept by validation accuracy;
- **generalisation**: 1,000 training images, many epochs, no regulariser, then weight decay,
  dropout, augmentation and all three; early stopping is the epoch of the best validation loss.

The test set is scored once, at the end, for the recipe's network. The notebook trains the recipe
in the open into ``out/mlp``; with ``resume=True`` this run reuses it.
"""

from __future__ import annotations

from dataclasses import replace

import matplotlib.pyplot as plt
import torch
from tqdm.auto import tqdm

from e2edl.course.claims import Claim
from e2edl.course.lesson import Lesson, RunConfig
from e2edl.data.batch_transforms import BatchNormalize
from e2edl.data.mnist import MNIST
from e2edl.data.tensor_loader import TensorLoader
from e2edl.figures import Table, confusion_figure, mistakes_figure, plot_history
from e2edl.recipes.mnist_mlp import (
    QUICK_RECIPE,
    RECIPE,
    optimiser_variants,
    regularisation_variants,
    train_mlp,
)
from e2edl.train import TrainingDiverged
from e2edl.train.predict import predict_logits

TARGET = 0.98
SHARED_RATE = 0.03  # a learning rate SGD tries with and without momentum
# The optimiser comparison: training images, batch size (one epoch, so 78 or 430 steps).
OPTIMISER_STUDY = {"quick": (10_000, 128), "full": (55_000, 128)}
# Generalisation: training images, epochs, validation images checked each epoch.
GENERALISATION_STUDY = {"quick": (1_000, 20, 2_000), "full": (1_000, 60, 5_000)}
NAMES = {
    "sgd": "SGD",
    "momentum": "SGD + momentum 0.9",
    "nesterov": "SGD + Nesterov 0.9",
    "adam": "Adam",
    "adamw": "AdamW (decay 0.05)",
}


def _accuracy(model, images: torch.Tensor, labels: torch.Tensor, data: MNIST) -> float:
    """Accuracy of ``model`` (in evaluation mode) on uint8 images, normalised like the loaders do."""
    loader = TensorLoader(images, labels, batch_size=2500, transform=BatchNormalize(*data.mean_std))
    return (predict_logits(model, loader).argmax(1) == labels).float().mean().item()


def _compare_optimisers(data: MNIST, cfg: RunConfig) -> tuple[Table, plt.Figure, dict]:
    """The table, the figure, and each optimiser's {rate: validation accuracy} (None: diverged)."""
    n_train, batch = OPTIMISER_STUDY[cfg.mode]
    subset = replace(data, x_train=data.x_train[:n_train], y_train=data.y_train[:n_train])
    variants = optimiser_variants(replace(RECIPE, epochs=1, batch_size=batch))
    runs = sum(len(recipes) for recipes in variants.values())
    bar = tqdm(total=runs, desc="optimisers", disable=not cfg.progress)
    rows, found, fig = [], {}, plt.figure(figsize=(5.5, 3.4))
    for name, recipes in variants.items():
        accuracies = []  # None where the rate was too large and the loss diverged
        for recipe in recipes:
            try:
                _, history = train_mlp(subset, recipe, seed=cfg.seed, device=cfg.device, progress=False)
                accuracies.append(history.last["val_accuracy"])
            except TrainingDiverged:
                accuracies.append(None)
            bar.update()
        found[name] = {recipe.lr: accuracy for recipe, accuracy in zip(recipes, accuracies)}
        finite = [i for i, a in enumerate(accuracies) if a is not None]
        chosen = max(finite, key=accuracies.__getitem__)
        rows.append(
            {
                "optimiser": NAMES[name],
                "learning rates tried": ", ".join(f"{r.lr:g}" for r in recipes),
                "val accuracy at each": ", ".join(
                    "diverged" if a is None else f"{a:.4f}" for a in accuracies
                ),
                "best lr": f"{recipes[chosen].lr:g}",
                "best val accuracy": accuracies[chosen],
            }
        )
        errors = [1 - accuracies[i] for i in finite]
        plt.plot([recipes[i].lr for i in finite], errors, marker="o", label=NAMES[name])
    bar.close()
    plt.xscale("log")
    plt.yscale("log")
    plt.gca().set(
        xlabel="learning rate (constant)",
        ylabel="validation error (1 − accuracy), log scale",
        title=f"One epoch on {n_train:,} images, batch {batch}: each optimiser, four rates",
    )
    plt.legend(fontsize=7)
    top = max(a for accuracies in found.values() for a in accuracies.values() if a is not None)
    error = (top * (1 - top) / len(data.y_val)) ** 0.5  # the standard error of an accuracy near the top
    title = (
        f"Same network, same budget (one epoch on {n_train:,} training images, batch {batch}, "
        f"constant rate), one seed: validation accuracy (one standard error near the top: "
        f"±{error:.4f})"
    )
    return Table(rows, title=title, formats={"best val accuracy": ".4f"}), fig, found


def _study_generalisation(data: MNIST, cfg: RunConfig) -> tuple[Table, plt.Figure, dict]:
    n_train, epochs, n_val = GENERALISATION_STUDY[cfg.mode]
    small = replace(
        data,
        x_train=data.x_train[:n_train],
        y_train=data.y_train[:n_train],
        x_val=data.x_val[:n_val],
        y_val=data.y_val[:n_val],
    )
    base = replace(RECIPE, epochs=epochs, batch_size=100, lr=1e-3, dropout=0.0, weight_decay=0.0)
    variants = regularisation_variants(base)
    histories, rows = {}, []
    for label, recipe in tqdm(variants.items(), desc="regularisers", disable=not cfg.progress):
        model, history = train_mlp(small, recipe, seed=cfg.seed, device=cfg.device, progress=False)
        histories[label] = history
        rows.append(
            {
                "variant": label,
                "train accuracy": _accuracy(model, small.x_train, small.y_train, data),
                "val accuracy": history.last["val_accuracy"],
                "val loss": history.last["val_loss"],
                "lowest val loss (epoch)": _lowest(history),
            }
        )
    none = histories["none"]
    losses = none.series("val_loss")
    stop = losses.index(min(losses))  # early stopping keeps the epoch of the lowest validation loss
    rows.insert(
        1,
        {
            "variant": f"none, early stopping (keeps epoch {stop + 1})",
            "val accuracy": none.series("val_accuracy")[stop],
            "val loss": losses[stop],
            "lowest val loss (epoch)": _lowest(none),
        },
    )
    title = (
        f"{n_train:,} training images, {epochs} epochs of AdamW at a constant 1e-3, one seed; "
        f"validation on {n_val:,} images at the last epoch"
    )
    formats = {"train accuracy": ".4f", "val accuracy": ".4f", "val loss": ".3f"}
    accuracy = {label: h.last["val_accuracy"] for label, h in histories.items()}
    metrics = {
        "overfit_val_loss_rise": none.last["val_loss"] / min(losses),
        "early_stopping_epoch": stop + 1,
        "generalisation_gap": rows[0]["train accuracy"] - rows[0]["val accuracy"],
        "augmentation_gain": accuracy["augmentation (shifts ±2 px)"] - accuracy["none"],
        "weight_decay_gain": accuracy["weight decay 1.0"] - accuracy["none"],
        "dropout_gain": accuracy["dropout 0.2"] - accuracy["none"],
    }
    metrics["augmentation_lead"] = metrics["augmentation_gain"] - max(
        metrics["weight_decay_gain"], metrics["dropout_gain"]
    )
    return Table(rows, title=title, formats=formats), _overfitting_figure(histories, stop, n_train), metrics


def _lowest(history) -> str:
    losses = history.series("val_loss")
    return f"{min(losses):.3f} ({losses.index(min(losses)) + 1})"


def _overfitting_figure(histories: dict, stop: int, n_train: int) -> plt.Figure:
    """Left: training and validation loss without a regulariser, and with augmentation; right: the
    validation accuracy of every variant, epoch by epoch."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    for label, style in (("none", "-"), ("augmentation (shifts ±2 px)", "--")):
        records = histories[label].records
        epochs = [r["epoch"] for r in records]
        left.plot(epochs, [r["train_loss"] for r in records], "C0" + style, label=f"training, {label}")
        left.plot(epochs, [r["val_loss"] for r in records], "C3" + style, label=f"validation, {label}")
    left.axvline(stop + 1, color="grey", lw=0.8, ls=":")
    left.annotate("early stopping", (stop + 1, left.get_ylim()[1]), fontsize=7, va="top", ha="left")
    left.set(
        yscale="log",
        xlabel="epoch",
        ylabel="cross-entropy (log scale)",
        title=f"Overfitting on {n_train:,} images",
    )
    left.legend(fontsize=7)
    for label, history in histories.items():
        right.plot([r["epoch"] for r in history.records], history.series("val_accuracy"), label=label)
    right.set(xlabel="epoch", ylabel="validation accuracy", title="What each regulariser buys")
    right.legend(fontsize=7)
    fig.tight_layout()
    return fig


def run(cfg: RunConfig) -> dict:
    data = MNIST.load()
    recipe = QUICK_RECIPE if cfg.quick else RECIPE
    if cfg.epochs:
        recipe = replace(recipe, epochs=cfg.epochs)
    model, history = train_mlp(data, recipe, **cfg.fit_options("mlp"))
    metrics = {
        "val_accuracy": history.last["val_accuracy"],
        "recipe_val_loss_rise": history.last["val_loss"] / min(history.series("val_loss")),
        "seconds_to_98": history.seconds_to(TARGET, offset=data.load_seconds),
        "load_seconds": data.load_seconds,
        "train_seconds": history.last["elapsed"],
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    figures = {
        "curves": plot_history(
            history.records,
            ["train_loss", "val_loss"],
            "cross-entropy",
            "The recipe: training and validation loss",
        ),
        "accuracy": plot_history(
            history.records, ["val_accuracy"], "validation accuracy", "The recipe, checked twice per epoch"
        ),
    }
    figures["accuracy"].axes[0].axhline(TARGET, color="grey", lw=0.8, ls=":")

    optimisers, figures["optimisers"], found = _compare_optimisers(data, cfg)
    best = {name: max(a for a in by_rate.values() if a is not None) for name, by_rate in found.items()}
    metrics["best_optimiser_val_accuracy"] = max(best.values())
    metrics.update({f"{name}_val_accuracy": accuracy for name, accuracy in best.items()})
    # SGD with and without momentum share their rates: at the same rate, momentum's steps go further.
    with_momentum, without = found["momentum"][SHARED_RATE], found["sgd"][SHARED_RATE]
    diverged = with_momentum is None or without is None
    metrics["momentum_gain_at_0.03"] = float("nan") if diverged else with_momentum - without
    generalisation, figures["overfitting"], measured = _study_generalisation(data, cfg)
    metrics.update(measured)

    # Every decision is made: the recipe's network meets the test set, once.
    logits = predict_logits(model, data.test_loader())
    metrics["test_accuracy"] = (logits.argmax(1) == data.y_test).float().mean().item()
    figures["confusion"] = confusion_figure(logits.argmax(1), data.y_test, list(range(10)))
    figures["mistakes"] = mistakes_figure(data.x_test, data.y_test, logits, list(range(10)), n=20)
    return {
        "metrics": metrics,
        "figures": figures,
        "tables": {"optimisers": optimisers, "generalisation": generalisation},
        "epochs": recipe.epochs,
    }


LESSON = Lesson(
    name="mnist-mlp",
    title="MNIST with a fully connected network",
    datasets=("mnist",),
    claims=(
        Claim("test_accuracy", ">=", 0.97, 0.98, "test accuracy of the recipe's MLP, scored once"),
        Claim(
            "seconds_to_98",
            "<=",
            None,
            30,
            "98% validation accuracy within 30 s on the reference machine, data loading included",
            kind="timing",
        ),
        Claim("val_accuracy", ">=", 0.975, 0.984, "validation accuracy of the recipe's MLP at the end"),
        Claim(
            "recipe_val_loss_rise",
            "<=",
            1.02,
            1.02,
            "the recipe's last validation loss over its lowest: no overfitting on 55,000 images",
        ),
        Claim(
            "best_optimiser_val_accuracy",
            ">=",
            0.935,
            0.965,
            "the best optimiser's validation accuracy after one epoch, constant rate",
        ),
        Claim(
            "momentum_gain_at_0.03",
            ">=",
            0.05,
            0.02,
            "at the same rate (0.03), what momentum adds to SGD's validation accuracy",
        ),
        Claim(
            "generalisation_gap",
            ">=",
            0.05,
            0.05,
            "no regulariser, 1,000 images: train minus validation accuracy at the end",
        ),
        Claim(
            "overfit_val_loss_rise",
            ">=",
            1.1,
            1.2,
            "no regulariser: last validation loss over its lowest (overfitting)",
        ),
        Claim(
            "augmentation_gain",
            ">=",
            0.01,
            0.015,
            "validation accuracy bought by augmentation on 1,000 images",
        ),
        Claim(
            "augmentation_lead",
            ">=",
            0.005,
            0.005,
            "augmentation buys more than weight decay or dropout alone",
        ),
    ),
    run=run,
)
