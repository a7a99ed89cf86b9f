"""Lesson 09's experiment: Vision Transformers from scratch on MNIST and on Dogs vs Cats.

Four measured parts, all trained with ``fit``, AdamW, a linear warm-up then cosine decay of the
learning rate, and label smoothing 0.1:

- **MNIST**: a ViT with 7×7 patches (16 tokens + CLS), D 64, 6 blocks, on the 60,000 training
  digits with random shifts of up to 1 pixel, 16 epochs; test accuracy and wall time. (4×4
  patches, 4 blocks, 5 epochs cost as much and reached only 96.5%.)
- **Dogs vs Cats** from scratch: 64×64 photos as an 8×8 grid of tokens built by a small
  convolutional stem (``ViTConfig.stem="conv"``; a plain patch ViT learns too slowly on 8,000
  photos), D 96, 6 blocks, random resized crops and flips (``train_transform``), 16 epochs,
  validated on a stratified 20% split.
- **LayerNorm vs BatchNorm**: a small ViT (7×7 patches, 4 blocks) trained with each on the same data and
  budget, then evaluated the ways a deployed model is used — eval mode, batch statistics, a
  batch of one.
- **Attention vs convolution**: lesson 04's CNN and the small ViT trained on 1,000 and on 10,000
  digits with the same optimizer and the same number of steps: the data-efficiency price of the
  weaker inductive bias.

Quick mode keeps every part but trains less: the small ViT for one MNIST epoch, pets at 32×32
(16 tokens) for three epochs, and smaller comparisons.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from e2edl.course.claims import Claim
from e2edl.course.lesson import Lesson, RunConfig
from e2edl.data import TensorLoader, load_pets_tensors, stratified_split
from e2edl.data.batch_transforms import BatchCompose, BatchNormalize, RandomShift
from e2edl.data.mnist import MNIST
from e2edl.data.pets_images import eval_transform, train_transform
from e2edl.figures import Table, plot_history
from e2edl.nn.cnn import MnistCNN
from e2edl.nn.vit import ViT, ViTConfig, cls_rollout, position_similarity
from e2edl.train import fit, seed_everything
from e2edl.train.param_groups import weight_decay_groups
from e2edl.train.schedules import warmup_cosine

MNIST_VIT = ViTConfig(image_size=28, patch_size=7, in_channels=1, num_classes=10, dim=64, depth=6,
                      n_heads=4, mlp_ratio=2.0)  # fmt: skip
# Quick mode and the two comparisons (which train several models each): two blocks fewer.
SMALL_VIT = ViTConfig(image_size=28, patch_size=7, in_channels=1, num_classes=10, dim=64, depth=4,
                      n_heads=4, mlp_ratio=2.0)  # fmt: skip
MNIST_VIT_QUICK = SMALL_VIT
PETS_VIT = ViTConfig(image_size=64, patch_size=8, in_channels=3, num_classes=2, dim=96, depth=6,
                     n_heads=4, mlp_ratio=2.0, stem="conv")  # fmt: skip
PETS_VIT_QUICK = ViTConfig(image_size=32, patch_size=8, in_channels=3, num_classes=2, dim=64, depth=4,
                           n_heads=4, mlp_ratio=2.0, stem="conv")  # fmt: skip

# Recipes: (epochs, batch size, peak learning rate, weight decay), found by measuring on 2 CPU cores.
MNIST_RECIPE = {"full": (16, 256, 2e-3, 0.05), "quick": (1, 128, 2e-3, 0.05)}
PETS_RECIPE = {"full": (16, 128, 1e-3, 0.05), "quick": (3, 128, 1e-3, 0.05)}
PETS_VAL_FRACTION = 0.2
LABEL_SMOOTHING = 0.1


def train(
    model: nn.Module,
    loader,
    val_loader,
    cfg: RunConfig,
    name: str,
    epochs: int,
    lr: float,
    weight_decay: float,
    num_classes: int,
    warmup_fraction: float = 0.1,
):
    """AdamW + warm-up/cosine + label smoothing, through ``fit``; returns the history."""
    optimizer = torch.optim.AdamW(weight_decay_groups(model, weight_decay), lr=lr)
    total = epochs * len(loader)
    return fit(
        model,
        loader,
        epochs=epochs,
        loss_fn=nn.CrossEntropyLoss(label_smoothing=LABEL_SMOOTHING),
        optimizer=optimizer,
        scheduler=warmup_cosine(optimizer, max(1, int(warmup_fraction * total)), total),
        scheduler_interval="step",
        val_loader=val_loader,
        metrics={"accuracy": MulticlassAccuracy(num_classes=num_classes, average="micro")},
        **cfg.fit_options(name),
    )


# ------------------------------------------------------------------------------------------ MNIST


def mnist_loader(
    x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int, shift: int = 1
) -> TensorLoader:
    transforms = [BatchNormalize()] + ([RandomShift(shift)] if shift else [])
    return TensorLoader(x, y, batch_size=batch_size, shuffle=True, seed=seed, drop_last=True,
                        transform=BatchCompose(*transforms))  # fmt: skip


def train_mnist_vit(data: MNIST, cfg: RunConfig, name: str, vit: ViTConfig, epochs: int,
                    train_size: int | None = None, validate: bool = True):  # fmt: skip
    """A ViT on the first ``train_size`` training digits; returns (model, history).

    ``validate=False`` skips the test-set evaluation after each epoch (the comparisons measure
    once, at the end).
    """
    _, batch, lr, wd = MNIST_RECIPE[cfg.mode]
    seed_everything(cfg.seed)
    model = ViT(vit)
    loader = mnist_loader(data.x_train[:train_size], data.y_train[:train_size], batch, cfg.seed)
    val_loader = data.test_loader() if validate else None
    return model, train(model, loader, val_loader, cfg, name, epochs, lr, wd, num_classes=10)


def positions_figure(model: ViT, title: str) -> plt.Figure:
    """For each patch, the cosine similarity of its learned position vector to every other patch's."""
    grid = model.cfg.grid
    similarity = position_similarity(model.pos_embed.detach(), grid)  # (g, g, g, g)
    fig, axes = plt.subplots(grid, grid, figsize=(0.75 * grid, 0.75 * grid))
    for i in range(grid):
        for j in range(grid):
            axes[i, j].imshow(similarity[i, j], cmap="viridis")  # each map on its own colour scale
            axes[i, j].axis("off")
    fig.suptitle(title, fontsize=10)
    return fig


