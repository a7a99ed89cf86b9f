"""A folder of real images with broken ones among them: what a scraped data set looks like.

Microsoft's original Dogs vs Cats archive has empty files, truncated JPEGs and a ``Thumbs.db``;
the course mirror has them removed. ``folder_with_broken_files`` puts some back, to show what a
``DataLoader`` does when a worker meets one.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path


def folder_with_broken_files(
    paths: Sequence[str | os.PathLike], folder: str | os.PathLike, broken: int = 2
) -> Path:
    """Copy ``paths`` into ``folder`` and add ``broken`` unreadable ``broken-<i>.jpg`` files (in turn:
    a JPEG cut to its first eighth, an empty file, a text file). Returns the folder."""
    if not paths:
        raise ValueError("give at least one image to copy (the broken files are cut from the first)")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for path in paths:
        shutil.copy(path, folder / Path(path).name)
    good = Path(paths[0]).read_bytes()
    makers = [lambda p: p.write_bytes(good[: len(good) // 8]), lambda p: p.write_bytes(b""),
              lambda p: p.write_text("not a JPEG")]  # fmt: skip
    for i in range(broken):
        makers[i % len(makers)](folder / f"broken-{i}.jpg")
    return folder
