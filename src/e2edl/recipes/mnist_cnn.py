"""The mnist-cnn lesson's recipe: a small CNN trained past 99% MNIST accuracy in two epochs on a CPU.

``train_cnn(data, SPEED)`` is the speed run of the lesson's race, ``ACCURACY`` the longer run with a
wider network and augmentation, and ``ablations(SPEED)`` the variants that change one ingredient
each. Every decision (when the race is won, which variant is better) reads the validation split;
the test set is the experiment's business, scored once at the end.

The optimiser is the mnist-mlp lesson's SGD with Nesterov momentum and weight decay; the schedule is
its one-cycle schedule (warm up linearly to the peak rate, then anneal linearly to almost zero).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from e2edl.data.mnist import MNIST
from e2edl.nn.cnn import MnistCNN
from e2edl.train import fit, seed_everything
from e2edl.train.history import History


@dataclass(frozen=True)
class CNNRecipe:
    """The settings of one training of ``MnistCNN`` on MNIST (see ``train_cnn``)."""

    widths: tuple[int, int, int] = (16, 32, 128)  # conv1 channels, conv2 channels, hidden units
    epochs: int = 2
    batch_size: int = 256
    lr: float = 0.1  # peak of the one-cycle schedule (the constant rate without it)
    momentum: float = 0.9  # Nesterov momentum; one-cycle cycles it between 0.95 and 0.85 instead
    weight_decay: float = 5e-4  # SGD adds weight_decay · w to every weight's gradient
    label_smoothing: float = 0.1  # the target puts 0.1/10 on every class, 0.91 on the right one
    one_cycle: bool = True
    warmup: float = 0.25  # share of the steps spent warming up to the peak rate
    shift: int = 0  # augmentation: random shifts of up to this many pixels
    batchnorm: bool = True
    evals_per_epoch: int = 2  # validation checks per epoch: the clock of the race

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.evals_per_epoch < 1:
            raise ValueError(
                f"epochs and evals_per_epoch must be >= 1, got {self.epochs}, {self.evals_per_epoch}"
            )


SPEED = CNNRecipe()
QUICK_SPEED = replace(SPEED, epochs=1)  # quick mode: one epoch of the same recipe
ACCURACY = replace(SPEED, widths=(32, 64, 256), epochs=8, shift=2)

_CHANGES = {
    "without BatchNorm": {"batchnorm": False},
    "constant learning rate instead of one-cycle": {"one_cycle": False},
    "with random shifts (augmentation)": {"shift": 2},
}


def ablations(base: CNNRecipe) -> dict[str, CNNRecipe]:
    """``base`` with one ingredient changed at a time, same budget, checked once per epoch."""
    return {label: replace(base, evals_per_epoch=1, **change) for label, change in _CHANGES.items()}


def train_cnn(
    data: MNIST, recipe: CNNRecipe, *, run_dir=None, seed: int = 0, **fit_options
) -> tuple[MnistCNN, History]:
    """Train ``MnistCNN`` with ``recipe``; return (model on the CPU in eval mode, history).

    ``fit_options`` go to ``fit`` as they are (``device``, ``resume``, ``progress``...). The recipe's
    settings are stored in the checkpoint: ``resume=True`` in the same ``run_dir`` reuses a
    finished training of the same recipe, and refuses one of another recipe.
    """
    seed_everything(seed)  # the same seed gives the same initial weights
    model = MnistCNN(*recipe.widths, batchnorm=recipe.batchnorm).to(memory_format=torch.channels_last)
    loader = data.train_loader(recipe.batch_size, seed=seed, shift=recipe.shift, channels_last=True)
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=recipe.lr,
        momentum=recipe.momentum,
        nesterov=True,
        weight_decay=recipe.weight_decay,
    )
    scheduler = None
    if recipe.one_cycle:
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=recipe.lr,
            total_steps=recipe.epochs * len(loader),
            pct_start=recipe.warmup,
            div_factor=10,  # start at lr / 10
            final_div_factor=100,  # end at lr / 1000
            anneal_strategy="linear",
        )
    history = fit(
        model,
        loader,
        epochs=recipe.epochs,
        loss_fn=nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing),
        optimizer=optimizer,
        scheduler=scheduler,
        scheduler_interval="step",
        val_loader=data.val_loader(channels_last=True),
        metrics={"accuracy": MulticlassAccuracy(num_classes=10, average="micro")},
        eval_every=len(loader) // recipe.evals_per_epoch,
        seed=seed,
        run_dir=run_dir,
        config=asdict(recipe),
        **fit_options,
    )
    return model.cpu().eval(), history
