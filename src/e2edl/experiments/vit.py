"""The vit lesson's experiment: Vision Transformers from scratch on MNIST and on Dogs vs Cats.

Four measured parts, each trained with the recipe of ``e2edl.recipes.vit`` (AdamW, warm-up then
cosine decay, label smoothing 0.1):

- **MNIST**: the ViT of ``MNIST_RECIPE`` on the 55,000 training digits, validated after each
  epoch on the 5,000 held out; the test set is scored once, at the end. The notebook trains this
  model in the open (same recipe, seed and folder), and the run reuses it.
- **Dogs vs Cats** from scratch: ``PETS_RECIPE`` on the shared stratified split (``Pets``).
- **LayerNorm vs BatchNorm**: the 4-block MNIST ViT trained with each on the same digits, then
  scored on the validation digits the ways a deployed model is called — eval mode, batch
  statistics, a batch of one.
- **Attention vs convolution**: the mnist-cnn lesson's CNN and the 4-block ViT, trained on 1,000
  and 10,000 digits with the same optimiser and number of steps, scored on the validation digits.

Quick mode trains each part less (the recipes named ``*_QUICK_RECIPE``, fewer digits and steps).
"""

from __future__ import annotations

from dataclasses import replace

import matplotlib.pyplot as plt
import torch
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from e2edl.course.claims import Claim
from e2edl.course.lesson import Lesson, RunConfig
from e2edl.data.mnist import MNIST
from e2edl.data.pets_images import eval_transform
from e2edl.data.pets_split import Pets
from e2edl.figures import Table, plot_history
from e2edl.nn.cnn import MnistCNN
from e2edl.nn.vit import ViT, cls_rollout, position_similarity
from e2edl.recipes.vit import (
    MNIST_QUICK_RECIPE,
    MNIST_RECIPE,
    MNIST_VIT_4_BLOCKS,
    PETS_QUICK_RECIPE,
    PETS_RECIPE,
    fit_classifier,
    train_vit,
)
from e2edl.train.fit import evaluate
from e2edl.train.seeding import seed_everything

PETS_STORED = 64  # the photos are decoded once at 64×64; quick mode resizes them to 32 on the fly


def positions_figure(model: ViT, title: str) -> plt.Figure:
    """For each patch, the cosine similarity of its learned position vector to every other patch's."""
    grid = model.cfg.grid
    similarity = position_similarity(model.pos_embed.detach().cpu(), grid)  # (g, g, g, g)
    fig, axes = plt.subplots(grid, grid, figsize=(0.75 * grid, 0.75 * grid))
    for i in range(grid):
        for j in range(grid):
            axes[i, j].imshow(similarity[i, j], cmap="viridis")  # each map on its own colour scale
            axes[i, j].axis("off")
    fig.suptitle(title, fontsize=10)
    return fig


@torch.no_grad()
def accuracy(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int, batch_statistics=False
) -> float:
    """Accuracy on normalised images ``x``; with ``batch_statistics`` BatchNorm normalises with each
    batch's own statistics (train mode, gradients off, running averages restored afterwards) —
    what a model forgotten in train mode does."""
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    model.train(batch_statistics)
    correct = sum((model(x[i : i + batch_size]).argmax(1) == y[i : i + batch_size]).sum().item()
                  for i in range(0, len(x), batch_size))  # fmt: skip
    model.load_state_dict(saved)
    model.eval()
    return correct / len(x)


