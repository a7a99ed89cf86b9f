"""The mnist-mlp lesson's recipe: a fully connected network past 98% MNIST validation accuracy in
a few epochs on a CPU.

``train_mlp(data, RECIPE)`` builds ``MLP`` (two hidden layers with dropout), AdamW with decoupled
weight decay on the weight matrices only, and a one-cycle learning-rate schedule (``one_cycle``),
then calls ``fit``, checking the validation split twice per epoch. The lesson's two studies are
the same function with other settings: ``optimiser_variants`` (the optimisers at a constant rate,
same budget) and ``regularisation_variants`` (a small training set, each regulariser on its own).
Every decision reads the validation split; the test set is the experiment's business, scored once
at the end.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from e2edl.data.mnist import MNIST
from e2edl.nn.mlp import MLP
from e2edl.train import fit, seed_everything
from e2edl.train.history import History
from e2edl.train.param_groups import weight_decay_groups

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw")


@dataclass(frozen=True)
class MLPRecipe:
    """The settings of one training of the MNIST ``MLP`` (see ``train_mlp``)."""

    hidden: tuple[int, ...] = (512, 512)  # widths of the hidden layers
    dropout: float = 0.2  # share of hidden activations zeroed in training
    epochs: int = 6
    batch_size: int = 256
    optimizer: str = "adamw"  # one of OPTIMIZERS
    lr: float = 2e-3  # peak of the one-cycle schedule (the rate itself with schedule="constant")
    momentum: float = 0.9  # of "momentum" and "nesterov"
    weight_decay: float = 0.05  # AdamW: w ← w − lr·wd·w; the others add wd·w to the gradient
    schedule: str = "one-cycle"  # or "constant"
    pct_start: float = 0.3  # share of the steps spent warming up to the peak rate
    shift: int = 0  # augmentation: random shifts of up to this many pixels
    evals_per_epoch: int = 2  # validation checks per epoch: the clock of "seconds to 98%"

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.evals_per_epoch < 1:
            raise ValueError(
                f"epochs and evals_per_epoch must be >= 1, got {self.epochs}, {self.evals_per_epoch}"
            )
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}; got {self.optimizer!r}")
        if self.schedule not in ("one-cycle", "constant"):
            raise ValueError(f"schedule must be 'one-cycle' or 'constant', got {self.schedule!r}")
        if not 0 < self.pct_start < 1:
            raise ValueError(f"pct_start is a share of the steps, in (0, 1); got {self.pct_start}")


RECIPE = MLPRecipe()
QUICK_RECIPE = replace(RECIPE, epochs=2)  # quick mode: two epochs of the same recipe


def make_optimizer(model: nn.Module, recipe: MLPRecipe) -> torch.optim.Optimizer:
    """``recipe.optimizer`` over ``model``'s parameters; weight decay on the weight matrices only."""
    groups = weight_decay_groups(model, recipe.weight_decay)
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=recipe.lr)
    if recipe.optimizer == "adam":
        return torch.optim.Adam(groups, lr=recipe.lr)
    momentum = 0.0 if recipe.optimizer == "sgd" else recipe.momentum
    return torch.optim.SGD(groups, lr=recipe.lr, momentum=momentum, nesterov=recipe.optimizer == "nesterov")


def one_cycle(optimizer: torch.optim.Optimizer, recipe: MLPRecipe, total_steps: int):
    """The recipe's schedule: from ``lr/25`` up to ``lr`` over the first ``pct_start`` of the steps,
    then a cosine down to ``lr/25/10⁴``. The momentum (Adam's β₁) cycles the other way, 0.95 →
    0.85 → 0.95, except for plain SGD, which has none. Call ``scheduler.step()`` after every step."""
    return torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=recipe.lr,
        total_steps=total_steps,
        pct_start=recipe.pct_start,
        cycle_momentum=recipe.optimizer != "sgd",
    )


def optimiser_variants(base: MLPRecipe) -> dict[str, list[MLPRecipe]]:
    """Each optimiser at a constant rate for ``base``'s budget, at four learning rates a factor of
    about 3 apart (the comparison keeps each one's best, chosen on the validation split); SGD with
    and without momentum share theirs. Only AdamW decays the weights: its decay is what sets it
    apart from Adam."""
    sgd_rates, adam_rates = (0.01, 0.03, 0.1, 0.3), (3e-4, 1e-3, 3e-3, 1e-2)
    rates = {
        "sgd": sgd_rates,
        "momentum": sgd_rates,
        "nesterov": sgd_rates,
        "adam": adam_rates,
        "adamw": adam_rates,
    }
    return {
        name: [
            replace(
                base,
                optimizer=name,
                lr=lr,
                schedule="constant",
                evals_per_epoch=1,
                weight_decay=base.weight_decay if name == "adamw" else 0.0,
            )
            for lr in lrs
        ]
        for name, lrs in rates.items()
    }


def regularisation_variants(base: MLPRecipe) -> dict[str, MLPRecipe]:
    """``base`` (meant without any regulariser: no dropout, no decay, no shifts) and each
    regulariser added on its own, then all three together; AdamW at a constant rate, checked once
    per epoch. The decay is strong because a short run on few images gives it few steps to act."""
    base = replace(base, optimizer="adamw", schedule="constant", evals_per_epoch=1)
    changes = {
        "none": {},
        "weight decay 1.0": {"weight_decay": 1.0},
        "dropout 0.2": {"dropout": 0.2},
        "augmentation (shifts ±2 px)": {"shift": 2},
        "all three": {"weight_decay": 1.0, "dropout": 0.2, "shift": 2},
    }
    return {label: replace(base, **change) for label, change in changes.items()}


def train_mlp(
    data: MNIST, recipe: MLPRecipe = RECIPE, *, run_dir=None, seed: int = 0, **fit_options
) -> tuple[MLP, History]:
    """Train the MLP with ``recipe``; return (model, history checked on the validation split).

    ``fit_options`` go to ``fit`` as they are (``device``, ``resume``, ``progress``...). The recipe's
    settings and the size of the training data are stored in the checkpoint: ``resume=True`` in the
    same ``run_dir`` reuses a finished training of the same recipe, and refuses one of another.
    """
    seed_everything(seed)  # the same seed gives the same initial weights
    model = MLP(28 * 28, recipe.hidden, 10, dropout=recipe.dropout)
    loader = data.train_loader(recipe.batch_size, seed=seed, shift=recipe.shift)
    optimizer = make_optimizer(model, recipe)
    scheduler = None
    if recipe.schedule == "one-cycle":
        scheduler = one_cycle(optimizer, recipe, total_steps=recipe.epochs * len(loader))
    history = fit(
        model,
        loader,
        epochs=recipe.epochs,
        loss_fn=nn.CrossEntropyLoss(),
        optimizer=optimizer,
        scheduler=scheduler,
        scheduler_interval="step",
        val_loader=data.val_loader(),
        metrics={"accuracy": MulticlassAccuracy(num_classes=10, average="micro")},
        eval_every=len(loader) // recipe.evals_per_epoch,
        seed=seed,
        run_dir=run_dir,
        config={**asdict(recipe), "data": data.name, "train_images": len(data.x_train)},
        **fit_options,
    )
    return model, history
