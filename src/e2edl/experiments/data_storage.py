"""The data-storage lesson's experiment: the same pet photos stored six ways, measured side by side,
and a versioned Deep Lake data set.

- **Side by side**: ``N`` photos (300 in quick mode, all 10,000 in full) are laid out as a folder of
  JPEGs with a truncated JPEG and an empty file among them, then built into every format of
  ``e2edl.data.formats`` (each builder must skip the two broken files) and read back with
  the same ``DataLoader`` settings, decoding and resizing to 128 px the same way: build time, bytes
  on disk, images/s of a shuffled epoch (median of 3, after a warm-up epoch, so the OS page cache
  is warm), CPU time per image, median latency of reading one random sample, and how well the
  epochs were shuffled (averaged over the 4 epochs read).
- **Deep Lake versions**: on the Deep Lake data set just measured, flip three labels and add a
  ``split`` column, commit, open the first version and compare; a TQL query; ``.pytorch()`` into a
  ``DataLoader`` with the training transform.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch.utils.data import DataLoader

from e2edl.course.claims import Claim
from e2edl.course.lesson import Lesson, RunConfig
from e2edl.data import load_pets, stratified_split
from e2edl.data.formats import (
    Settings,
    compare_formats,
    comparison_rows,
    make_source_folder,
    scan_image_folder,
)
from e2edl.data.formats.compare import TABLE_FORMATS, FormatResult, same_pixels
from e2edl.data.formats.deeplake_store import row_to_sample, version_round_trip
from e2edl.data.pets_images import train_transform
from e2edl.data.throughput import spread_sample
from e2edl.figures import Table

SETTINGS = Settings(size=128, batch_size=64, epochs=3, random_reads=100, shards=10, workers=0)
IMAGES = {"quick": 300, "full": 10_000}
BROKEN = {"truncated.jpg", "empty.jpg"}  # what make_source_folder adds
MAP_STYLE = ("folder", "cache", "hf", "deeplake")  # shuffled by the DataLoader's sampler
JPEG_FORMATS = ("folder", "hf", "webdataset", "webdataset-shuffled", "litdata", "deeplake")


def comparison_figure(results: list[FormatResult], images: int) -> plt.Figure:
    """Six panels, one bar per format: build time, size, images/s, CPU per image, random read, label
    autocorrelation. Purple: versioned (Deep Lake); green: the decoded cache; blue: the rest."""
    ran = [r for r in results if r.measured is not None][::-1]
    names = [r.format.name for r in ran]
    reads = [r.measured.random_read_ms for r in ran]
    panels = [  # title, values, bar labels, log scale
        ("build (s)", [r.built.seconds for r in ran], "{:.2f}", False),
        ("MB on disk", [r.bytes / 1e6 for r in ran], "{:.1f}", False),
        ("images/s, shuffled epoch (log)", [r.measured.images_per_second for r in ran], "{:,.0f}", True),
        ("CPU ms per image (log)", [r.measured.cpu_ms_per_image for r in ran], "{:.3f}", True),
        ("one random read (ms)", [ms or 0.0 for ms in reads], "{:.2f}", False),
        ("label autocorrelation in batches", [r.measured.autocorrelation for r in ran], "{:.2f}", False),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(17, 0.45 * len(ran) + 1.2), sharey=True)
    colours = ["tab:purple" if r.format.versioning else "tab:green" if r.format.key == "cache" else "tab:blue"
               for r in ran]  # fmt: skip
    for ax, (title, values, fmt, log) in zip(axes, panels):
        bars = ax.barh(names, values, color=colours)
        texts = [fmt.format(v) for v in values]
        if title.startswith("one random read"):
            texts = [t if ms is not None else "stream: none" for t, ms in zip(texts, reads)]
        ax.bar_label(bars, texts, fontsize=7, padding=2)
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=8)
        if log:
            ax.set_xscale("log")
        ax.margins(x=0.35)
    axes[-1].set_xlim(-0.3, 1.3)
    axes[-1].axvline(0, color="black", lw=0.5)
    fig.suptitle(f"{images:,} pet photos (+2 broken files), decoded to {SETTINGS.size} px, "
                 f"batches of {SETTINGS.batch_size}, {SETTINGS.workers} workers", fontsize=10)  # fmt: skip
    return fig


def deeplake_checks(path: Path, labels: list[int], size: int) -> dict:
    """Versions, a query and a training batch on the Deep Lake data set the comparison built."""
    import deeplake

    _, val = stratified_split(torch.tensor(labels), 0.2, seed=0)
    split = ["train"] * len(labels)
    for row in val.tolist():
        split[row] = "val"
    check = version_round_trip(path, changed_rows=[0, 1, 2], column="subset", values=split)
    ds = deeplake.open_read_only(str(path))
    dogs = ds.query("SELECT * WHERE label = 1")
    val_dogs = ds.query("SELECT * WHERE subset = 'val' AND label = 1")
    latest = ds["label"][:].tolist()
    loader = DataLoader(
        ds.pytorch(transform=lambda row: row_to_sample(row, size)), batch_size=16, shuffle=True
    )
    images, batch_labels, _ = next(iter(loader))
    batch = train_transform(size)(images)  # (16, 3, size, size) float, normalised
    return {
        "deeplake_earlier_version_unchanged": float(
            check.earlier_labels_unchanged
            and check.earlier_images_unchanged
            and check.earlier_lacks_new_column
        ),
        "deeplake_latest_has_changes": float(check.latest_has_changes),
        "deeplake_query_rows_match": float(
            len(dogs) == sum(latest) and len(val_dogs) == sum(y for y, s in zip(latest, split) if s == "val")
        ),
        "deeplake_train_batch_ok": float(
            tuple(batch.shape) == (16, 3, size, size)
            and batch.dtype == torch.float32
            and len(batch_labels) == 16
        ),
        "deeplake_versions": len(ds.history),
    }


def run(cfg: RunConfig) -> dict:
    settings = replace(SETTINGS, seed=cfg.seed)
    paths, labels, class_names = load_pets()
    paths, labels = spread_sample(paths, labels, IMAGES[cfg.mode])  # evenly spaced: both classes
    with tempfile.TemporaryDirectory(prefix="formats-", dir=cfg.out) as workdir:
        source = scan_image_folder(make_source_folder(paths, labels, class_names, Path(workdir) / "source"))
        results = compare_formats(source, workdir, settings, progress=cfg.progress)
        by_key = {r.format.key: r for r in results}
        ran = [r for r in results if r.measured is not None]
        metrics = {
            "formats_run": len(ran),
            "formats_unavailable": len(results) - len(ran),
            "broken_files_skipped_by_every_builder": float(
                all({name.split("/")[-1] for name, _ in r.built.skipped} == BROKEN for r in ran)
            ),
            "black_images": sum(r.measured.black_images for r in ran),
            "same_pixels_in_every_format": float(same_pixels(ran)),
            "every_epoch_complete": float(all(r.measured.complete for r in ran)),
        }
        for r in ran:
            key = r.format.key.replace("-", "_")
            metrics[f"images_per_second_{key}"] = r.measured.images_per_second
            metrics[f"autocorrelation_{key}"] = r.measured.autocorrelation
            metrics[f"bytes_vs_folder_{key}"] = r.bytes / by_key["folder"].bytes
        map_style = [by_key[k].measured.autocorrelation for k in MAP_STYLE if by_key[k].measured]
        metrics["map_style_max_abs_autocorrelation"] = max(abs(a) for a in map_style)
        folder_rate = by_key["folder"].measured.images_per_second
        metrics["cache_speedup_vs_folder"] = by_key["cache"].measured.images_per_second / folder_rate
        metrics["cache_cpu_saving_vs_folder"] = (
            by_key["folder"].measured.cpu_ms_per_image / by_key["cache"].measured.cpu_ms_per_image
        )
        metrics["slowest_jpeg_format_vs_folder"] = min(
            by_key[k].measured.images_per_second / folder_rate for k in JPEG_FORMATS if by_key[k].measured
        )
        if by_key["deeplake"].measured is not None:
            kept_labels = [
                label for path, label in zip(source.paths, source.labels) if path.name not in BROKEN
            ]
            metrics |= deeplake_checks(Path(workdir) / "deeplake", kept_labels, settings.size)
    table = Table(comparison_rows(results), formats=TABLE_FORMATS,
                  title=f"{len(paths):,} pet photos + 2 broken files, read at {settings.size} px in batches of "
                        f"{settings.batch_size} ({settings.workers} workers; median of {settings.epochs} "
                        "shuffled epochs after a warm-up one)")  # fmt: skip
    return {
        "metrics": metrics,
        "figures": {"formats": comparison_figure(results, len(paths))},
        "tables": {"formats": table},
        "skipped": {r.format.key: r.built.skipped for r in ran},
        "epoch_seconds": {r.format.key: r.measured.epoch_seconds for r in ran},
        "unavailable": {r.format.key: r.unavailable for r in results if r.unavailable},
    }


LESSON = Lesson(
    name="data-storage",
    title="Storing a data set: folders, caches, Arrow, shards, chunks and Deep Lake, measured",
    datasets=("pets",),
    claims=(
        Claim("formats_unavailable", "==", 0, 0, "every format's package is installed and works offline"),
        Claim("broken_files_skipped_by_every_builder", "==", 1, 1,
              "every builder skipped the truncated JPEG and the empty file"),
        Claim("black_images", "==", 0, 0, "no broken file became a black image"),
        Claim("same_pixels_in_every_format", "==", 1, 1, "every format gives back the same pixels for each key"),
        Claim("every_epoch_complete", "==", 1, 1, "every epoch of every format yields each image exactly once"),
        Claim("bytes_vs_folder_cache", ">=", 4, 4, "the decoded cache takes ≥ 4× the bytes of the JPEGs"),
        Claim("bytes_vs_folder_hf", "<=", 1.1, 1.1, "Arrow keeps the JPEG bytes: ≤ 1.1× the folder"),
        Claim("bytes_vs_folder_deeplake", "<=", 1.1, 1.1, "Deep Lake keeps the JPEG bytes: ≤ 1.1× the folder"),
        Claim("cache_cpu_saving_vs_folder", ">=", 5, 5,
              "reading the decoded cache costs ≤ 1/5 of the CPU time per image of decoding JPEGs"),
        Claim("map_style_max_abs_autocorrelation", "<=", 0.15, 0.05,
              "a sampler's full shuffle: no class clumping in batches"),
        Claim("autocorrelation_webdataset", ">=", 0.15, 0.15,
              "shards written in class order, buffer-shuffled: batches clump by class"),
        Claim("autocorrelation_webdataset_shuffled", "<=", 0.15, 0.05,
              "the same shards shuffled once when written: no clumping"),
        Claim("autocorrelation_litdata", ">=", 0.5, 0.5, "LitData chunks in class order clump too"),
        Claim("deeplake_earlier_version_unchanged", "==", 1, 1,
              "Deep Lake: the first version keeps its labels, images and columns after a commit"),
        Claim("deeplake_latest_has_changes", "==", 1, 1, "and the latest version has the changes"),
        Claim("deeplake_query_rows_match", "==", 1, 1, "TQL queries select exactly the matching rows"),
        Claim("deeplake_train_batch_ok", "==", 1, 1, ".pytorch() + DataLoader + train transform give a batch"),
        Claim("cache_speedup_vs_folder", ">=", None, 10,
              "decode-once cache ≥ 10× the images/s of the JPEG folder", kind="timing"),
        Claim("slowest_jpeg_format_vs_folder", ">=", None, 0.5,
              "every JPEG-storing format ≥ 0.5× the folder's images/s: decoding sets the pace", kind="timing"),
    ),
    run=run,
)  # fmt: skip
