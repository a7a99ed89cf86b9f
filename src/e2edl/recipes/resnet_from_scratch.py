"""The resnet-from-scratch lesson's recipe: ResNet-18 from random weights on Dogs vs Cats at 64 px.

The images are decoded once at 80 px (``STORED_SIZE``); each training image is a random crop of
25–100% of that, resized to ``size`` and flipped half the time, and each validation image the whole
image resized to ``size``. AdamW with a one-cycle learning rate (warm up to the peak, then anneal to
almost zero), weight decay, label smoothing; bf16 autocast on CPUs with bf16 instructions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from e2edl.data.pets_split import Pets
from e2edl.nn.resnet import ResNet18, resnet18
from e2edl.train.device import cpu_bf16_pays
from e2edl.train.fit import fit
from e2edl.train.history import History
from e2edl.train.seeding import seed_everything

STORED_SIZE = 80  # pixels: the decoded images the training crops are cut from


@dataclass(frozen=True)
class ResNetRecipe:
    """How the lesson trains ResNet-18 from scratch. Change a setting with ``dataclasses.replace``."""

    epochs: int = 20
    size: int = 64  # training and validation resolution, pixels
    batch_size: int = 64
    lr: float = 2e-3  # the peak of the one-cycle schedule
    weight_decay: float = 0.05  # AdamW's decoupled weight decay
    label_smoothing: float = 0.1  # targets 0.95 / 0.05 instead of 1 / 0 (two classes)
    warmup: float = 0.2  # share of the steps spent raising the learning rate
    train_images: int | None = None  # a class-balanced part of the training split; None: all of it
    val_images: int | None = None  # likewise for the validation split


FULL_RECIPE = ResNetRecipe()
QUICK_RECIPE = replace(FULL_RECIPE, epochs=3, train_images=2000, val_images=1000)


def load_pets_data(recipe: ResNetRecipe, progress: bool = True) -> Pets:
    """Dogs vs Cats decoded at ``STORED_SIZE`` (cached after the first time), split 80/20 per class
    (the split the resnet-from-scratch, transfer-learning and vit lessons share), cut down to the
    recipe's ``train_images`` / ``val_images``."""
    return Pets.load(STORED_SIZE, train_subset=recipe.train_images, val_subset=recipe.val_images,
                     progress=progress)  # fmt: skip


def train_resnet(
    data: Pets, recipe: ResNetRecipe, *, run_dir=None, seed: int = 0, **fit_options
) -> tuple[ResNet18, History]:
    """Train ``resnet18(num_classes=2)`` from random weights; returns ``(model, history)``.

    The history has one record per epoch: training loss, validation loss and accuracy.
    ``fit_options`` go to :func:`e2edl.train.fit` (``progress``, ``resume``, ``device``, ``amp``...).
    """
    seed_everything(seed)  # the same seed, the same initial weights
    model = resnet18(num_classes=2).to(memory_format=torch.channels_last)
    loader = data.train_loader(recipe.batch_size, recipe.size, seed=seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.lr, pct_start=recipe.warmup,
                                                    total_steps=recipe.epochs * len(loader))  # fmt: skip
    fit_options.setdefault("amp", cpu_bf16_pays(fit_options.get("device")))  # bf16 where the CPU has it
    history = fit(
        model,
        loader,
        epochs=recipe.epochs,
        loss_fn=nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing),
        optimizer=optimizer,
        scheduler=scheduler,
        scheduler_interval="step",
        val_loader=data.val_loader(recipe.size),
        metrics={"accuracy": MulticlassAccuracy(num_classes=2, average="micro")},
        run_dir=run_dir,
        seed=seed,
        config=asdict(recipe),
        **fit_options,
    )
    return model, history
