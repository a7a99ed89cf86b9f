"""Dogs vs Cats (Microsoft PetImages): the image files and their labels, not decoded."""

from __future__ import annotations

import os
from pathlib import Path

from e2edl.data.errors import DataUnavailable
from e2edl.data.fetch import EXTRACTED, fetch

CLASS_NAMES = ["cat", "dog"]
_FOLDERS = {"cat": "Cat", "dog": "Dog"}


def load_pets(
    *, mirror: str | os.PathLike | None = None, home: str | os.PathLike | None = None
) -> tuple[list[Path], list[int], list[str]]:
    """``(paths, labels, class_names)``: every ``PetImages/{Cat,Dog}/*.jpg``, label 0 = cat, 1 = dog.

    Files are listed, not decoded (the original archive holds a few corrupt images; checking them
    is the decoder's job). Non-JPEG files such as ``Thumbs.db`` are skipped. Order: cats then dogs,
    each by numeric file name.
    """
    root = fetch("pets", mirror=mirror, home=home) / EXTRACTED / "PetImages"
    paths: list[Path] = []
    labels: list[int] = []
    for label, cls in enumerate(CLASS_NAMES):
        for path in _images(root / _FOLDERS[cls]):
            paths.append(path)
            labels.append(label)
    return paths, labels, list(CLASS_NAMES)


def _images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise DataUnavailable(
            f"{folder} is missing from the extracted pets archive; delete {folder.parents[1]} and run `e2edl data fetch pets`"
        )
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".jpg"]
    return sorted(files, key=lambda p: (int(p.stem) if p.stem.isdigit() else float("inf"), p.name))
