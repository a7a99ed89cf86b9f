"""Time for the mnist-cnn lesson's speed run to reach 99.0% MNIST validation accuracy, over seeds.

Each seed starts the clock before the IDX files are read (the data set is already in the cache),
trains ``e2edl.recipes.mnist_cnn.SPEED`` with ``train_cnn`` and stops the clock at the first
half-epoch check of the validation split at >= 99.0%. It also scores each final network on the test
set once. Prints median, min and max. Usage:
``python benchmarks/mnist_cnn_time_to_99.py [--seeds 0 1 2] [--epochs 2]``.
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import replace

import torch

from e2edl.data.mnist import MNIST
from e2edl.recipes.mnist_cnn import SPEED, train_cnn
from e2edl.train.predict import predict_logits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=SPEED.epochs)
    args = parser.parse_args()
    recipe = replace(SPEED, epochs=args.epochs)
    reached = []
    for seed in args.seeds:
        data = MNIST.load()
        model, history = train_cnn(data, recipe, seed=seed, progress=False)
        seconds = history.seconds_to(0.99, offset=data.load_seconds)
        logits = predict_logits(model, data.test_loader(channels_last=True))
        test_accuracy = (logits.argmax(1) == data.y_test).float().mean().item()
        if seconds is not None:
            reached.append(seconds)
        shown = "never" if seconds is None else f"{seconds:.1f} s"
        print(
            f"seed {seed}: 99.0% validation accuracy at {shown}; at the end validation "
            f"{history.last['val_accuracy']:.4f}, test {test_accuracy:.4f}, "
            f"{history.last['elapsed'] + data.load_seconds:.1f} s",
            flush=True,
        )
    print(f"\n{torch.get_num_threads()} torch threads; {len(reached)}/{len(args.seeds)} seeds reached 99.0%")
    if reached:
        print(
            f"time to 99.0% (data loading included): median {statistics.median(reached):.1f} s, "
            f"min {min(reached):.1f} s, max {max(reached):.1f} s"
        )


if __name__ == "__main__":
    main()