# ---------------------------------------------------------------------------- LayerNorm vs BatchNorm


@torch.no_grad()
def accuracy_with_batch_statistics(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int
) -> float:
    """Accuracy when BatchNorm normalises with each test batch's own statistics (train mode,
    gradients off, running averages restored afterwards) — what a model forgotten in train mode does."""
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    correct = sum((model(x[i : i + batch_size]).argmax(1) == y[i : i + batch_size]).sum().item()
                  for i in range(0, len(x), batch_size))  # fmt: skip
    model.load_state_dict(saved)
    model.eval()
    return correct / len(x)


def norm_comparison(data: MNIST, cfg: RunConfig, train_size: int, epochs: int) -> list[dict]:
    """The MNIST ViT with LayerNorm and with BatchNorm, same data and budget, four ways of testing."""
    test = data.test_loader()
    x_test = torch.cat([x for x, _ in test])
    few = slice(0, 500)  # batch-of-one evaluation is slow: 500 test digits
    rows = []
    for norm in ("layer", "batch"):
        vit = ViTConfig(**{**SMALL_VIT.__dict__, "norm": norm})
        model, history = train_mnist_vit(data, cfg, f"norm-{norm}", vit, epochs, train_size, validate=False)
        model.cpu().eval()
        rows.append({
            "norm": norm,
            "test_accuracy": eval_accuracy(model, x_test, data.y_test, 2500),
            "batch_statistics_256": accuracy_with_batch_statistics(model, x_test, data.y_test, 256),
            "batch_of_one_eval_mode": eval_accuracy(model, x_test[few], data.y_test[few], 1),
            "batch_of_one_batch_statistics": accuracy_with_batch_statistics(model, x_test[few], data.y_test[few], 1),
            "train_seconds": history.last["elapsed"],
        })  # fmt: skip
    return rows


