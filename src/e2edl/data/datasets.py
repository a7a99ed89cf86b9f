"""PyTorch datasets for images: files on disk, tensors in memory, and a stream (the dataloaders lesson).

- ``ImageFileDataset``: map-style (``len`` and ``dataset[i]``); decodes one file per item, so the
  work can be spread over ``DataLoader`` workers. An unreadable file becomes ``None``, which
  ``skip_none_collate`` drops from the batch, so one bad JPEG costs one sample, not the run.
- ``InMemoryImages``: map-style over an already-decoded uint8 tensor (``load_pets_tensors``):
  indexing, no decoding.
- ``ImageFileStream``: an ``IterableDataset`` that reads its files in order and gives each
  ``DataLoader`` worker its own share. ``UnshardedStream`` is the pitfall it avoids: every worker
  yields the whole stream.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Iterator, Sequence

import torch
from torch.utils.data import Dataset, IterableDataset, default_collate, get_worker_info

from e2edl.data.pets_images import try_decode_image


def read_image_or_none(path: str | os.PathLike, size: int) -> torch.Tensor | None:
    """uint8 (3, size, size), or ``None`` (with a warning naming the file) if it cannot be decoded."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module="PIL")  # broken EXIF: harmless
        image = try_decode_image(path, size)
    if isinstance(image, str):
        warnings.warn(f"skipping unreadable image {path}: {image}", stacklevel=2)
        return None
    return image


class ImageFileDataset(Dataset):
    """``dataset[i]`` → ``(image, label)``: file ``paths[i]`` decoded to uint8 (3, size, size), or
    ``None`` when the file is unreadable. ``transform`` (if any) runs on each decoded image.

    Use it with ``DataLoader(..., collate_fn=skip_none_collate)``. The dataset object is copied
    into every worker process, so it keeps no count of skipped files itself (each worker would
    count only its own); a loader that yields fewer samples than ``len(dataset)`` tells you how
    many were skipped, and the warnings name them.
    """

    def __init__(
        self,
        paths: Sequence[str | os.PathLike],
        labels: Sequence[int],
        size: int,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        if len(paths) != len(labels):
            raise ValueError(f"{len(paths)} paths but {len(labels)} labels")
        self.paths, self.labels = [str(p) for p in paths], [int(y) for y in labels]
        self.size, self.transform = size, transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int] | None:
        image = read_image_or_none(self.paths[index], self.size)
        if image is None:
            return None
        if self.transform is not None:
            image = self.transform(image)
        return image, self.labels[index]


def skip_none_collate(samples: list) -> tuple[torch.Tensor, torch.Tensor]:
    """``default_collate`` of the samples that are not ``None``; an all-``None`` batch → empty tensors."""
    kept = [s for s in samples if s is not None]
    if not kept:
        return torch.empty(0), torch.empty(0, dtype=torch.int64)
    return default_collate(kept)


class InMemoryImages(Dataset):
    """``dataset[i]`` → ``(images[i], labels[i])`` from tensors already in memory.

    ``images`` is the decoded (N, 3, H, W) uint8 tensor, e.g. ``load_pets_tensors(size).images``;
    ``transform`` runs on each image. What ``torch.utils.data.TensorDataset`` does, plus a transform.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = self.images[index]
        return (self.transform(image) if self.transform else image), self.labels[index]


class ImageFileStream(IterableDataset):
    """Yield ``(image, label)`` for each readable file, in order; worker ``k`` of ``K`` reads the
    ``k``-th contiguous share of the files, so together the workers yield every file exactly once.

    Unreadable files are skipped (with a warning). A stream has no ``len`` and no random access:
    the ``DataLoader`` cannot shuffle it or use a sampler, so any shuffling is the stream's job.
    """

    def __init__(self, paths: Sequence[str | os.PathLike], labels: Sequence[int], size: int) -> None:
        if len(paths) != len(labels):
            raise ValueError(f"{len(paths)} paths but {len(labels)} labels")
        self.paths, self.labels, self.size = [str(p) for p in paths], [int(y) for y in labels], size

    def share(self) -> range:
        """The indices this process should read: all of them, or this worker's contiguous share."""
        info = get_worker_info()
        if info is None:  # num_workers=0: the main process reads everything
            return range(len(self.paths))
        per_worker = math.ceil(len(self.paths) / info.num_workers)
        start = info.id * per_worker
        return range(start, min(start + per_worker, len(self.paths)))

    def __iter__(self) -> Iterator[tuple[torch.Tensor, int]]:
        for index in self.share():
            image = read_image_or_none(self.paths[index], self.size)
            if image is not None:
                yield image, self.labels[index]


class UnshardedStream(ImageFileStream):
    """The pitfall of ``IterableDataset``: a stream that ignores which worker it runs in, so each of
    ``K`` workers yields every file and the loader delivers each one ``K`` times. Do not use it;
    it is here to show what ``ImageFileStream.share`` prevents."""

    def share(self) -> range:
        return range(len(self.paths))
