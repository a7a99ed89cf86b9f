"""Time for lesson 04's speed run to reach 99.0% MNIST test accuracy, over several seeds.

Each seed starts the clock before the IDX files are read (the data set is already in the cache),
trains ``MnistCNN(16, 32, 128)`` with the lesson's recipe and stops the clock at the first
half-epoch evaluation at ≥ 99.0%. Prints median, min and max. Usage:
``python benchmarks/mnist_cnn_time_to_99.py [--seeds 0 1 2]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import torch

from e2edl.course.lesson import RunConfig
from e2edl.experiments.mnist_cnn import SPEED, train_cnn
from e2edl.experiments.mnist_common import MNIST, time_to_accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            data = MNIST.load()
            cfg = RunConfig(out=Path(tmp) / f"seed{seed}", seed=seed, progress=False)
            _, history = train_cnn(data, cfg, "speed", SPEED["widths"], SPEED["epochs"], SPEED["shift"])
            seconds = time_to_accuracy(history.records, 0.99, offset=data.load_seconds)
            rows.append(
                (seed, seconds, history.last["val_accuracy"], history.last["elapsed"] + data.load_seconds)
            )
            shown = "never" if seconds is None else f"{seconds:.1f} s"
            print(
                f"seed {seed}: 99.0% at {shown}; final {rows[-1][2]:.4f} after {rows[-1][3]:.1f} s",
                flush=True,
            )
    reached = [s for _, s, _, _ in rows if s is not None]
    print(f"\n{torch.get_num_threads()} torch threads; {len(reached)}/{len(rows)} seeds reached 99.0%")
    if reached:
        print(
            f"time to 99.0% (data loading included): median {statistics.median(reached):.1f} s, "
            f"min {min(reached):.1f} s, max {max(reached):.1f} s"
        )


if __name__ == "__main__":
    main()
