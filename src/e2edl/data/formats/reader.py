"""What every storage format gives back: samples ``(image, label, key)`` for a shuffled epoch, and
(where the format allows it) one sample by its position.

``image`` is uint8 (3, size, size), decoded and resized the same way in every format; ``label`` the
class index; ``key`` the sample's position in the source (``scan_image_folder``'s order, broken
files left out), which lets the measurements compare formats sample by sample and see how well
an epoch was shuffled.
"""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset


class RandomAccessUnsupported(NotImplementedError):
    """A stream (tar shards read front to back) has no cheap way to fetch sample ``i``."""


class FormatReader:
    """Base class of the readers in ``e2edl.data.formats``.

    ``streaming = False``: ``dataset(epoch)`` is map-style and the ``DataLoader`` shuffles it with
    its sampler (a full random permutation). ``streaming = True``: it is an ``IterableDataset`` that
    shuffles itself (shards, chunks, a buffer), differently for each epoch.
    """

    streaming = False

    def __len__(self) -> int:
        raise NotImplementedError

    def dataset(self, epoch: int = 0, seed: int = 0) -> Dataset | IterableDataset:
        """The samples ``(image, label, key)``; a stream shuffles them by ``(seed, epoch)``."""
        raise NotImplementedError

    def read(self, index: int) -> tuple[torch.Tensor, int]:
        """``(image, label)`` of the sample stored at position ``index``."""
        raise RandomAccessUnsupported(f"{type(self).__name__} reads a stream: no random access")


def epoch_loader(
    reader: FormatReader, batch_size: int, epoch: int = 0, seed: int = 0, workers: int = 0
) -> DataLoader:
    """A ``DataLoader`` for one shuffled epoch of ``reader``: batches ``(images (B, 3, S, S) uint8,
    labels (B,), keys (B,))``. Map-style formats get a ``RandomSampler`` seeded by ``(seed, epoch)``;
    streams shuffle themselves."""
    dataset = reader.dataset(epoch, seed)
    if reader.streaming:
        return DataLoader(dataset, batch_size=batch_size, num_workers=workers)
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=generator, num_workers=workers)
