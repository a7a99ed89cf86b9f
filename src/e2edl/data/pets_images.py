"""Dogs vs Cats as tensors: decode every image once, cache the result, split it, augment batches.

``load_pets`` lists the files; this module turns them into one uint8 tensor (N, 3, size, size)
that fits in memory at the sizes the course trains on (10,000 images: 123 MB at 64 px, 492 MB at
128 px, 0.97 GB at 180 px), so an epoch is slicing, not JPEG decoding. The decoded tensor is cached
as ``<data home>/pets/decoded-{size}.pt`` and rebuilt when the list of source files changes.

Decoding uses Pillow: ``torchvision.io``'s decoders are deprecated since torchvision 0.29, and
Pillow reads every format that turns up in the original archive, converts grayscale and CMYK
JPEGs to RGB, and can decode a large JPEG at 1/2, 1/4 or 1/8 scale directly (``Image.draft``),
which makes shrinking Microsoft's full-size photos several times faster.

Augmentation runs on whole batches. torchvision's v2 random transforms draw *one* set of random
parameters per call, so on a (B, 3, H, W) batch they crop and flip every image the same way;
``RandomResizedCropFlip`` draws a crop and a flip per image and applies them all with one
``grid_sample``.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError
from tqdm.auto import tqdm

from e2edl.atomic import atomic_write
from e2edl.data.paths import data_home
from e2edl.data.pets import load_pets
from e2edl.progress import progress_enabled

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # per RGB channel, pixels scaled to [0, 1]
IMAGENET_STD = (0.229, 0.224, 0.225)
DECODE_VERSION = 1  # bump when the decoding below changes, so old caches are rebuilt


class Decoded(NamedTuple):
    """What ``decode_pets`` returns: the images that could be read, and why the others could not."""

    images: torch.Tensor  # (N, 3, size, size) uint8, RGB
    labels: torch.Tensor  # (N,) int64
    skipped: list[tuple[str, str]]  # (path, reason) of each unreadable file


class PetsTensors(NamedTuple):
    images: torch.Tensor  # (N, 3, size, size) uint8, RGB
    labels: torch.Tensor  # (N,) int64: 0 = cat, 1 = dog
    class_names: list[str]
    skipped: list[tuple[str, str]]


# ---------------------------------------------------------------------------------------- decoding


def decode_image_file(path: str | os.PathLike, size: int) -> torch.Tensor:
    """One image file → uint8 (3, size, size) RGB; raises ``OSError`` (Pillow's errors) if unreadable.

    Resize so the *shorter* side is ``size``, then crop the centre square (``ImageOps.fit``):
    the animal keeps its proportions, and only the edges of wide or tall photos are lost. (The
    course mirror's images are already square, where both choices agree.) Grayscale, palette,
    RGBA and CMYK images are converted to RGB; the EXIF orientation is applied.
    """
    with Image.open(path) as image:
        image.draft("RGB", (size, size))  # JPEG only: decode at a reduced scale that stays >= size
        image = ImageOps.exif_transpose(image).convert("RGB")
        image = ImageOps.fit(image, (size, size), Image.Resampling.BILINEAR)
    return torch.from_numpy(np.array(image)).permute(2, 0, 1).contiguous()  # (H, W, 3) → (3, H, W)


def decode_pets(
    paths: Sequence[str | os.PathLike],
    labels: Sequence[int],
    size: int,
    *,
    workers: int | None = None,
    progress: bool = True,
) -> Decoded:
    """Decode each file once into a (N, 3, size, size) uint8 tensor, skipping unreadable files.

    Unreadable means: empty, not an image Pillow knows, truncated or otherwise corrupt. Each one
    is listed in ``skipped`` with its reason and left out of ``images`` and ``labels`` (the order
    of the rest is kept). ``workers`` threads decode in parallel (Pillow releases the GIL while
    decoding); ``None`` uses up to 8, ``0`` decodes in this thread. ``E2EDL_PROGRESS=0`` hides the bar.
    """
    paths, labels = list(paths), list(labels)
    if len(paths) != len(labels):
        raise ValueError(f"{len(paths)} paths but {len(labels)} labels")
    if workers is None:
        workers = min(8, os.cpu_count() or 1)
    images = torch.empty((len(paths), 3, size, size), dtype=torch.uint8)
    kept_labels: list[int] = []
    skipped: list[tuple[str, str]] = []
    show = progress_enabled(progress)
    with contextlib.ExitStack() as stack:
        # The original archive has photos with broken EXIF blocks: Pillow warns and reads them fine.
        stack.enter_context(warnings.catch_warnings())
        warnings.filterwarnings("ignore", category=UserWarning, module="PIL")
        pool = stack.enter_context(ThreadPoolExecutor(workers)) if workers > 0 else None
        decode = lambda path: try_decode_image(path, size)
        results = pool.map(decode, paths) if pool else map(decode, paths)
        bar = tqdm(
            zip(paths, labels, results),
            total=len(paths),
            desc=f"decode {size}px",
            unit="img",
            disable=not show,
        )
        for path, label, result in bar:
            if isinstance(result, str):
                skipped.append((str(path), result))
                bar.set_postfix(skipped=len(skipped))
                continue
            images[len(kept_labels)] = result
            kept_labels.append(label)
    if skipped and show:
        tqdm.write(
            f"skipped {len(skipped)} of {len(paths)} files that are not readable images, e.g. {skipped[0]}"
        )
    kept = len(kept_labels)
    images = images[:kept].clone() if kept < len(paths) else images  # clone: drop the unused tail
    return Decoded(images, torch.tensor(kept_labels, dtype=torch.int64), skipped)


def try_decode_image(path: str | os.PathLike, size: int) -> torch.Tensor | str:
    """``decode_image_file``'s image, or the reason (a string) the file could not be decoded."""
    try:
        if os.path.getsize(path) == 0:
            return "empty file"
        return decode_image_file(path, size)
    except UnidentifiedImageError:
        return "not an image"
    except Exception as error:  # a corrupt file can fail anywhere in a decoder: any error means skip it
        return f"{type(error).__name__}: {error}"


def is_readable_image(path: str | os.PathLike) -> bool:
    """Whether ``decode_pets`` would keep this file: a cheap check (JPEGs decode at 1/8 scale)."""
    return not isinstance(try_decode_image(path, 32), str)


# ------------------------------------------------------------------------------------------ cache


def source_fingerprint(paths: Sequence[str | os.PathLike], labels: Sequence[int], size: int) -> str:
    """SHA-256 of what the decoded tensor depends on: each file's ``folder/name``, byte size and
    label, the image size and ``DECODE_VERSION``. Folder and name rather than the full path, so
    moving the cache does not invalidate it; byte sizes rather than content hashes, so checking
    is a ``stat`` per file rather than reading 800 MB (the archive itself was verified by SHA-256
    when it entered the cache)."""
    digest = hashlib.sha256(f"v{DECODE_VERSION} size={size}\n".encode())
    for path, label in zip(paths, labels, strict=True):
        path = Path(path)
        digest.update(f"{label}\t{path.parent.name}/{path.name}\t{path.stat().st_size}\n".encode())
    return digest.hexdigest()


def decode_cached(
    paths: Sequence[str | os.PathLike],
    labels: Sequence[int],
    size: int,
    cache_file: str | os.PathLike,
    *,
    workers: int | None = None,
    progress: bool = True,
) -> Decoded:
    """``decode_pets``, saved to ``cache_file`` and read back from it while the sources match."""
    cache_file = Path(cache_file)
    fingerprint = source_fingerprint(paths, labels, size)
    cached = _read_cache(cache_file)
    if cached is not None and cached.get("fingerprint") == fingerprint:
        return Decoded(cached["images"], cached["labels"], [tuple(s) for s in cached["skipped"]])
    decoded = decode_pets(paths, labels, size, workers=workers, progress=progress)
    record = {
        "fingerprint": fingerprint,
        "images": decoded.images,
        "labels": decoded.labels,
        "skipped": [list(s) for s in decoded.skipped],
    }
    with atomic_write(cache_file) as f:
        torch.save(record, f)
    return decoded


def _read_cache(cache_file: Path) -> dict | None:
    """The cached record, or ``None`` (with a warning saying why) when it must be decoded again."""
    if not cache_file.is_file():
        return None
    try:
        return torch.load(cache_file, weights_only=True)
    except Exception as error:  # torch raises many types for a truncated or foreign file
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        warnings.warn(
            f"decode cache {cache_file} is unreadable ({reason}); decoding the images again", stacklevel=2
        )
        return None


def load_pets_tensors(
    size: int,
    *,
    mirror: str | os.PathLike | None = None,
    home: str | os.PathLike | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> PetsTensors:
    """All of Dogs vs Cats as ``(images (N, 3, size, size) uint8, labels (N,), class_names, skipped)``.

    The first call for a ``size`` decodes every file (seconds for the course mirror's 10,000
    images, a few minutes for Microsoft's 25,000) and caches the tensor in
    ``<data home>/pets/decoded-{size}.pt``; later calls load it.
    """
    paths, labels, class_names = load_pets(mirror=mirror, home=home)
    cache_file = data_home(home) / "pets" / f"decoded-{size}.pt"
    decoded = decode_cached(paths, labels, size, cache_file, workers=workers, progress=progress)
    return PetsTensors(decoded.images, decoded.labels, class_names, decoded.skipped)


# ------------------------------------------------------------------------------------------ split


# ------------------------------------------------------------------------------------- transforms


class RandomResizedCropFlip:
    """A random crop of each image, resized to ``size``×``size``, mirrored with probability ``flip_p``.

    Float (B, C, H, W) → (B, C, size, size), with new random parameters *per image* (the batched
    version of ``RandomResizedCrop(size, scale, ratio)`` + ``RandomHorizontalFlip(flip_p)``).
    A crop covers a fraction ``scale`` of the image area with width/height ``ratio``, both drawn
    as torchvision draws them (area uniform, ratio log-uniform); a crop that would not fit is
    clamped to the image instead of redrawn. ``scale`` starts at 0.25, not torchvision's 0.08:
    at 64-128 px a crop of 8% of the image often misses the animal. Each crop-and-flip is an
    affine map of the output grid, so one ``grid_sample`` (bilinear) does the whole batch; it does
    not antialias, so keep the stored size close to ``size`` (no more than about 2× larger).
    Also accepts a tuple ``(images, labels, ...)``, transforming only the images.
    """

    def __init__(
        self,
        size: int,
        scale: tuple[float, float] = (0.25, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        flip_p: float = 0.5,
        generator: torch.Generator | None = None,
    ) -> None:
        self.size, self.scale, self.ratio, self.flip_p, self.generator = size, scale, ratio, flip_p, generator

    def __call__(self, batch):
        if isinstance(batch, tuple):
            return (self(batch[0]), *batch[1:])
        images = batch
        b, c, h, w = images.shape
        g = self.generator
        area = torch.empty(b).uniform_(*self.scale, generator=g)  # fraction of H·W
        aspect = torch.empty(b).uniform_(math.log(self.ratio[0]), math.log(self.ratio[1]), generator=g).exp()
        crop_w = (area * aspect * h / w).sqrt().clamp(max=1.0)  # fraction of W: crop_w·crop_h = area
        crop_h = (area / aspect * w / h).sqrt().clamp(max=1.0)  # and (crop_w·W)/(crop_h·H) = aspect
        # Crop centres in grid_sample's coordinates, where the image spans [-1, 1] in x and y.
        centre_x = (torch.rand(b, generator=g) * 2 - 1) * (1 - crop_w)
        centre_y = (torch.rand(b, generator=g) * 2 - 1) * (1 - crop_h)
        mirror = torch.where(torch.rand(b, generator=g) < self.flip_p, -1.0, 1.0)
        theta = torch.zeros(
            b, 2, 3
        )  # output (x, y) → input (crop_w·mirror·x + centre_x, crop_h·y + centre_y)
        theta[:, 0, 0], theta[:, 0, 2] = crop_w * mirror, centre_x
        theta[:, 1, 1], theta[:, 1, 2] = crop_h, centre_y
        theta = theta.to(images.device, images.dtype)
        grid = F.affine_grid(theta, [b, c, self.size, self.size], align_corners=False)  # (B, size, size, 2)
        return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def train_transform(
    size: int,
    *,
    generator: torch.Generator | None = None,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> Callable:
    """uint8 (B, 3, H, W) → float (B, 3, size, size): per-image random crop and flip, normalised.

    Pixels are scaled to [0, 1] and normalised with ``mean`` and ``std``, by default ImageNet's
    (what pretrained torchvision models expect, and a fine centring for training from scratch).
    Works on a batch or on a ``(images, labels)`` tuple, so it plugs into
    ``TensorLoader(transform=...)``.
    """
    from torchvision.transforms import v2  # here, not at the top: importing torchvision costs seconds

    return v2.Compose(
        [
            v2.ToDtype(torch.float32, scale=True),
            RandomResizedCropFlip(size, generator=generator),
            v2.Normalize(list(mean), list(std)),
        ]
    )


def eval_transform(
    size: int, *, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
) -> Callable:
    """uint8 (B, 3, H, W) → float (B, 3, size, size), with no randomness: resize the shorter side
    to ``size`` and crop the centre (both no-ops when the images are already size×size), then
    scale and normalise as ``train_transform`` does. A separate object from the training
    transform, so validation never sees augmentation."""
    from torchvision.transforms import v2

    return v2.Compose(
        [
            v2.Resize(size, antialias=True),
            v2.CenterCrop(size),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(list(mean), list(std)),
        ]
    )