@torch.no_grad()
def eval_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> float:
    model.eval()
    correct = sum((model(x[i : i + batch_size]).argmax(1) == y[i : i + batch_size]).sum().item()
                  for i in range(0, len(x), batch_size))  # fmt: skip
    return correct / len(x)


# -------------------------------------------------------------------------- attention vs convolution


def cnn_vs_vit(data: MNIST, cfg: RunConfig, sizes: tuple[int, ...], steps: int) -> list[dict]:
    """Lesson 04's CNN and the MNIST ViT on ``size`` training digits, each for ``steps`` steps of
    128 with the same optimizer and schedule (lr 2e-3): test accuracy for each."""
    x_test = torch.cat([x for x, _ in data.test_loader()])
    rows = []
    for size in sizes:
        epochs = max(1, round(steps * 128 / size))
        for kind in ("cnn", "vit"):
            seed_everything(cfg.seed)
            model = MnistCNN(16, 32, 128) if kind == "cnn" else ViT(SMALL_VIT)
            loader = mnist_loader(data.x_train[:size], data.y_train[:size], 128, cfg.seed)
            history = train(model, loader, None, cfg, f"compare-{kind}-{size}", epochs, 2e-3, 0.05, 10)
            rows.append({"model": kind, "train_size": size, "epochs": epochs,
                         "parameters": sum(p.numel() for p in model.parameters()),
                         "test_accuracy": eval_accuracy(model.cpu(), x_test, data.y_test, 2500),
                         "train_seconds": history.last["elapsed"]})  # fmt: skip
    return rows


# ------------------------------------------------------------------------------------------- pets


def pets_data(size: int, seed: int, progress: bool, stored_size: int = 64):
    """(train images, train labels, val images, val labels) as uint8, split 80/20 per class."""
    pets = load_pets_tensors(stored_size, progress=progress)
    images = pets.images
    if size != stored_size:  # quick mode: shrink once, antialiased
        images = nn.functional.interpolate(images.float(), size=(size, size), mode="area").round().byte()
    train_idx, val_idx = stratified_split(pets.labels, PETS_VAL_FRACTION, seed=seed)
    return images[train_idx], pets.labels[train_idx], images[val_idx], pets.labels[val_idx], pets.class_names


def train_pets_vit(cfg: RunConfig, vit: ViTConfig, train_subset: int | None = None):
    epochs, batch, lr, wd = PETS_RECIPE[cfg.mode]
    x_train, y_train, x_val, y_val, class_names = pets_data(vit.image_size, cfg.seed, cfg.progress)
    x_train, y_train = x_train[:train_subset], y_train[:train_subset]
    # The crops and flips draw from torch's global generator, which fit seeds and checkpoints.
    loader = TensorLoader(x_train, y_train, batch_size=batch, shuffle=True, seed=cfg.seed, drop_last=True,
                          transform=train_transform(vit.image_size))  # fmt: skip
    val_loader = TensorLoader(x_val, y_val, batch_size=500, transform=eval_transform(vit.image_size))
    seed_everything(cfg.seed)
    model = ViT(vit)
    history = train(model, loader, val_loader, cfg, "pets", cfg.epochs or epochs, lr, wd, num_classes=2)
    return model, history, (x_val, y_val, class_names)


