"""Dogs vs Cats the Hugging Face way: the image folder as a ``datasets.DatasetDict``, split by
``datasets``, with transforms applied on the fly.

This is **its own split**, drawn by ``Dataset.train_test_split`` (20% of each class, seed 0): not
the one the resnet-from-scratch, transfer-learning and vit lessons share (``pets_split.Pets``), so
accuracies measured on the two are close in spirit, not comparable to the decimal.

Needs the ``hf`` extra (``datasets``); it is imported only when called.
"""

from __future__ import annotations

from pathlib import Path

from torchvision.transforms import v2

from e2edl.data.fetch import EXTRACTED, fetch
from e2edl.data.pets_images import is_readable_image
from e2edl.progress import progress_enabled

VAL_FRACTION, SPLIT_SEED = 0.2, 0


def pets_image_folder() -> Path:
    """The extracted ``PetImages`` folder (``Cat/*.jpg``, ``Dog/*.jpg``): cache, mirror or internet."""
    return fetch("pets") / EXTRACTED / "PetImages"


def pets_image_files(folder: Path | None = None) -> dict[str, list[str]]:
    """``imagefolder``'s ``data_files`` for the archive: every photo in the ``train`` split.

    Naming the files spares ``datasets`` from searching the folder with dozens of patterns for a
    train/test layout (about 650,000 file-system calls for these 10,000 photos); the labels still
    come from the folder names, ``Cat`` and ``Dog``.
    """
    folder = folder or pets_image_folder()
    return {"train": [str(folder / "Cat" / "*.jpg"), str(folder / "Dog" / "*.jpg")]}


def load_pets_splits(
    train_size: int | None = None, val_size: int | None = None, seed: int = SPLIT_SEED, progress: bool = True
):
    """``(DatasetDict with "train" and "test" parts, number of unreadable files dropped)``.

    ``imagefolder`` reads the folder layout into an ``image`` column (decoded only when an example
    is read) and a ``label`` column named after the folders. Files no image decoder can read (the
    original archive has a few) are dropped first, the ``datasets`` way: a ``filter`` over the
    file paths, cached after the first run. The "test" part is our validation part (``datasets``
    calls it test). ``train_size`` / ``val_size`` keep the first examples of each part (quick mode).
    """
    import datasets

    if not progress_enabled(progress):
        datasets.disable_progress_bars()
    dataset = datasets.load_dataset("imagefolder", data_files=pets_image_files(), split="train")
    files = dataset.cast_column("image", datasets.Image(decode=False))  # {"path": ..., "bytes": None}
    readable = files.filter(_readable, input_columns="image")
    unreadable = len(files) - len(readable)
    if unreadable:
        dataset = readable.cast_column("image", datasets.Image())
    splits = dataset.train_test_split(test_size=VAL_FRACTION, stratify_by_column="label", seed=seed)
    if train_size is not None:
        splits["train"] = splits["train"].select(range(train_size))
    if val_size is not None:
        splits["test"] = splits["test"].select(range(val_size))
    return splits, unreadable


def _readable(image: dict) -> bool:
    return is_readable_image(image["path"])


def image_transforms(processor, size: int):
    """``with_transform`` functions for training and validation: batch dict of lists in, dict out.

    Training: a random crop (50–100% of the photo) resized to ``size`` and a random flip, then the
    model's image processor (resize, rescale, normalise). Validation: the processor only — two
    separate functions, so validation never sees augmentation. Both return ``pixel_values``
    (B, 3, H, W) and ``labels``, the names the model's ``forward`` takes.
    """
    augment = v2.Compose([v2.RandomResizedCrop(size, scale=(0.5, 1.0)), v2.RandomHorizontalFlip()])

    def train(batch: dict) -> dict:
        images = [augment(image.convert("RGB")) for image in batch["image"]]
        return {
            "pixel_values": processor(images, return_tensors="pt")["pixel_values"],
            "labels": batch["label"],
        }

    def validation(batch: dict) -> dict:
        images = [image.convert("RGB") for image in batch["image"]]
        return {
            "pixel_values": processor(images, return_tensors="pt")["pixel_values"],
            "labels": batch["label"],
        }

    return train, validation
