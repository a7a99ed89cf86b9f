"""Samples per second of two ways to feed MNIST to a model, measured in one run.

1. The course's path: the IDX files parsed once into uint8 tensors, batches sliced out of them and
   converted to normalised float32 a whole batch at a time (``e2edl.data.load_mnist`` + ``TensorLoader``).
2. The tutorial path: ``torchvision.datasets.MNIST`` with ``ToTensor`` (one PIL image per sample)
   + ``DataLoader``, with 0 and 2 worker processes.

Each path iterates one shuffled epoch of the 60,000 training images in batches of 128, three
times; the table shows the median. Usage: ``python benchmarks/mnist_data_path.py [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from e2edl.data import TensorLoader, fetch, load_mnist
from e2edl.data.batch_transforms import MNIST_MEAN, MNIST_STD, BatchNormalize

BATCH = 128


def epoch_seconds(loader) -> float:
    start = time.perf_counter()
    for images, _labels in loader:
        assert images.dtype == torch.float32 and images.shape[1:] == (1, 28, 28)
    return time.perf_counter() - start


def course_loader(images: torch.Tensor, labels: torch.Tensor) -> TensorLoader:
    return TensorLoader(images, labels, batch_size=BATCH, shuffle=True, transform=BatchNormalize())


def torchvision_root() -> Path:
    """torchvision expects the decompressed IDX files in ``ROOT/MNIST/raw``; make them from our cache."""
    root = Path(tempfile.mkdtemp(prefix="mnist-torchvision-"))
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for gz in fetch("mnist", progress=False).glob("*.gz"):
        with gzip.open(gz) as src, open(raw / gz.stem, "wb") as dst:
            shutil.copyfileobj(src, dst)
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)

    start = time.perf_counter()
    images, labels = load_mnist("train")
    load_seconds = time.perf_counter() - start

    root = torchvision_root()
    to_tensor = transforms.Compose([transforms.ToTensor(), transforms.Normalize((MNIST_MEAN,), (MNIST_STD,))])
    dataset = datasets.MNIST(root, train=True, transform=to_tensor, download=False)
    candidates = {
        "e2edl TensorLoader (batched transform)": lambda: course_loader(images, labels),
        "torchvision MNIST + DataLoader, 0 workers": lambda: DataLoader(dataset, BATCH, shuffle=True),
        "torchvision MNIST + DataLoader, 2 workers": lambda: DataLoader(
            dataset, BATCH, shuffle=True, num_workers=2, persistent_workers=False
        ),
    }
    rows = []
    for name, make in candidates.items():
        times = [epoch_seconds(make()) for _ in range(args.repeats)]
        rows.append((name, statistics.median(times), min(times), max(times)))
    shutil.rmtree(root)

    ours = rows[0][1]
    n = len(images)
    print(
        f"MNIST training set, {n} images, batch {BATCH}, median of {args.repeats} epochs, "
        f"{torch.get_num_threads()} torch threads"
    )
    print(f"(parsing the IDX files into tensors took {load_seconds:.2f} s once)\n")
    print(f"{'path':<44} {'samples/s':>11} {'epoch s (min-max)':>20} {'vs e2edl':>9}")
    for name, median, low, high in rows:
        print(f"{name:<44} {n / median:>11,.0f} {median:>8.2f} ({low:.2f}-{high:.2f}) {median / ours:>8.1f}x")
    slowest_ratio = min(median for _, median, _, _ in rows[1:]) / ours
    print(f"\nthe course's path is {slowest_ratio:.1f}x the faster torchvision path (target >= 10x)")


if __name__ == "__main__":
    main()
