"""Saving figures the same way everywhere: tight bounds, PNG, an atomic write."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib.pyplot as plt  # with no screen (CLI, CI) matplotlib falls back to Agg by itself

from e2edl.atomic import atomic_write


def save_figure(fig: plt.Figure, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Write ``fig`` as PNG to ``path`` (temp file, then rename) and close it. Returns the path."""
    path = Path(path)
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return path


def image_grid(
    images, titles=None, ncols: int = 10, title: str | None = None, cmap: str = "gray"
) -> plt.Figure:
    """A grid of images, each with an optional small title.

    Gray images are (N, H, W) or (N, 1, H, W); colour images are (N, 3, H, W) uint8 RGB tensors.
    """
    images = [img.squeeze() for img in images]
    images = [img.permute(1, 2, 0) if img.ndim == 3 and img.shape[0] == 3 else img for img in images]
    images = [img.detach().cpu().numpy() if hasattr(img, "detach") else img for img in images]
    nrows = -(-len(images) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * 0.9, nrows * 1.05), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(images):
            ax.imshow(images[i], cmap=cmap)
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_history(records: list[dict], keys: list[str], ylabel: str = "", title: str = "") -> plt.Figure:
    """One line per metric key over epochs, from ``fit``'s history records."""
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for key in keys:
        points = [(r["epoch"], r[key]) for r in records if key in r]
        ax.plot(*zip(*points), marker="o", ms=3, label=key)
    ax.set(xlabel="epoch", ylabel=ylabel, title=title)
    ax.legend(fontsize=8)
    return fig


def plot_confusion(
    matrix, classes, title: str = "Confusion matrix (rows: true, columns: predicted)"
) -> plt.Figure:
    """A counts matrix (C, C) as a heat map with the count written in each off-diagonal cell."""
    matrix = matrix.cpu().numpy() if hasattr(matrix, "cpu") else matrix
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.imshow(matrix, cmap="Blues")
    ax.set(
        xticks=range(len(classes)),
        yticks=range(len(classes)),
        xticklabels=classes,
        yticklabels=classes,
        xlabel="predicted",
        ylabel="true",
        title=title,
    )
    for i in range(len(classes)):
        for j in range(len(classes)):
            if matrix[i, j]:
                ax.text(
                    j,
                    i,
                    int(matrix[i, j]),
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="white" if i == j else "black",
                )
    return fig


def show_saved(*paths: str | os.PathLike, width: float = 6.0) -> None:
    """Display PNG files a run saved (works in a notebook and, with a screen, in a script)."""
    for path in paths:
        image = plt.imread(path)
        height, pixels_wide = image.shape[:2]
        fig, ax = plt.subplots(figsize=(width, width * height / pixels_wide))
        ax.imshow(image)
        ax.axis("off")
        plt.show()
