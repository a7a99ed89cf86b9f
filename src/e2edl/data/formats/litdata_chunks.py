"""LitData: ``optimize`` packs samples into binary chunk files plus an ``index.json``;
``StreamingDataset`` reads them locally or streams them from object storage (``s3://``, ``gs://``).

``optimize`` runs a function over every input in worker processes and serialises what it
returns (here the JPEG's bytes, the label and the key). Reading shuffles the order of the chunks
and, within a chunk, the items in windows of a few hundred — an approximate shuffle, like
WebDataset's, that cannot mix samples stored far apart in one batch. Unlike a tar stream it also
allows ``dataset[i]``: the index says which chunk holds item ``i`` and where.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import sys
import time
import warnings
from functools import partial
from pathlib import Path

import torch

from e2edl.data.formats.reader import FormatReader
from e2edl.data.formats.source import Built, ImageSource, decode_bytes, sort_out


def read_item(item: tuple[int, str, int]) -> dict:
    """The function ``optimize`` runs per input ``(key, path, label)``: the file's bytes, unchanged."""
    key, path, label = item
    return {"key": key, "jpg": Path(path).read_bytes(), "label": label}


def build_litdata(source: ImageSource, out: str | os.PathLike, chunks: int = 10) -> Built:
    """Check ``source``, then ``optimize`` its readable images into about ``chunks`` chunk files in ``out``.

    One worker process, order kept (``keep_data_ordered``, ``reorder_files=False``). On Linux the
    worker is forked (a spawned one would import PyTorch again, several seconds).
    """
    import litdata

    start = time.perf_counter()
    readable, skipped = sort_out(source)
    items = [
        (key, str(path), label) for key, (path, label) in enumerate(zip(readable.paths, readable.labels))
    ]
    fork = sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()
    with warnings.catch_warnings():
        # Deep Lake warns at every fork while one of its data sets is open in this process; the
        # forked worker only reads files, and never touches them.
        warnings.filterwarnings("ignore", message="Global variable .* fork", category=UserWarning)
        litdata.optimize(
            fn=read_item,
            inputs=items,
            output_dir=str(out),
            chunk_size=max(1, math.ceil(len(items) / chunks)),
            num_workers=1,
            mode="overwrite",
            reorder_files=False,
            keep_data_ordered=True,
            start_method="fork" if fork else None,
            verbose=False,
        )
    return Built("LitData chunks", Path(out), len(items), skipped, time.perf_counter() - start)


def decode_item(item: dict, size: int) -> tuple[torch.Tensor, int, int]:
    """A LitData item ``{"key", "jpg", "label"}`` → ``(image, label, key)``."""
    return decode_bytes(item["jpg"], size), int(item["label"]), int(item["key"])


class LitDataReader(FormatReader):
    """``StreamingDataset`` over the chunks, decoding each item with its ``transform``."""

    streaming = True

    def __init__(self, out: str | os.PathLike, size: int) -> None:
        import litdata

        self.out, self.decode = str(out), partial(decode_item, size=size)
        self.indexed = litdata.StreamingDataset(self.out, transform=self.decode)  # len() and dataset[i]

    def __len__(self) -> int:
        return len(self.indexed)

    def dataset(self, epoch: int = 0, seed: int = 0):
        import litdata

        stream = litdata.StreamingDataset(self.out, shuffle=True, seed=seed, transform=self.decode)
        stream.set_epoch(epoch + 1)  # LitData counts epochs from 1
        return stream

    def read(self, index: int) -> tuple[torch.Tensor, int]:
        image, label, _ = self.indexed[index]
        return image, label
