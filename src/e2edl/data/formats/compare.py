"""Every storage format built from the same folder and read back the same way, measured side by side.

Each format is built from the same source (broken files included: every builder must skip them),
then read with one ``DataLoader`` setting (batches of ``batch_size``, ``workers`` processes),
decoding and resizing each JPEG with the same function, so differences come from the storage.
A format whose package cannot be imported is listed with the reason instead of numbers.
"""

from __future__ import annotations

import importlib
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from e2edl.data.formats.deeplake_store import DeepLakeReader, build_deeplake
from e2edl.data.formats.hf_arrow import HFArrowReader, build_hf_arrow
from e2edl.data.formats.image_folder import ImageFolderReader, build_image_folder
from e2edl.data.formats.litdata_chunks import LitDataReader, build_litdata
from e2edl.data.formats.measure import Measured, bytes_on_disk, measure_reader
from e2edl.data.formats.reader import FormatReader
from e2edl.data.formats.source import Built, ImageSource
from e2edl.data.formats.tensor_cache import TensorCacheReader, build_tensor_cache
from e2edl.data.formats.webdataset_shards import WebDatasetReader, build_webdataset
from e2edl.progress import progress_enabled


@dataclass(frozen=True)
class Settings:
    """How the formats are built and read. ``shards`` is both WebDataset's shard count and LitData's
    chunk count; WebDataset's shuffle buffer holds one shard."""

    size: int = 128  # px: every format yields (3, size, size) uint8
    batch_size: int = 64
    epochs: int = 3  # timed shuffled epochs, after one warm-up epoch
    random_reads: int = 100
    shards: int = 10
    workers: int = 0  # DataLoader processes; 0 reads in the main process
    seed: int = 0


@dataclass(frozen=True)
class StorageFormat:
    """One way to store the images: how to build it, how to open it, what it offers besides speed."""

    key: str
    name: str
    package: str | None  # the module it needs beyond PyTorch, if any
    versioning: bool  # commits, and reading an earlier version back
    object_storage: bool  # reads straight from s3:// / gs:// without downloading everything first
    build: Callable[[ImageSource, Path, Settings], Built]
    open: Callable[[Path, Settings], FormatReader]

    def unavailable(self) -> str | None:
        """``None`` if this format can run here, else why not (the import error, and the fix)."""
        if self.package is None:
            return None
        try:
            importlib.import_module(self.package)
        except Exception as error:  # ImportError, or a broken install failing in its own way
            return (f"{self.package} cannot be imported ({type(error).__name__}: {error}); "
                    "install the course's storage extra: pip install 'e2edl[storage]'")  # fmt: skip
        return None


FORMATS = (
    StorageFormat("folder", "folder of JPEGs + ImageFolder", None, False, False,
                  lambda source, out, s: build_image_folder(source, out),
                  lambda out, s: ImageFolderReader(out, s.size)),
    StorageFormat("cache", "decode-once tensor cache", None, False, False,
                  lambda source, out, s: build_tensor_cache(source, out, s.size),
                  lambda out, s: TensorCacheReader(out, s.size)),
    StorageFormat("hf", "Hugging Face datasets (Arrow)", "datasets", False, True,
                  lambda source, out, s: build_hf_arrow(source, out),
                  lambda out, s: HFArrowReader(out, s.size)),
    StorageFormat("webdataset", "WebDataset tar shards", "webdataset", False, True,
                  lambda source, out, s: build_webdataset(source, out, s.shards),
                  lambda out, s: WebDatasetReader(out, s.size)),
    StorageFormat("webdataset-shuffled", "WebDataset, shuffled when written", "webdataset", False, True,
                  lambda source, out, s: build_webdataset(source, out, s.shards, order_seed=s.seed),
                  lambda out, s: WebDatasetReader(out, s.size)),
    StorageFormat("litdata", "LitData optimize + StreamingDataset", "litdata", False, True,
                  lambda source, out, s: build_litdata(source, out, s.shards),
                  lambda out, s: LitDataReader(out, s.size)),
    StorageFormat("deeplake", "Deep Lake 4", "deeplake", True, True,
                  lambda source, out, s: build_deeplake(source, out),
                  lambda out, s: DeepLakeReader(out, s.size)),
)  # fmt: skip


def get_format(key: str) -> StorageFormat:
    for storage_format in FORMATS:
        if storage_format.key == key:
            return storage_format
    raise KeyError(f"no storage format {key!r}; the formats are {', '.join(f.key for f in FORMATS)}")


@dataclass
class FormatResult:
    """One format's row: built and measured, or the reason it could not run."""

    format: StorageFormat
    built: Built | None = None
    bytes: int | None = None
    measured: Measured | None = None
    unavailable: str | None = None


def compare_formats(
    source: ImageSource,
    workdir: str | Path,
    settings: Settings = Settings(),
    formats: Sequence[StorageFormat] = FORMATS,
    progress: bool = True,
) -> list[FormatResult]:
    """Build each format from ``source`` into ``workdir/<key>`` (replacing what is there), open it
    and measure it. Formats that cannot run here come back with ``unavailable`` set."""
    workdir = Path(workdir)
    results = []
    bar = tqdm(formats, desc="formats", unit="format", disable=not progress_enabled(progress))
    for storage_format in bar:
        bar.set_postfix_str(storage_format.key)
        reason = storage_format.unavailable()
        if reason is not None:
            results.append(FormatResult(storage_format, unavailable=reason))
            continue
        out = workdir / storage_format.key
        shutil.rmtree(out, ignore_errors=True)
        built = storage_format.build(source, out, settings)
        reader = storage_format.open(out, settings)
        measured = measure_reader(reader, settings.batch_size, settings.epochs, settings.random_reads,
                                  settings.seed, settings.workers)  # fmt: skip
        results.append(FormatResult(storage_format, built, bytes_on_disk(out), measured))
    return results


def same_pixels(results: Sequence[FormatResult]) -> bool:
    """Every measured format yielded the same images (CRC-32 of the pixels) under the same keys."""
    checksums = [r.measured.checksums for r in results if r.measured is not None]
    return bool(checksums) and all(c == checksums[0] for c in checksums)


def comparison_rows(results: Sequence[FormatResult]) -> list[dict]:
    """One row per format for ``e2edl.figures.Table``; a format that could not run says why."""
    rows = []
    for r in results:
        row = {"format": r.format.name}
        if r.measured is None:
            row["skipped because"] = r.unavailable
            rows.append(row)
            continue
        m = r.measured
        row |= {
            "build s": r.built.seconds,
            "MB on disk": r.bytes / 1e6,
            "images/s": m.images_per_second,
            "CPU ms/image": m.cpu_ms_per_image,
            "random read ms": m.random_read_ms if m.random_read_ms is not None else "— (stream)",
            "rank displacement": m.rank_displacement,
            "label autocorrelation": m.autocorrelation,
            "versions": "yes" if r.format.versioning else "no",
            "streams from object storage": "yes" if r.format.object_storage else "no",
            "broken files skipped": len(r.built.skipped),
        }
        rows.append(row)
    return rows


TABLE_FORMATS = {
    "build s": ".2f",
    "MB on disk": ".1f",
    "images/s": ",.0f",
    "CPU ms/image": ".3f",
    "random read ms": ".2f",
    "rank displacement": ".2f",
    "label autocorrelation": ".2f",
}
