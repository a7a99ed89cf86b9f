"""What a lesson shows: figures saved the same way everywhere (tight bounds, PNG, an atomic write),
the few plots every lesson uses, and ``Table``, the one way a result table is written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
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


def format_number(value, spec: str | None = None) -> str:
    """``0.98765 → "0.9877"``, ``1234567.0 → "1.235e+06"``, ints and text as they are."""
    if spec is not None and isinstance(value, (int, float)):
        return format(value, spec)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


@dataclass
class Table:
    """Rows with the same keys: what an experiment returns, the runner writes (``NAME.md`` and in
    ``result.json``) and a notebook displays — Jupyter renders it as a table, ``print`` as Markdown.

    >>> print(Table([{"variant": "a", "accuracy": 0.98765}], formats={"accuracy": ".3f"}))
    | variant | accuracy |
    |---|---|
    | a | 0.988 |
    """

    rows: list[dict]
    title: str = ""
    formats: dict[str, str] = field(default_factory=dict)  # column → format spec, e.g. ".1f"

    @property
    def columns(self) -> list[str]:
        columns: dict[str, None] = {}
        for row in self.rows:
            columns.update(dict.fromkeys(row))
        return list(columns)

    def column(self, name: str) -> list:
        return [row.get(name) for row in self.rows]

    def to_markdown(self) -> str:
        columns = self.columns
        lines = [f"**{self.title}**", ""] if self.title else []
        lines += ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        for row in self.rows:
            cells = [format_number(row[c], self.formats.get(c)) if c in row else "" for c in columns]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    __str__ = to_markdown

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def to_dict(self) -> dict:
        return {"title": self.title, "formats": self.formats, "rows": self.rows}

    @classmethod
    def from_dict(cls, data: dict) -> Table:
        return cls(
            rows=list(data["rows"]), title=data.get("title", ""), formats=dict(data.get("formats", {}))
        )


def show(*figures: plt.Figure) -> None:
    """Display figures in a notebook (they stay displayable after ``save_figure`` closed them);
    outside a notebook, do nothing — a script run of a lesson writes its figures to files."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return
    if get_ipython() is not None:
        for fig in figures:
            display(fig)


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


def confusion_figure(predictions, labels, classes) -> plt.Figure:
    """The confusion matrix of predicted vs true class indices (both (N,) integer tensors)."""
    import torch

    n = len(classes)
    matrix = torch.zeros(n, n, dtype=torch.int64)
    matrix.index_put_((labels, predictions), torch.ones_like(labels), accumulate=True)
    return plot_confusion(matrix, classes)


def mistakes_figure(images, labels, logits, class_names, n: int = 24, title: str = "", ncols: int = 10):
    """The ``n`` examples the model got wrong with the most confidence, titled ``true→predicted (p)``.

    ``images`` (N, H, W) or (N, C, H, W) and ``labels`` (N,) are in the order of ``logits`` (N, classes).
    """
    probabilities = logits.softmax(1)
    confidence, predictions = probabilities.max(1)
    wrong = (predictions != labels).nonzero().squeeze(1)
    worst = wrong[confidence[wrong].argsort(descending=True)[:n]].tolist()
    titles = [f"{class_names[labels[i]]}→{class_names[predictions[i]]} {confidence[i]:.2f}" for i in worst]
    title = title or f"{len(wrong)} of {len(labels)} wrong; the most confident mistakes (true→predicted)"
    return image_grid(images[worst], titles, ncols=min(ncols, max(len(worst), 1)), title=title)
