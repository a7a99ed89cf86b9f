"""Lesson 07's experiment: a network pretrained on ImageNet, reused for Dogs vs Cats three ways.

1. **Head only**, on cached features: the frozen EfficientNet-Lite0 turns every image into a
   1280-number feature vector *once* (each image and its mirror image, averaged); a linear head is
   trained on those vectors. Timed from reading the images to the last validation score —
   feature extraction included — for the ≤ 5 minute claim.
2. **Fine-tuning**: the whole network, starting from the pretrained weights and the head of (1),
   trained end to end on augmented images with a 10× smaller learning rate for the backbone.
3. **Scratch**: the same network from random weights, the same epochs and images as (2).

When torchvision's ImageNet ResNet-18 weights can be had (torch's cache, the course mirror or a
download, checksum checked), the head-only run is repeated on them; offline it is skipped with
the reason in the table.
"""

from __future__ import annotations

import time

import torch
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from e2edl.atomic import atomic_write
from e2edl.course.claims import Claim
from e2edl.course.lesson import Lesson, RunConfig
from e2edl.data import TensorLoader
from e2edl.data.pets_images import eval_transform
from e2edl.data.pets_split import Pets
from e2edl.figures import Table, mistakes_figure, plot_history
from e2edl.nn.pretrained import (
    IMAGENET_NORMALIZE,
    LITE0_NORMALIZE,
    Lite0Features,
    ResNet18Features,
    TransferNet,
    WeightsUnavailable,
    imagenet_resnet18_state_dict,
)
from e2edl.train import fit, seed_everything
from e2edl.train.device import cpu_bf16_pays
from e2edl.train.features import extract_features

STORED = 180  # the mirror's images are 180×180: decode them at full size
FEATURE_SIZE = 180  # head-only: features of the whole 180-px image (and its mirror image)
TUNE_SIZE = 128  # fine-tuning and scratch train at 128 px: a CPU budget (see the lesson)
HEAD = {"epochs": 30, "batch": 256, "lr": 1e-3, "weight_decay": 1e-2}
TUNE = {"batch": 64, "lr": 1e-3, "backbone_lr_factor": 0.1, "weight_decay": 1e-2, "label_smoothing": 0.1}
TUNE_EPOCHS = {"full": 1, "quick": 1}
QUICK_SUBSET = {"train_subset": 600, "val_subset": 400}


def accuracy_metric() -> dict:
    return {"accuracy": MulticlassAccuracy(num_classes=2, average="micro")}


def train_head(features_train, y_train, features_val, y_val, cfg: RunConfig, name: str):
    """A linear head (D → 2) on fixed features, with AdamW and a cosine schedule; (head, history)."""
    seed_everything(cfg.seed)
    head = nn.Linear(features_train.shape[1], 2)
    loader = TensorLoader(features_train, y_train, batch_size=HEAD["batch"], shuffle=True, seed=cfg.seed)
    optimizer = torch.optim.AdamW(head.parameters(), lr=HEAD["lr"], weight_decay=HEAD["weight_decay"])
    epochs = HEAD["epochs"]
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * len(loader))
    history = fit(
        head, loader, epochs=epochs, loss_fn=nn.CrossEntropyLoss(), optimizer=optimizer,
        scheduler=scheduler, scheduler_interval="step",
        val_loader=TensorLoader(features_val, y_val, batch_size=1000), metrics=accuracy_metric(),
        **(cfg.fit_options(name) | {"device": "cpu", "progress": False}),
    )  # fmt: skip
    return head, history


def head_only(data: Pets, backbone: nn.Module, normalize, cfg: RunConfig, name: str) -> dict:
    """Extract features once, train the head on them; seconds counted from the start of loading."""
    start = time.perf_counter()
    transform = eval_transform(FEATURE_SIZE, mean=normalize[0], std=normalize[1])
    amp = cpu_bf16_pays(cfg.device)

    def features_of(idx):
        return extract_features(
            backbone, data.images[idx], transform, amp=amp, mirror_average=True, progress=cfg.progress
        )

    features_train, features_val = features_of(data.train_idx), features_of(data.val_idx)
    features_seconds = time.perf_counter() - start
    head, history = train_head(
        features_train, data.labels[data.train_idx], features_val, data.y_val, cfg, name
    )
    with atomic_write(cfg.out / f"{name}-features.pt") as f:  # for the notebook's later cells
        torch.save({"train": features_train, "val": features_val, "val_labels": data.y_val}, f)
    logits = head(features_val).detach()
    return {
        "head": head,
        "history": history,
        "val_logits": logits,
        "val_accuracy": history.last["val_accuracy"],
        "features_seconds": features_seconds,
        "seconds": time.perf_counter() - start + data.load_seconds,
    }


def train_whole(data: Pets, model: TransferNet, cfg: RunConfig, epochs: int, name: str, backbone_lr: float):
    """Train backbone and head together on augmented 128-px images; returns the history."""
    seed_everything(cfg.seed)
    model = model.to(memory_format=torch.channels_last)
    loader = data.train_loader(TUNE["batch"], TUNE_SIZE, seed=cfg.seed, normalize=LITE0_NORMALIZE)
    optimizer = torch.optim.AdamW(
        [
            {"params": model.backbone.parameters(), "lr": backbone_lr},
            {"params": model.head.parameters(), "lr": TUNE["lr"]},
        ],
        weight_decay=TUNE["weight_decay"],
    )
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=[backbone_lr, TUNE["lr"]], total_steps=epochs * len(loader), pct_start=0.15
    )
    return fit(
        model, loader, epochs=epochs, loss_fn=nn.CrossEntropyLoss(label_smoothing=TUNE["label_smoothing"]),
        optimizer=optimizer, scheduler=scheduler, scheduler_interval="step",
        val_loader=data.val_loader(TUNE_SIZE, normalize=LITE0_NORMALIZE), metrics=accuracy_metric(),
        amp=cpu_bf16_pays(cfg.device), **cfg.fit_options(name),
    )  # fmt: skip


