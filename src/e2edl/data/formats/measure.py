"""Measuring a storage format: bytes on disk, a shuffled epoch (images/s, and what it yielded), the
latency of reading one sample, and how well an epoch was shuffled.

Wall-clock time is what training waits for, but on a shared machine it also counts the time other
programs held the cores. So each epoch also records the CPU time this process spent: with the
``DataLoader`` reading in the main process (``workers=0``), CPU milliseconds per image measure the
work a format costs, and hardly move with the machine's load.

Two numbers say how well an epoch was shuffled, both computed from the keys (source positions)
and labels in the order the epoch yielded them:

- ``mean_rank_displacement``: how far, on average, a sample moved from its place in the source,
  divided by what a uniformly random permutation gives, ``(N² − 1) / 3N`` — 1 for a full shuffle,
  0 for none.
- ``label_autocorrelation``: within each batch, how much more often neighbouring samples share a
  class than chance would give: ``(agree − Σ p_c²) / (1 − Σ p_c²)``, with ``agree`` the share of
  neighbouring pairs in a batch with the same label and ``p_c`` the class shares. 0 for a random
  order, 1 when every batch holds one class. (For two classes it equals the lag-1
  autocorrelation of the 0/1 labels.) Batches of one class are what an approximate shuffle of
  data stored in class order gives, and they make training noisy.
"""

from __future__ import annotations

import os
import statistics
import time
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from e2edl.data.formats.reader import FormatReader, RandomAccessUnsupported, epoch_loader


def bytes_on_disk(path: str | os.PathLike) -> int:
    """The bytes of every file under ``path`` (or of the file itself): apparent sizes, what a copy to
    object storage would move. (A file system rounds each file up to its block size, which makes
    many small files cost more on a local disk than this says.)"""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def mean_rank_displacement(keys: Sequence[int]) -> float:
    """Mean ``|position − rank of its key|`` over an epoch, divided by a random permutation's
    expected value ``(N² − 1) / 3N``: 0 = the source order, about 1 = a full shuffle."""
    keys = torch.as_tensor(list(keys))
    n = len(keys)
    if n < 2:
        return 0.0
    ranks = torch.empty(n, dtype=torch.long)
    ranks[keys.argsort()] = torch.arange(n)  # the rank of each key among the epoch's keys
    displacement = (ranks - torch.arange(n)).abs().double().mean().item()
    return displacement / ((n * n - 1) / (3 * n))


def label_autocorrelation(labels: Sequence[int], batch_size: int) -> float:
    """How much more often neighbours *within a batch* share a label than chance: 0 random, 1 sorted.

    ``labels`` in the order an epoch yielded them, cut into batches of ``batch_size`` (the last one
    may be shorter); pairs that straddle two batches are not counted.
    """
    labels = torch.as_tensor(list(labels))
    same, pairs = 0, 0
    for start in range(0, len(labels), batch_size):
        batch = labels[start : start + batch_size]
        same += int((batch[1:] == batch[:-1]).sum())
        pairs += len(batch) - 1
    if pairs == 0:
        return 0.0
    shares = torch.bincount(labels).double() / len(labels)
    chance = float((shares**2).sum())
    if chance >= 1.0:  # a single class: no order can be better or worse
        return 0.0
    return (same / pairs - chance) / (1 - chance)


@dataclass
class Epoch:
    """What one pass over a loader yielded, in order."""

    seconds: float  # wall clock
    cpu_seconds: float  # CPU time of this process (all its threads): what the epoch cost, whatever else runs
    keys: list[int] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    checksums: dict[int, int] = field(default_factory=dict)  # key → CRC-32 of the image's bytes
    black_images: int = 0  # images whose every pixel is 0


def run_epoch(batches: Iterable, checksums: bool = False) -> Epoch:
    """Iterate ``batches`` of ``(images (B, 3, S, S) uint8, labels (B,), keys (B,))`` once, timing it.

    With ``checksums`` (slower: not for a timed pass) it also records each image's CRC-32 by key and
    counts all-black images — what a builder that let a broken file through would make.
    """
    epoch = Epoch(seconds=0.0, cpu_seconds=0.0)
    start, cpu_start = time.perf_counter(), time.process_time()
    for images, labels, keys in batches:
        epoch.keys += keys.tolist()
        epoch.labels += labels.tolist()
        if checksums:
            for image, key in zip(images, keys.tolist()):
                epoch.checksums[key] = zlib.crc32(image.contiguous().numpy().tobytes())
                epoch.black_images += int(image.max() == 0)
    epoch.seconds = time.perf_counter() - start
    epoch.cpu_seconds = time.process_time() - cpu_start
    return epoch


@dataclass
class Measured:
    """A reader's measurements: ``epochs`` timed shuffled epochs after a warm-up one."""

    samples: int
    epoch_seconds: list[float]
    images_per_second: float  # samples / median epoch seconds
    cpu_ms_per_image: float  # median epoch CPU time / samples (DataLoader workers not included)
    random_read_ms: float | None  # median latency of reading one random sample; None for a stream
    rank_displacement: float  # mean over every epoch measured (warm-up included)
    autocorrelation: float  # mean over every epoch measured (warm-up included)
    complete: bool  # every epoch yielded every key exactly once
    black_images: int
    checksums: dict[int, int]


def measure_reader(
    reader: FormatReader,
    batch_size: int,
    epochs: int = 3,
    random_reads: int = 100,
    seed: int = 0,
    workers: int = 0,
) -> Measured:
    """One warm-up epoch (fills the OS page cache, records checksums), ``epochs`` timed shuffled
    epochs (the median gives images/s), then ``random_reads`` reads of single random samples.

    The shuffle measures are averaged over all ``epochs + 1`` epochs: an approximate shuffle varies
    a lot from one epoch to the next (it depends on the order the shards happened to come in).
    """
    expected = list(range(len(reader)))
    warm = run_epoch(epoch_loader(reader, batch_size, 0, seed, workers), checksums=True)
    timed = [run_epoch(epoch_loader(reader, batch_size, e, seed, workers)) for e in range(1, epochs + 1)]
    complete = all(sorted(e.keys) == expected for e in [warm, *timed])
    median = statistics.median(e.seconds for e in timed)
    return Measured(
        samples=len(expected),
        epoch_seconds=[e.seconds for e in timed],
        images_per_second=len(expected) / median,
        cpu_ms_per_image=1000 * statistics.median(e.cpu_seconds for e in timed) / len(expected),
        random_read_ms=random_read_ms(reader, random_reads, seed),
        rank_displacement=statistics.mean(mean_rank_displacement(e.keys) for e in [warm, *timed]),
        autocorrelation=statistics.mean(label_autocorrelation(e.labels, batch_size) for e in [warm, *timed]),
        complete=complete,
        black_images=warm.black_images,
        checksums=warm.checksums,
    )


def random_read_ms(reader: FormatReader, reads: int = 100, seed: int = 0) -> float | None:
    """Median milliseconds to read (and decode) one sample at a random position; ``None`` for a
    stream without random access."""
    generator = torch.Generator().manual_seed(seed)
    indices = torch.randint(len(reader), (reads,), generator=generator).tolist()
    times = []
    for index in indices:
        start = time.perf_counter()
        try:
            reader.read(index)
        except RandomAccessUnsupported:
            return None
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)
