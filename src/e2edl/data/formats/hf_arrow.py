"""Hugging Face ``datasets``: the JPEG bytes in an Arrow table (an ``Image`` feature), memory-mapped.

``save_to_disk`` writes the table as Arrow files; ``load_from_disk`` maps them into memory without
reading them, so opening is instant and a row is a slice of the mapped file. The ``Image`` feature
stores the encoded bytes as they are (no re-encoding) and decodes to a PIL image on access — so a
truncated JPEG goes in silently and fails only when an epoch reaches it. The reader here switches
that decoding off (``Image(decode=False)``) and decodes with the same function as every other
format, so the comparison measures storage, not decoders.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch
from torch.utils.data import Dataset

from e2edl.data.formats.reader import FormatReader
from e2edl.data.formats.source import Built, ImageSource, decode_bytes, sort_out


def build_hf_arrow(source: ImageSource, out: str | os.PathLike) -> Built:
    """Check ``source``, then save its readable images (bytes), labels and keys with ``save_to_disk``."""
    import datasets

    start = time.perf_counter()
    readable, skipped = sort_out(source)
    features = datasets.Features(
        {
            "image": datasets.Image(),
            "label": datasets.ClassLabel(names=list(source.class_names)),
            "key": datasets.Value("int64"),
        }
    )
    table = {
        "image": [{"bytes": Path(path).read_bytes(), "path": None} for path in readable.paths],
        "label": readable.labels,
        "key": list(range(len(readable))),
    }
    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # a bar for a one-second save is noise in a notebook
    try:
        datasets.Dataset.from_dict(table, features=features).save_to_disk(str(out))
    finally:
        if bars:
            datasets.enable_progress_bars()
    return Built(
        "Hugging Face datasets (Arrow)", Path(out), len(readable), skipped, time.perf_counter() - start
    )


class ArrowImages(Dataset):
    """``dataset[i]`` → ``(image, label, key)``: row ``i`` of the mapped table, its bytes decoded."""

    def __init__(self, table, size: int) -> None:
        self.table, self.size = table, size

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, int]:
        row = self.table[index]
        return decode_bytes(row["image"]["bytes"], self.size), row["label"], row["key"]


class HFArrowReader(FormatReader):
    def __init__(self, out: str | os.PathLike, size: int) -> None:
        import datasets

        table = datasets.load_from_disk(str(out))
        self.data = ArrowImages(table.cast_column("image", datasets.Image(decode=False)), size)

    def __len__(self) -> int:
        return len(self.data)

    def dataset(self, epoch: int = 0, seed: int = 0) -> ArrowImages:
        return self.data

    def read(self, index: int) -> tuple[torch.Tensor, int]:
        image, label, _ = self.data[index]
        return image, label
