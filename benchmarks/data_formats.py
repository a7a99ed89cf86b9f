"""Every storage format of the data-storage lesson on the same pet photos: build time, bytes, images/s.

The lesson's measurement (``e2edl.data.formats.compare.compare_formats``) with settings you choose:
``--images`` photos (evenly spread over both classes) plus a truncated JPEG and an empty file, each
format built from that folder and read back at ``--size`` px in batches of ``--batch-size`` with
``--workers`` DataLoader processes. images/s is the median of ``--epochs`` shuffled epochs after a
warm-up epoch (the OS file cache is warm); CPU ms/image counts this process only, so it means
something with ``--workers 0`` alone. The load average is printed before and after: on a shared
machine the wall-clock numbers move with it. Printed (and written as JSON with ``--json``), never
asserted.

Usage: ``python benchmarks/data_formats.py [--images 10000] [--epochs 3] [--workers 0]
[--formats folder cache ...] [--keep DIR] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
from dataclasses import asdict
from pathlib import Path

import torch

from e2edl.data import load_pets
from e2edl.data.formats import (
    FORMATS,
    Settings,
    compare_formats,
    comparison_rows,
    make_source_folder,
    scan_image_folder,
)
from e2edl.data.formats.compare import TABLE_FORMATS, same_pixels
from e2edl.data.throughput import spread_sample
from e2edl.figures import Table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--shards", type=int, default=10)
    parser.add_argument("--random-reads", type=int, default=100)
    parser.add_argument(
        "--formats", nargs="+", choices=[f.key for f in FORMATS], default=[f.key for f in FORMATS]
    )
    parser.add_argument(
        "--keep", type=Path, help="build into this folder and keep it (default: a temporary one)"
    )
    parser.add_argument("--json", type=Path, help="also write the rows, settings and machine here")
    args = parser.parse_args()
    settings = Settings(size=args.size, batch_size=args.batch_size, epochs=args.epochs,
                        random_reads=args.random_reads, shards=args.shards, workers=args.workers)  # fmt: skip
    formats = [f for f in FORMATS if f.key in args.formats]
    paths, labels, class_names = load_pets()
    paths, labels = spread_sample(paths, labels, args.images)
    before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="data-formats-") as tmp:
        workdir = args.keep or Path(tmp)
        source = scan_image_folder(make_source_folder(paths, labels, class_names, workdir / "source"))
        results = compare_formats(source, workdir, settings, formats)
    after = os.getloadavg()[0]
    machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
               f"1-minute load average {before:.1f} before, {after:.1f} after")  # fmt: skip
    rows = comparison_rows(results)
    print(f"{len(paths):,} photos + 2 broken files; {settings}; {machine}")
    print(Table(rows, formats=TABLE_FORMATS).to_markdown())
    print("same pixels in every format:", same_pixels(results))
    for r in results:
        if r.measured is not None:
            seconds = ", ".join(f"{s:.3f}" for s in r.measured.epoch_seconds)
            print(
                f"{r.format.key}: epoch seconds {seconds}; every image once per epoch: {r.measured.complete}"
            )
    if args.json:
        args.json.write_text(
            json.dumps({"settings": asdict(settings), "machine": machine, "rows": rows}, indent=1)
        )


if __name__ == "__main__":
    main()
