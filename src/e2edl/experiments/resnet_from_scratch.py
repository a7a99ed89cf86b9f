"""Lesson 06's experiment: our own ResNet-18, trained from random weights on Dogs vs Cats.

At what resolution? ResNet-18 costs 1.8 GFLOPs per 224×224 image; cost grows with the pixel
count, so at 64×64 an image is 12× cheaper. We train at 64 px: the images are decoded once at
80 px (``STORED``) and each training image is a random crop of 25-100% of that, resized to 64 and
flipped half the time; validation images are the whole 80-px image resized to 64.

The recipe: AdamW with a one-cycle learning-rate schedule (peak 2e-3), weight decay 0.05, label
smoothing 0.1, batches of 64, bf16 autocast on CPUs that have bf16 instructions.
Quick mode trains on 2,000 images for a few epochs and validates on 1,000.
"""

from __future__ import annotations

import torch
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from e2edl.course.claims import Claim
from e2edl.course.lesson import Lesson, RunConfig
from e2edl.data.pets_images import IMAGENET_MEAN, IMAGENET_STD, train_transform
from e2edl.data.pets_split import Pets
from e2edl.figures import image_grid, mistakes_figure, plot_history
from e2edl.nn.resnet import resnet18
from e2edl.train import fit, seed_everything
from e2edl.train.device import cpu_bf16_pays
from e2edl.train.predict import predict_logits

STORED, SIZE = 80, 64  # decoded size, training size (pixels)
BATCH, LR, WEIGHT_DECAY, LABEL_SMOOTHING = 64, 2e-3, 0.05, 0.1
EPOCHS = {"full": 20, "quick": 4}
QUICK_SUBSET = {"train_subset": 2000, "val_subset": 1000}


def train_resnet(data: Pets, cfg: RunConfig, epochs: int, name: str = "resnet18"):
    """Train ``resnet18(num_classes=2)`` from scratch; returns (model, history)."""
    seed_everything(cfg.seed)
    model = resnet18(num_classes=2).to(memory_format=torch.channels_last)
    loader = data.train_loader(BATCH, SIZE, seed=cfg.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=LR, total_steps=epochs * len(loader), pct_start=0.2
    )
    history = fit(
        model,
        loader,
        epochs=epochs,
        loss_fn=nn.CrossEntropyLoss(label_smoothing=LABEL_SMOOTHING),
        optimizer=optimizer,
        scheduler=scheduler,
        scheduler_interval="step",
        val_loader=data.val_loader(SIZE),
        metrics={"accuracy": MulticlassAccuracy(num_classes=2, average="micro")},
        amp=cpu_bf16_pays(cfg.device),
        **cfg.fit_options(name),
    )
    return model, history


def augmentation_figure(data: Pets, n: int = 10):
    """The same training images twice through the random crop-and-flip: no two views agree."""
    images = data.images[data.train_idx[:n]]
    transform = train_transform(SIZE)  # what Pets.train_loader applies, without copying the images
    mean, std = torch.tensor(IMAGENET_MEAN).view(3, 1, 1), torch.tensor(IMAGENET_STD).view(3, 1, 1)
    views = [images]
    for _ in range(2):
        augmented, _ = transform((images, torch.zeros(n)))
        views.append(((augmented * std + mean).clamp(0, 1) * 255).to(torch.uint8))
    rows = [torch.nn.functional.interpolate(v.float(), size=SIZE).to(torch.uint8) for v in views]
    titles = ["stored"] * n + ["view 1"] * n + ["view 2"] * n
    return image_grid(torch.cat(rows), titles, ncols=n, title=f"Training views at {SIZE} px")


def run(cfg: RunConfig) -> dict:
    data = Pets.load(STORED, **(QUICK_SUBSET if cfg.quick else {}), progress=cfg.progress)
    epochs = cfg.epochs or EPOCHS[cfg.mode]
    model, history = train_resnet(data, cfg, epochs)
    logits = predict_logits(model, data.val_loader(SIZE), amp=cpu_bf16_pays(cfg.device))
    metrics = {
        "val_accuracy": history.last["val_accuracy"],
        "train_seconds": history.last["elapsed"],
        "load_seconds": data.load_seconds,
        "train_images": len(data.train_idx),
        "val_images": len(data.val_idx),
        "skipped_images": data.skipped,
        "resolution": SIZE,
        "epochs": epochs,
    }
    figures = {
        "augmentation.png": augmentation_figure(data),
        "curves.png": plot_history(
            history.records, ["train_loss", "val_loss"], "loss", "ResNet-18 from scratch"
        ),
        "accuracy.png": plot_history(history.records, ["val_accuracy"], "validation accuracy", ""),
        "mistakes.png": mistakes_figure(data.images[data.val_idx], data.y_val, logits, data.class_names),
    }
    return {"metrics": metrics, "figures": figures, "history": history.records}


LESSON = Lesson(
    name="resnet-from-scratch",
    title="ResNet-18 from scratch on Dogs vs Cats",
    datasets=("pets",),
    claims=(Claim("val_accuracy", ">=", 0.60, 0.80, "validation accuracy, trained from random weights"),),
    run=run,
)
