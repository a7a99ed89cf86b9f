"""Images/s reading Dogs vs Cats JPEGs at 64 px: 0, 1, 2 DataLoader workers vs a decode-once cache.

The same measurement as the dataloaders lesson's table, with more images and repeats. Each row is the
median of ``--repeats`` full passes over ``--images`` files (batches of 64); rows with workers
include starting them, except the "persistent" row, which times later passes of workers already
running. The decode-once row is the one-off cost of decoding the same files into a tensor. The load
average is printed too: on a shared machine the numbers move with it. Printed, never asserted.
Usage: ``python benchmarks/pets_decoding.py [--images 2000] [--repeats 5] [--workers 0 1 2]``.
"""

from __future__ import annotations

import argparse
import os

import torch

from e2edl.data import load_pets
from e2edl.data.throughput import spread_sample, throughput_table
from e2edl.figures import Table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    paths, labels, _ = load_pets()
    paths, labels = spread_sample(paths, labels, args.images)
    before = os.getloadavg()[0]
    rows = throughput_table(
        paths, labels, size=64, batch_size=64, repeats=args.repeats, workers=tuple(args.workers)
    )
    after = os.getloadavg()[0]
    print(f"{os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} torch threads; "
          f"1-minute load average {before:.1f} before, {after:.1f} after")  # fmt: skip
    table = [{k: v for k, v in row.items() if k != "all_seconds"} for row in rows]
    print(Table(table, formats={"seconds": ".3f", "per_second": ",.0f"}).to_markdown())
    for row in rows:
        if "all_seconds" in row:
            spread = ", ".join(f"{s:.3f}" for s in row["all_seconds"])
            print(f"{row['way']}: every pass (s): {spread}")


if __name__ == "__main__":
    main()