def norm_comparison(data: MNIST, cfg: RunConfig, train_size: int, epochs: int) -> list[dict]:
    """The 4-block MNIST ViT with LayerNorm and with BatchNorm, same digits and budget, scored on
    the validation digits four ways (one image at a time: the first 500 only, it is slow)."""
    x_val = torch.cat([x for x, _ in data.val_loader()])
    y_val, few = data.y_val, slice(0, 500)
    subset = replace(data, x_train=data.x_train[:train_size], y_train=data.y_train[:train_size])
    rows = []
    for norm in ("layer", "batch"):
        recipe = replace(MNIST_QUICK_RECIPE, model=replace(MNIST_VIT_4_BLOCKS, norm=norm), epochs=epochs)
        model, history = train_vit(subset, recipe, **cfg.fit_options(f"norm-{norm}") | {"progress": False})
        model.cpu().eval()
        rows.append({
            "norm": norm,
            "eval_mode": accuracy(model, x_val, y_val, 2500),
            "batch_statistics_256": accuracy(model, x_val, y_val, 256, batch_statistics=True),
            "one_image_eval_mode": accuracy(model, x_val[few], y_val[few], 1),
            "one_image_batch_statistics": accuracy(model, x_val[few], y_val[few], 1, batch_statistics=True),
            "train_seconds": history.last["elapsed"],
        })  # fmt: skip
    return rows


def cnn_vs_vit(data: MNIST, cfg: RunConfig, sizes: tuple[int, ...], steps: int) -> list[dict]:
    """The mnist-cnn lesson's CNN and the 4-block ViT on ``size`` training digits, each for about
    ``steps`` steps of 128 with the same optimiser, schedule and loss: validation accuracy."""
    x_val = torch.cat([x for x, _ in data.val_loader()])
    rows = []
    for size in sizes:
        epochs = max(1, round(steps * 128 / size))
        subset = replace(data, x_train=data.x_train[:size], y_train=data.y_train[:size])
        recipe = replace(MNIST_QUICK_RECIPE, epochs=epochs)
        for kind in ("cnn", "vit"):
            seed_everything(cfg.seed)
            model = MnistCNN(16, 32, 128) if kind == "cnn" else ViT(recipe.model)
            loader = subset.train_loader(recipe.batch_size, seed=cfg.seed, shift=recipe.shift)
            options = cfg.fit_options(f"compare-{kind}-{size}") | {"progress": False}
            history = fit_classifier(model, loader, None, recipe, **options)
            rows.append({"model": kind, "train_digits": size, "epochs": epochs,
                         "parameters": sum(p.numel() for p in model.parameters()),
                         "val_accuracy": accuracy(model.cpu(), x_val, data.y_val, 2500),
                         "train_seconds": history.last["elapsed"]})  # fmt: skip
    return rows


def rollout_figure(model: ViT, data: Pets, per_class: int = 4) -> plt.Figure:
    """Validation photos (titles: true→predicted) with the attention rollout from CLS laid over them."""
    picks = torch.cat([data.val_idx[data.y_val == c][:per_class] for c in (0, 1)])
    images, labels = data.images[picks], data.labels[picks]  # (n, 3, S, S) uint8
    model = model.cpu().eval()
    x = eval_transform(model.cfg.image_size)(images)
    with torch.no_grad():
        predicted = model(x).argmax(1)
    heat = cls_rollout(model, x)  # (n, g, g)
    heat = nn.functional.interpolate(heat[:, None], size=images.shape[-2:], mode="bilinear")[:, 0]
    fig, axes = plt.subplots(2, len(images), figsize=(1.5 * len(images), 3.2))
    for i in range(len(images)):
        picture = images[i].permute(1, 2, 0).numpy()
        axes[0, i].imshow(picture)
        axes[0, i].set_title(f"{data.class_names[labels[i]]}→{data.class_names[predicted[i]]}", fontsize=7)
        axes[1, i].imshow(picture)
        axes[1, i].imshow(heat[i], cmap="inferno", alpha=0.6)
        for ax in axes[:, i]:
            ax.axis("off")
    fig.suptitle("Validation photos (true→predicted) and the attention rollout from CLS", fontsize=10)
    return fig