def rollout_figure(
    model: ViT, images: torch.Tensor, labels: torch.Tensor, class_names: list[str]
) -> plt.Figure:
    """Validation images (uint8) with the attention rollout from CLS laid over them."""
    model = model.cpu().eval()
    x = eval_transform(model.cfg.image_size)(images)
    with torch.no_grad():
        predicted = model(x).argmax(1)
    heat = cls_rollout(model, x)  # (B, g, g)
    heat = nn.functional.interpolate(heat[:, None], size=images.shape[-2:], mode="bilinear")[:, 0]
    fig, axes = plt.subplots(2, len(images), figsize=(1.5 * len(images), 3.2))
    for i in range(len(images)):
        picture = images[i].permute(1, 2, 0).numpy()
        axes[0, i].imshow(picture)
        axes[0, i].set_title(f"{class_names[labels[i]]}→{class_names[predicted[i]]}", fontsize=7)
        axes[1, i].imshow(picture)
        axes[1, i].imshow(heat[i], cmap="inferno", alpha=0.6)
        for ax in axes[:, i]:
            ax.axis("off")
    fig.suptitle("Validation images (true→predicted) and the attention rollout from CLS", fontsize=10)
    return fig


# -------------------------------------------------------------------------------------------- run


def run(cfg: RunConfig) -> dict:
    data = MNIST.load()
    mnist_vit = MNIST_VIT_QUICK if cfg.quick else MNIST_VIT
    mnist_model, mnist = train_mnist_vit(
        data, cfg, "mnist", mnist_vit, cfg.epochs or MNIST_RECIPE[cfg.mode][0]
    )
    metrics = {
        "mnist_test_accuracy": mnist.last["val_accuracy"],
        "mnist_train_seconds": mnist.last["elapsed"],
    }
    figures = {
        "mnist_curves.png": plot_history(mnist.records, ["val_accuracy"], "test accuracy", "MNIST ViT"),
        "mnist_positions.png": positions_figure(mnist_model.cpu(), "MNIST ViT: learned position similarity"),
    }

    pets_vit = PETS_VIT_QUICK if cfg.quick else PETS_VIT
    pets_model, pets, (x_val, y_val, class_names) = train_pets_vit(cfg, pets_vit)
    metrics["pets_val_accuracy"] = pets.last["val_accuracy"]
    metrics["pets_train_seconds"] = pets.last["elapsed"]
    metrics["pets_resolution"] = pets_vit.image_size
    figures["pets_curves.png"] = plot_history(
        pets.records, ["train_loss", "val_loss"], "loss", "Dogs vs Cats ViT"
    )
    figures["pets_positions.png"] = positions_figure(
        pets_model.cpu(), "Dogs vs Cats ViT: learned position similarity"
    )
    picks = torch.cat([(y_val == c).nonzero()[:4, 0] for c in (0, 1)])
    figures["pets_rollout.png"] = rollout_figure(pets_model, x_val[picks], y_val[picks], class_names)

    norm_rows = norm_comparison(
        data, cfg, train_size=10_000 if cfg.quick else 20_000, epochs=1 if cfg.quick else 3
    )
    sizes = (1_000,) if cfg.quick else (1_000, 10_000)
    compare_rows = cnn_vs_vit(data, cfg, sizes, steps=60 if cfg.quick else 600)
    return {
        "metrics": metrics,
        "figures": figures,
        "tables": {
            "norms": Table(norm_rows, formats={k: ".4f" for k in norm_rows[0] if k != "norm"}),
            "cnn_vs_vit": Table(compare_rows, formats={"test_accuracy": ".4f"}),
        },
    }


LESSON = Lesson(
    name="vit",
    title="Vision Transformers from scratch",
    datasets=("mnist", "pets"),
    claims=(
        Claim("mnist_test_accuracy", ">=", 0.75, 0.985, "MNIST ViT: test accuracy"),
        Claim(
            "pets_val_accuracy",
            ">=",
            0.58,
            0.70,
            "Dogs vs Cats ViT from scratch: validation accuracy (target 0.75)",
        ),  # fmt: skip
    ),
    run=run,
)
