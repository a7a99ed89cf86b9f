"""Deep Lake 4: a columnar, versioned data set (images, labels, any other columns) on a local path
or in object storage (``s3://``, ``gcs://``, ``azure://``, ``al://`` for Activeloop's service).

Columns are typed: ``types.Image(sample_compression="jpg")`` stores each JPEG's bytes as they are
and decodes on read (Deep Lake's own decoder); ``get_bytes`` returns the stored bytes. Every change
is recorded; ``commit`` makes a version, and any earlier version opens read-only, unchanged. A SQL
dialect (TQL) selects rows; ``.pytorch(transform)`` turns a data set or a query's result into a
map-style PyTorch ``Dataset``.

Deep Lake checks nothing when a JPEG is appended, and reading a truncated one back gives an image
and no error (all black, or noise: it varies from read to read); so the builder checks
every file first, as every builder here does.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch

from e2edl.data.formats.reader import FormatReader
from e2edl.data.formats.source import Built, ImageSource, decode_bytes, sort_out

APPEND_BATCH = 500  # rows per append: one call per row would cost a round trip each


def pets_schema() -> dict:
    """Column name → Deep Lake type: the JPEG (stored as it is), label, file name, file size, key."""
    from deeplake import types

    return {
        "image": types.Image(dtype="uint8", sample_compression="jpg"),
        "label": types.Int64(),
        "file_name": types.Text(),
        "file_size": types.Int64(),  # bytes of the JPEG file
        "key": types.Int64(),  # position in the source: the same key in every format
    }


def build_deeplake(source: ImageSource, out: str | os.PathLike, message: str | None = None) -> Built:
    """Check ``source``, create a Deep Lake data set at ``out`` with ``pets_schema()``, append the
    readable images in batches and commit. ``out`` is a local folder here; the same call takes
    ``s3://bucket/path`` and friends (with ``creds=``)."""
    import deeplake

    start = time.perf_counter()
    readable, skipped = sort_out(source)
    ds = deeplake.create(str(out), schema=pets_schema())
    ds.metadata["class_names"] = list(source.class_names)
    for first in range(0, len(readable), APPEND_BATCH):
        paths = readable.paths[first : first + APPEND_BATCH]
        ds.append({
            "image": [Path(path).read_bytes() for path in paths],
            "label": readable.labels[first : first + APPEND_BATCH],
            "file_name": [Path(path).name for path in paths],
            "file_size": [Path(path).stat().st_size for path in paths],
            "key": list(range(first, first + len(paths))),
        })  # fmt: skip
    ds.commit(message or f"{len(readable)} images from {Path(source.paths[0]).parents[1].name}")
    return Built("Deep Lake", Path(out), len(readable), skipped, time.perf_counter() - start)


def row_to_sample(row, size: int) -> tuple[torch.Tensor, int, int]:
    """A Deep Lake row → ``(image, label, key)``, decoding the stored JPEG bytes like every format."""
    return decode_bytes(row.get_bytes("image"), size), int(row["label"]), int(row["key"])


class DeepLakeReader(FormatReader):
    """The data set opened read-only; ``.pytorch(transform)`` gives the map-style ``Dataset``."""

    def __init__(self, out: str | os.PathLike, size: int) -> None:
        import deeplake

        self.ds = deeplake.open_read_only(str(out))
        self.torch_dataset = self.ds.pytorch(transform=partial(row_to_sample, size=size))
        self.size = size

    def __len__(self) -> int:
        return len(self.ds)

    def dataset(self, epoch: int = 0, seed: int = 0):
        return self.torch_dataset

    def read(self, index: int) -> tuple[torch.Tensor, int]:
        image, label, _ = self.torch_dataset[index]
        return image, label


@dataclass(frozen=True)
class VersionCheck:
    """What ``version_round_trip`` found, comparing the first version with the latest."""

    first_version: str
    latest_version: str
    rows: int
    changed_rows: list[int]
    earlier_labels_unchanged: bool  # the first version still has every original label
    earlier_images_unchanged: bool  # and every image byte
    earlier_lacks_new_column: bool
    latest_has_changes: bool  # the latest has the new labels and the new column


def version_round_trip(
    path: str | os.PathLike, changed_rows: list[int], column: str, values: list
) -> VersionCheck:
    """On the committed data set at ``path``: flip the labels (0 ↔ 1) of ``changed_rows``, add a text
    ``column`` holding ``values``, commit; then open the first version and compare it with the latest."""
    import deeplake
    from deeplake import types

    ds = deeplake.open(str(path))
    first = ds.version
    original_labels = ds["label"][:].tolist()
    original_images = ds["image"].get_bytes(list(range(len(ds))))
    for row in changed_rows:
        ds[row]["label"] = 1 - original_labels[row]
    ds.add_column(column, types.Text())
    ds[column][0 : len(ds)] = list(values)
    ds.commit(f"flip {len(changed_rows)} labels, add column {column!r}")
    earlier = ds.history[first].open()
    names = [c.name for c in earlier.schema.columns]
    expected = list(original_labels)
    for row in changed_rows:
        expected[row] = 1 - expected[row]
    return VersionCheck(
        first_version=first,
        latest_version=ds.version,
        rows=len(ds),
        changed_rows=list(changed_rows),
        earlier_labels_unchanged=earlier["label"][:].tolist() == original_labels,
        earlier_images_unchanged=earlier["image"].get_bytes(list(range(len(earlier)))) == original_images,
        earlier_lacks_new_column=column not in names,
        latest_has_changes=ds["label"][:].tolist() == expected and list(ds[column][:]) == list(values),
    )
