"""The dataloaders lesson's decode-once cache as a storage format: every image decoded and resized
once, saved as one uint8 tensor (N, 3, size, size) with ``torch.save``, read back into memory.

An epoch is then indexing, not decoding; the price is disk and memory: 3·size² bytes per image
(49 KB at 128 px) against about 7 KB for the course's JPEGs, and the whole tensor must fit in RAM.
A change of ``size`` means decoding everything again.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch
from torch.utils.data import Dataset

from e2edl.data.formats.reader import FormatReader
from e2edl.data.formats.source import Built, ImageSource
from e2edl.data.pets_images import decode_cached

CACHE_FILE = "decoded.pt"


def build_tensor_cache(source: ImageSource, out: str | os.PathLike, size: int) -> Built:
    """Decode ``source`` once at ``size`` px into ``out/decoded.pt``. Unreadable files are skipped by
    the decoder itself (``decode_pets`` lists each with its reason). One thread, like every builder."""
    start = time.perf_counter()
    cache_file = Path(out) / CACHE_FILE
    decoded = decode_cached(source.paths, source.labels, size, cache_file, workers=0, progress=False)
    skipped = [(f"{Path(path).parent.name}/{Path(path).name}", reason) for path, reason in decoded.skipped]
    return Built(
        "decode-once tensor cache", Path(out), len(decoded.labels), skipped, time.perf_counter() - start
    )


class CachedImages(Dataset):
    """``dataset[i]`` → ``(images[i], labels[i], i)`` from tensors in memory."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, int]:
        return self.images[index], int(self.labels[index]), index


class TensorCacheReader(FormatReader):
    """Loads the whole cache into memory when opened; reading a sample is indexing."""

    def __init__(self, out: str | os.PathLike, size: int) -> None:
        record = torch.load(Path(out) / CACHE_FILE, weights_only=True)
        if record["images"].shape[-1] != size:
            raise ValueError(
                f"{out} holds {record['images'].shape[-1]} px images, not {size} px: build it again"
            )
        self.data = CachedImages(record["images"], record["labels"])

    def __len__(self) -> int:
        return len(self.data)

    def dataset(self, epoch: int = 0, seed: int = 0) -> CachedImages:
        return self.data

    def read(self, index: int) -> tuple[torch.Tensor, int]:
        image, label, _ = self.data[index]
        return image, label
