"""Lesson 03's experiment: a fully connected network on MNIST, timed from reading the files.

Recipe (measured on 2 CPU cores, see the lesson): inputs normalised with the training set's mean
and standard deviation, two hidden layers with dropout, AdamW with a one-cycle learning-rate
schedule, batches of 256. The clock starts before the IDX files are read, so "seconds to 98%"
includes data loading.
"""

from __future__ import annotations

import torch
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from e2edl.course.claims import Claim
from e2edl.course.lesson import Lesson, RunConfig
from e2edl.data.mnist import MNIST
from e2edl.figures import confusion_figure, image_grid, mistakes_figure, plot_history
from e2edl.nn.mlp import MLP
from e2edl.train import fit, seed_everything
from e2edl.train.predict import predict_logits

HIDDEN, DROPOUT = (512, 512), 0.2
BATCH, LR = 256, 2e-3
EPOCHS = {"quick": 2, "full": 6}
TARGET = 0.98


def train_mlp(data: MNIST, cfg: RunConfig, epochs: int):
    """Train the MLP with ``fit``; returns the model and the history (evaluated twice per epoch)."""
    seed_everything(cfg.seed)
    model = MLP(28 * 28, HIDDEN, 10, dropout=DROPOUT)
    loader = data.train_loader(BATCH, seed=cfg.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=LR, total_steps=epochs * len(loader))
    history = fit(
        model,
        loader,
        epochs=epochs,
        loss_fn=nn.CrossEntropyLoss(),
        optimizer=optimizer,
        scheduler=scheduler,
        scheduler_interval="step",
        val_loader=data.test_loader(),
        metrics={"accuracy": MulticlassAccuracy(num_classes=10, average="micro")},
        **cfg.fit_options("mlp"),
        eval_every=len(loader) // 2,
    )
    return model, history


def run(cfg: RunConfig) -> dict:
    data = MNIST.load()
    epochs = cfg.epochs or EPOCHS[cfg.mode]
    model, history = train_mlp(data, cfg, epochs)
    logits = predict_logits(model, data.test_loader())

    figures = {
        "samples.png": image_grid(data.x_train[:40], data.y_train[:40].tolist(), title="Training digits"),
        "curves.png": plot_history(history.records, ["train_loss", "val_loss"], "cross-entropy", "Loss"),
        "accuracy.png": plot_history(history.records, ["val_accuracy"], "test accuracy", "Accuracy"),
        "confusion.png": confusion_figure(logits.argmax(1), data.y_test, list(range(10))),
        "mistakes.png": mistakes_figure(data.x_test, data.y_test, logits, list(range(10)), n=20),
    }
    metrics = {
        "test_accuracy": history.last["val_accuracy"],
        "seconds_to_98": history.seconds_to(TARGET, offset=data.load_seconds),
        "load_seconds": data.load_seconds,
        "train_seconds": history.last["elapsed"],
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    return {"metrics": metrics, "figures": figures, "epochs": epochs}


LESSON = Lesson(
    name="mnist-mlp",
    title="MNIST with a fully connected network",
    datasets=("mnist",),
    claims=(
        Claim("test_accuracy", ">=", 0.97, 0.98, "test accuracy of the MLP"),
        Claim(
            "seconds_to_98",
            "<=",
            None,
            30,
            "98% reached within 30 s on 2 CPU cores, data loading included",
            kind="timing",
        ),
    ),
    run=run,
)
