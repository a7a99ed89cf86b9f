"""Timing a data pipeline: samples per second of one pass over a loader, median over repeats, and the
dataloaders lesson's table — decoding image files with 0, 1, 2 workers against a decode-once cache."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Iterable, Sequence

from torch.utils.data import DataLoader

from e2edl.data.datasets import ImageFileDataset, InMemoryImages, skip_none_collate
from e2edl.data.pets_images import decode_pets
from e2edl.data.tensor_loader import TensorLoader


def count_samples(loader: Iterable) -> int:
    """Iterate ``loader`` once; the number of samples its batches held (first element's length)."""
    return sum(len(batch[0]) for batch in loader)


def samples_per_second(make_loader: Callable[[], Iterable], repeats: int = 3) -> dict:
    """Build a fresh loader with ``make_loader()`` and iterate it once, ``repeats`` times.

    The clock includes building the loader and starting its workers — what an epoch costs when
    workers are not persistent. Returns ``{"samples", "seconds" (median), "per_second" (median),
    "all_seconds"}``.
    """
    seconds, samples = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        samples = count_samples(make_loader())
        seconds.append(time.perf_counter() - start)
    median = statistics.median(seconds)
    return {"samples": samples, "seconds": median, "per_second": samples / median, "all_seconds": seconds}


def spread_sample(paths: Sequence, labels: Sequence, n: int) -> tuple[list, list]:
    """``n`` files evenly spaced through the list (so every class is in it), in a fixed order."""
    step = max(len(paths) // n, 1)
    picked = list(range(0, len(paths), step))[:n]
    return [paths[i] for i in picked], [labels[i] for i in picked]


def throughput_table(
    paths: Sequence[str | os.PathLike],
    labels: Sequence[int],
    size: int = 64,
    batch_size: int = 64,
    repeats: int = 3,
    workers: Sequence[int] = (0, 1, 2),
) -> list[dict]:
    """Images/s reading ``paths`` in batches at ``size`` px, one row per way, medians over ``repeats``.

    The ways: decoding the files with each number of ``workers`` (starting the workers counted, as
    every epoch pays it without ``persistent_workers``); persistent workers on a later epoch;
    decoding once into a tensor (the one-off cost); reading that tensor with a ``DataLoader`` and
    by slicing (``TensorLoader``).
    """
    dataset = ImageFileDataset(paths, labels, size)
    rows = []
    for w in workers:
        timing = samples_per_second(
            lambda w=w: DataLoader(dataset, batch_size, num_workers=w, collate_fn=skip_none_collate), repeats
        )
        rows.append({"way": f"decode JPEGs, {w} worker{'s' if w != 1 else ''}", **timing})
    if max(workers) > 0:  # workers already running: what every epoch after the first costs
        w = max(workers)
        loader = DataLoader(dataset, batch_size, num_workers=w, collate_fn=skip_none_collate,
                            persistent_workers=True, prefetch_factor=4)  # fmt: skip
        count_samples(loader)  # the first pass starts the workers
        timing = samples_per_second(lambda: loader, repeats)
        rows.append(
            {"way": f"decode JPEGs, {w} persistent worker{'s' if w != 1 else ''} (later epochs)", **timing}
        )
        del loader  # stops the workers
    start = time.perf_counter()
    decoded = decode_pets(paths, labels, size, workers=0, progress=False)
    decode_seconds = time.perf_counter() - start
    rows.append({"way": "decode once into a tensor (paid once)", "samples": len(paths),
                 "seconds": decode_seconds, "per_second": len(paths) / decode_seconds})  # fmt: skip
    cached = InMemoryImages(decoded.images, decoded.labels)
    timing = samples_per_second(lambda: DataLoader(cached, batch_size), repeats)
    rows.append({"way": "from the cache: DataLoader, 0 workers", **timing})
    timing = samples_per_second(
        lambda: TensorLoader(decoded.images, decoded.labels, batch_size=batch_size), repeats
    )
    rows.append({"way": "from the cache: TensorLoader (slicing)", **timing})
    return rows
