"""IMDb Large Movie Review Dataset: review texts with binary sentiment labels."""

from __future__ import annotations

import os
from pathlib import Path

from e2edl.data.errors import DataUnavailable
from e2edl.data.fetch import EXTRACTED, fetch

CLASS_NAMES = ["neg", "pos"]  # label 0 = negative (rating <= 4), 1 = positive (rating >= 7)


def load_imdb(
    split: str = "train", *, mirror: str | os.PathLike | None = None, home: str | os.PathLike | None = None
) -> tuple[list[str], list[int]]:
    """``(texts, labels)`` of ``split`` ("train" or "test", 25,000 each, half positive).

    Reads ``aclImdb/<split>/{neg,pos}/<id>_<rating>.txt`` from the extracted archive; the order is
    all negatives then all positives, each by review id.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    root = fetch("imdb", mirror=mirror, home=home) / EXTRACTED / "aclImdb" / split
    texts: list[str] = []
    labels: list[int] = []
    for label, cls in enumerate(CLASS_NAMES):
        for path in _reviews(root / cls):
            texts.append(path.read_text(encoding="utf-8"))
            labels.append(label)
    return texts, labels


def _reviews(folder: Path) -> list[Path]:
    """The ``<id>_<rating>.txt`` files of ``folder``, sorted by id."""
    if not folder.is_dir():
        raise DataUnavailable(
            f"{folder} is missing from the extracted IMDb archive; delete {folder.parents[2]} and run `e2edl data fetch imdb`"
        )
    return sorted(folder.glob("*.txt"), key=_review_id)


def _review_id(path: Path) -> tuple[int, str]:
    head = path.stem.split("_")[0]
    return (int(head) if head.isdigit() else -1, path.name)