def run(cfg: RunConfig) -> dict:
    data = MNIST.load()
    recipe = MNIST_QUICK_RECIPE if cfg.quick else MNIST_RECIPE
    if cfg.epochs:
        recipe = replace(recipe, epochs=cfg.epochs)
    mnist_model, mnist = train_vit(data, recipe, **cfg.fit_options("mnist"))
    test = evaluate(
        mnist_model, data.test_loader(), metrics={"accuracy": MulticlassAccuracy(10, average="micro")}
    )
    metrics = {
        "mnist_val_accuracy": mnist.last["val_accuracy"],
        "mnist_test_accuracy": test["accuracy"],  # the test set, scored once
        "mnist_train_seconds": mnist.last["elapsed"],
    }
    figures = {
        "mnist_curves": plot_history(mnist.records, ["val_accuracy"], "validation accuracy", "MNIST ViT"),
        "mnist_positions": positions_figure(mnist_model, "MNIST ViT: learned position similarity"),
    }

    pets_recipe = PETS_QUICK_RECIPE if cfg.quick else PETS_RECIPE
    if cfg.epochs:
        pets_recipe = replace(pets_recipe, epochs=cfg.epochs)
    pets_data = Pets.load(PETS_STORED, progress=cfg.progress)
    pets_model, pets = train_vit(pets_data, pets_recipe, **cfg.fit_options("pets"))
    metrics["pets_val_accuracy"] = pets.last["val_accuracy"]
    metrics["pets_train_seconds"] = pets.last["elapsed"]
    metrics["pets_resolution"] = pets_recipe.model.image_size
    figures["pets_curves"] = plot_history(
        pets.records, ["train_loss", "val_loss"], "loss", "Dogs vs Cats ViT"
    )
    figures["pets_positions"] = positions_figure(pets_model, "Dogs vs Cats ViT: learned position similarity")
    figures["pets_rollout"] = rollout_figure(pets_model, pets_data)

    norm_rows = norm_comparison(
        data, cfg, train_size=10_000 if cfg.quick else 20_000, epochs=1 if cfg.quick else 3
    )
    sizes = (1_000,) if cfg.quick else (1_000, 10_000)
    compare_rows = cnn_vs_vit(data, cfg, sizes, steps=60 if cfg.quick else 600)
    accuracy_of = {(row["model"], row["train_digits"]): row["val_accuracy"] for row in compare_rows}
    for size in sizes:  # what the convolution's assumptions are worth, with this many digits
        metrics[f"cnn_minus_vit_{size}"] = accuracy_of["cnn", size] - accuracy_of["vit", size]
    if len(sizes) > 1:
        metrics["gap_narrowing"] = (
            metrics[f"cnn_minus_vit_{sizes[0]}"] - metrics[f"cnn_minus_vit_{sizes[-1]}"]
        )
    for row in norm_rows:  # what one image at a time costs when the statistics come from the batch
        metrics[f"{row['norm']}norm_one_image_drop"] = (
            row["one_image_eval_mode"] - row["one_image_batch_statistics"]
        )
    return {
        "metrics": metrics,
        "figures": figures,
        "tables": {
            "norms": Table(norm_rows, title="LayerNorm vs BatchNorm: validation accuracy, four ways of calling the model",
                           formats={k: ".4f" for k in norm_rows[0] if k != "norm"} | {"train_seconds": ".0f"}),
            "cnn_vs_vit": Table(compare_rows, title="Attention vs convolution on few digits: validation accuracy",
                                formats={"val_accuracy": ".4f", "train_seconds": ".0f", "parameters": ","}),
        },
    }  # fmt: skip


LESSON = Lesson(
    name="vit",
    title="Vision Transformers from scratch",
    datasets=("mnist", "pets"),
    claims=(
        Claim("mnist_test_accuracy", ">=", 0.78, 0.985, "MNIST ViT: test accuracy, measured once at the end"),
        Claim("pets_val_accuracy", ">=", 0.58, 0.70, "Dogs vs Cats ViT from scratch: validation accuracy"),
        Claim("batchnorm_one_image_drop", ">=", 0.1, 0.2,
              "BatchNorm left in train mode, one image at a time: accuracy falls"),
        Claim("cnn_minus_vit_1000", ">=", 0.2, 0.04, "on 1,000 digits the CNN beats the ViT, same steps"),
        Claim("gap_narrowing", ">", None, 0.0, "the CNN's lead shrinks from 1,000 to 10,000 digits"),
    ),
    run=run,
)  # fmt: skip
