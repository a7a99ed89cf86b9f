"""The images every storage format is built from: a folder of JPEGs, one sub-folder per class.

``make_source_folder`` lays out some photos the way a scraped data set arrives (``root/cat/*.jpg``,
``root/dog/*.jpg``), with a truncated JPEG and an empty file among them. ``scan_image_folder``
lists such a folder in exactly the order torchvision's ``ImageFolder`` does (class folders sorted,
file names sorted as text), so a sample's *key* — its position among the readable files — is the
same in every format built from it. ``sort_out`` is the check every builder runs first: a file is
kept only if it decodes completely.
"""

from __future__ import annotations

import io
import os
import shutil
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import torch
from PIL import UnidentifiedImageError

from e2edl.data.pets_images import decode_image_file, try_decode_image

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
CHECK_SIZE = 32  # the check decodes at this size: JPEGs decode at 1/8 scale, but every byte is read


class ImageSource(NamedTuple):
    """Image files and their labels, in storage order; ``class_names[label]`` names a class."""

    paths: list[Path]
    labels: list[int]
    class_names: list[str]

    def __len__(self) -> int:
        return len(self.paths)


@dataclass
class Built:
    """What a builder made: where, how many samples, which files it left out (and why), how long it took."""

    format: str
    location: Path
    written: int
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file name, reason)
    seconds: float = 0.0


def make_source_folder(
    paths: Sequence[str | os.PathLike],
    labels: Sequence[int],
    class_names: Sequence[str],
    root: str | os.PathLike,
    *,
    broken: bool = True,
) -> Path:
    """Lay out ``paths`` as ``root/<class name>/<file name>`` and, with ``broken``, add two unreadable
    files: ``<first class>/truncated.jpg`` (the first eighth of a real JPEG) and
    ``<last class>/empty.jpg`` (zero bytes). Files are hard-linked where the file system allows
    (no copy), else copied. Returns ``root``."""
    if len(paths) != len(labels) or not paths:
        raise ValueError(
            f"give one label per path and at least one path ({len(paths)} paths, {len(labels)} labels)"
        )
    root = Path(root)
    for name in class_names:
        (root / name).mkdir(parents=True, exist_ok=True)
    for path, label in zip(paths, labels):
        target = root / class_names[label] / Path(path).name
        if target.exists():
            raise FileExistsError(f"{target} exists: two source files share the name {target.name}")
        try:
            os.link(path, target)
        except OSError:  # another file system, or links not allowed: copy
            shutil.copyfile(path, target)
    if broken:
        good = Path(paths[0]).read_bytes()
        (root / class_names[0] / "truncated.jpg").write_bytes(good[: len(good) // 8])
        (root / class_names[-1] / "empty.jpg").write_bytes(b"")
    return root


def scan_image_folder(root: str | os.PathLike) -> ImageSource:
    """Every image file under ``root/<class>/``, in ``ImageFolder``'s order (classes sorted, then
    file names sorted as text), readable or not: checking is the builder's job."""
    root = Path(root)
    class_names = sorted(entry.name for entry in os.scandir(root) if entry.is_dir())
    if not class_names:
        raise FileNotFoundError(f"{root} has no class folders; expected {root}/<class name>/<image files>")
    paths, labels = [], []
    for label, name in enumerate(class_names):
        for file_name in sorted(os.listdir(root / name)):
            if file_name.lower().endswith(IMAGE_SUFFIXES):
                paths.append(root / name / file_name)
                labels.append(label)
    return ImageSource(paths, labels, class_names)


def check_image(image: str | os.PathLike | bytes) -> str | None:
    """``None`` if the file (or the encoded bytes) decodes completely, else the reason it does not
    (``"empty file"``, ``"not an image"``, ``"OSError: image file is truncated ..."``).

    Decoding is the only reliable check: Pillow's ``Image.verify()`` reads the headers only, and
    passes a JPEG cut short in the middle of its pixel data.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module="PIL")  # broken EXIF: harmless
        if not isinstance(image, bytes):
            result = try_decode_image(image, CHECK_SIZE)
            return result if isinstance(result, str) else None
        if not image:
            return "empty file"
        try:
            decode_bytes(image, CHECK_SIZE)
        except UnidentifiedImageError:
            return "not an image"
        except Exception as error:  # a corrupt file can fail anywhere in a decoder
            return f"{type(error).__name__}: {error}"
        return None


def sort_out(source: ImageSource) -> tuple[ImageSource, list[tuple[str, str]]]:
    """``(readable, skipped)``: the files that decode, in the same order, and ``(file name, reason)``
    for each one that does not. Every builder starts with this."""
    kept_paths, kept_labels, skipped = [], [], []
    for path, label in zip(source.paths, source.labels):
        reason = check_image(path)
        if reason is None:
            kept_paths.append(path)
            kept_labels.append(label)
        else:
            skipped.append((f"{Path(path).parent.name}/{Path(path).name}", reason))
    return ImageSource(kept_paths, kept_labels, source.class_names), skipped


def decode_bytes(data: bytes, size: int) -> torch.Tensor:
    """Encoded image bytes → uint8 (3, size, size) RGB: the same decoding and resize as the files
    get (``e2edl.data.pets_images.decode_image_file``), so every format yields the same pixels."""
    return decode_image_file(io.BytesIO(data), size)
