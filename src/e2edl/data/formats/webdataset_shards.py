"""WebDataset: samples as files in plain tar archives ("shards"), read front to back as a stream.

A sample is the group of consecutive tar members that share a *key*, the file name up to its first
dot: ``000042.jpg`` and ``000042.cls`` are sample ``000042``'s image and label. Reading a tar
from start to end is the fastest thing a disk or an object store does, so WebDataset streams from
``s3://`` / ``gs://`` / ``https://`` as well as from local files; the price is that there is no
random access, and shuffling is approximate: shard order is shuffled, then samples pass through a
buffer of ``buffer`` samples that yields a random one of them at each step. Samples that were
stored far apart can only meet in a batch if the shuffle brings them together — so data written in
class order stays clumped unless it was shuffled when written (``order_seed``).
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from functools import partial
from pathlib import Path

import torch

from e2edl.data.formats.reader import FormatReader
from e2edl.data.formats.source import Built, ImageSource, decode_bytes, sort_out

INDEX = "shards.json"  # the shard names and the sample count: a stream cannot tell its own length


def build_webdataset(
    source: ImageSource, out: str | os.PathLike, shards: int = 10, order_seed: int | None = None
) -> Built:
    """Check ``source``, then write its readable images into ``shards`` tar files
    ``out/pets-000000.tar`` ..., each sample as ``<key>.jpg`` (the original bytes) + ``<key>.cls``.

    Samples go in source order, or in a random order drawn from ``order_seed`` (shuffling once, when
    writing, is what makes the reader's approximate shuffle good enough). Keys stay the source order.
    """
    import webdataset as wds

    start = time.perf_counter()
    readable, skipped = sort_out(source)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    order = list(range(len(readable)))
    if order_seed is not None:
        random.Random(order_seed).shuffle(order)
    per_shard = max(1, math.ceil(len(order) / shards))
    with wds.ShardWriter(str(out / "pets-%06d.tar"), maxcount=per_shard, verbose=0) as sink:
        for key in order:
            sink.write({"__key__": f"{key:06d}", "jpg": Path(readable.paths[key]).read_bytes(),
                        "cls": readable.labels[key]})  # fmt: skip
    names = sorted(path.name for path in out.glob("pets-*.tar"))
    (out / INDEX).write_text(
        json.dumps({"shards": names, "samples": len(order), "class_names": source.class_names})
    )
    name = "WebDataset tar shards" + (", shuffled when written" if order_seed is not None else "")
    return Built(name, out, len(order), skipped, time.perf_counter() - start)


def decode_sample(sample: dict, size: int) -> tuple[torch.Tensor, int, int]:
    """A grouped WebDataset sample ``{"__key__", "jpg", "cls"}`` → ``(image, label, key)``."""
    return decode_bytes(sample["jpg"], size), int(sample["cls"]), int(sample["__key__"])


class WebDatasetReader(FormatReader):
    """A stream over the shards: shard order shuffled, then a shuffle buffer of ``buffer`` samples
    (default: one shard's worth). ``DataLoader`` workers each read their own shards."""

    streaming = True

    def __init__(self, out: str | os.PathLike, size: int, buffer: int | None = None) -> None:
        self.out = Path(out)
        index = json.loads((self.out / INDEX).read_text())
        self.urls = [str(self.out / name) for name in index["shards"]]
        self.samples, self.size = index["samples"], size
        self.buffer = buffer if buffer is not None else math.ceil(self.samples / len(self.urls))

    def __len__(self) -> int:
        return self.samples

    def dataset(self, epoch: int = 0, seed: int = 0):
        import webdataset as wds

        epoch_seed = seed * 1_000_003 + epoch
        stream = wds.WebDataset(self.urls, shardshuffle=len(self.urls), seed=epoch_seed, empty_check=False)
        return stream.shuffle(self.buffer, seed=epoch_seed).map(partial(decode_sample, size=self.size))
