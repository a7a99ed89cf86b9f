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
