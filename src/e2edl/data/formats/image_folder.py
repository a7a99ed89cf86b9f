"""A folder of JPEGs read with torchvision's ``ImageFolder``: the format a data set usually arrives in.

Building it means checking every file and keeping the readable ones in a clean tree
``out/<class>/<file>`` (hard links where possible, so no bytes are copied). ``ImageFolder`` would
list the broken files too and fail on them in the middle of an epoch — or, given an
``is_valid_file`` that decodes, pay the check again each time it is opened.
"""

from __future__ import annotations

import os
import shutil
import time
from functools import partial
from pathlib import Path

import torch
from torchvision.datasets import ImageFolder

from e2edl.data.formats.reader import FormatReader
from e2edl.data.formats.source import Built, ImageSource, sort_out
from e2edl.data.pets_images import decode_image_file


def build_image_folder(source: ImageSource, out: str | os.PathLike) -> Built:
    """The readable files of ``source`` as ``out/<class name>/<file name>``."""
    start = time.perf_counter()
    readable, skipped = sort_out(source)
    out = Path(out)
    for path, label in zip(readable.paths, readable.labels):
        target = out / source.class_names[label] / Path(path).name
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, target)
        except OSError:
            shutil.copyfile(path, target)
    return Built("image folder", out, len(readable), skipped, time.perf_counter() - start)


class KeyedImageFolder(ImageFolder):
    """``ImageFolder`` whose items are ``(image, label, index)``, the index being the file's key."""

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, int]:
        image, label = super().__getitem__(index)
        return image, label, index


class ImageFolderReader(FormatReader):
    """Each file decoded on demand (``decode_image_file``: shorter side to ``size``, centre crop)."""

    def __init__(self, root: str | os.PathLike, size: int) -> None:
        self.folder = KeyedImageFolder(str(root), loader=partial(decode_image_file, size=size))

    def __len__(self) -> int:
        return len(self.folder)

    def dataset(self, epoch: int = 0, seed: int = 0) -> KeyedImageFolder:
        return self.folder

    def read(self, index: int) -> tuple[torch.Tensor, int]:
        image, label, _ = self.folder[index]
        return image, label
