"""Timing a data pipeline: samples per second of one pass over a loader, median over repeats."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable


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