def count_trainable(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def run(cfg: RunConfig) -> dict:
    start = time.perf_counter()
    data = Pets.load(STORED, **(QUICK_SUBSET if cfg.quick else {}), progress=cfg.progress)
    epochs = cfg.epochs or TUNE_EPOCHS[cfg.mode]
    rows = []

    # 1. Head only, on cached EfficientNet-Lite0 features
    lite0 = Lite0Features(pretrained=True)
    frozen = head_only(data, lite0, LITE0_NORMALIZE, cfg, "lite0-head")
    feature_input = f"{FEATURE_SIZE} px + mirror"
    rows.append({"approach": "head only (frozen backbone, cached features)", "backbone": "EfficientNet-Lite0",
                 "parameters": f"{1280 * 2 + 2:,}", "input": feature_input, "epochs": HEAD["epochs"],
                 "val_accuracy": frozen["val_accuracy"], "seconds": frozen["seconds"]})  # fmt: skip

    # 1b. The same with torchvision's ImageNet ResNet-18, when its weights can be had
    try:
        resnet = ResNet18Features(imagenet_resnet18_state_dict())
        frozen_resnet = head_only(data, resnet, IMAGENET_NORMALIZE, cfg, "resnet18-head")
        rows.append({"approach": "head only (frozen backbone, cached features)", "backbone": "ResNet-18 (torchvision)",
                     "parameters": f"{512 * 2 + 2:,}", "input": feature_input, "epochs": HEAD["epochs"],
                     "val_accuracy": frozen_resnet["val_accuracy"], "seconds": frozen_resnet["seconds"]})  # fmt: skip
    except WeightsUnavailable as error:
        rows.append({"approach": "head only", "backbone": "ResNet-18 (torchvision)",
                     "note": f"skipped: {str(error).split(':')[0]} here"})  # fmt: skip

    # 2. Fine-tuning the whole network from the pretrained weights and the trained head
    model = TransferNet(Lite0Features(pretrained=True), num_classes=2)
    model.head.load_state_dict(frozen["head"].state_dict())
    tuned = train_whole(
        data, model, cfg, epochs, "lite0-finetune", backbone_lr=TUNE["lr"] * TUNE["backbone_lr_factor"]
    )
    rows.append({"approach": "fine-tune everything (backbone lr ÷ 10)", "backbone": "EfficientNet-Lite0",
                 "parameters": f"{count_trainable(model):,}", "input": f"{TUNE_SIZE} px, augmented",
                 "epochs": epochs, "val_accuracy": tuned.last["val_accuracy"], "seconds": tuned.last["elapsed"]})  # fmt: skip

    # 3. The same network and budget from random weights
    scratch_model = TransferNet(Lite0Features(pretrained=False), num_classes=2)
    scratch = train_whole(data, scratch_model, cfg, epochs, "lite0-scratch", backbone_lr=TUNE["lr"])
    rows.append({"approach": "from scratch (random weights)", "backbone": "EfficientNet-Lite0",
                 "parameters": f"{count_trainable(scratch_model):,}", "input": f"{TUNE_SIZE} px, augmented",
                 "epochs": epochs, "val_accuracy": scratch.last["val_accuracy"], "seconds": scratch.last["elapsed"]})  # fmt: skip
    for row in rows:
        row.setdefault("val_accuracy", row.pop("note", None))
    comparison = Table(rows, formats={"val_accuracy": ".4f", "seconds": ".0f"})

    metrics = {
        "head_only_val_accuracy": frozen["val_accuracy"],
        "head_only_seconds": frozen["seconds"],
        "feature_seconds": frozen["features_seconds"],
        "finetune_val_accuracy": tuned.last["val_accuracy"],
        "scratch_val_accuracy": scratch.last["val_accuracy"],
        "pretraining_gain": tuned.last["val_accuracy"] - scratch.last["val_accuracy"],
        "load_seconds": data.load_seconds,
        "train_images": len(data.train_idx),
        "val_images": len(data.val_idx),
        "total_seconds": time.perf_counter() - start,
    }
    figures = {
        "head_curves.png": plot_history(
            frozen["history"].records, ["train_loss", "val_loss"], "loss", "Head only, on cached features"
        ),  # fmt: skip
        "mistakes.png": mistakes_figure(
            data.images[data.val_idx], data.y_val, frozen["val_logits"], data.class_names
        ),
    }
    return {"metrics": metrics, "figures": figures, "tables": {"comparison": comparison}}


LESSON = Lesson(
    name="transfer-learning",
    title="Transfer learning: a pretrained backbone, its head, fine-tuning",
    datasets=("pets",),
    claims=(
        Claim("head_only_val_accuracy", ">=", 0.97, 0.98, "frozen pretrained backbone, head only"),
        Claim(
            "head_only_seconds",
            "<=",
            None,
            300,
            "head only: wall time incl. loading and feature extraction",
            kind="timing",
        ),
        Claim("pretraining_gain", ">=", 0.15, 0.15, "fine-tuned minus from-scratch accuracy, same budget"),
    ),
    run=run,
)
