"""Two PyTorch processes on the same cores: why they crawl, and what the course sets instead.

Each worker trains the mnist-cnn lesson's speed-run network (``MnistCNN(16, 32, 128)``, batch 256,
channels-last, SGD with Nesterov momentum) for a fixed number of steps on real MNIST and prints its
seconds. The benchmark runs a worker alone, then two at once, under each OpenMP setting, interleaved,
and prints the medians and the ratio "two at once / alone" (fair sharing of the cores costs 2×):

- ``GOMP_SPINCOUNT=300000``: GNU OpenMP's own default, what plain ``import torch`` gets on Linux;
- ``GOMP_SPINCOUNT=3000``: what ``import e2edl`` sets (before torch is imported);
- ``OMP_WAIT_POLICY=PASSIVE``: idle threads sleep at once;
- ``OMP_NUM_THREADS=1``: one thread per process.

    python benchmarks/thread_sharing.py [--steps 200] [--repeats 3]

Run it on an otherwise idle machine: it measures contention, so any other load spoils it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

SETTINGS = {
    "GNU OpenMP default (spin 300,000)": {"GOMP_SPINCOUNT": "300000"},
    "e2edl default (spin 3,000)": {"GOMP_SPINCOUNT": "3000"},
    "OMP_WAIT_POLICY=PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"},
    "OMP_NUM_THREADS=1": {"OMP_NUM_THREADS": "1", "GOMP_SPINCOUNT": "3000"},
}

WORKER = """
import sys, time
import e2edl  # first: it sets the OpenMP spin before torch loads (unless the caller set one)
import torch
from torch import nn
from e2edl.data.mnist import MNIST
from e2edl.nn.cnn import MnistCNN

steps = int(sys.argv[1])
torch.manual_seed(0)
data = MNIST.load()
loader = data.train_loader(256, seed=0, channels_last=True)
model = MnistCNN(16, 32, 128).to(memory_format=torch.channels_last)
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
batches = iter(loader)
def step():
    global batches
    try:
        x, y = next(batches)
    except StopIteration:
        batches = iter(loader)
        x, y = next(batches)
    loss = nn.functional.cross_entropy(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
for _ in range(5):  # warm-up: first calls pick kernels
    step()
start = time.perf_counter()
for _ in range(steps):
    step()
print(time.perf_counter() - start)
"""


def run_workers(setting: dict, count: int, steps: int) -> list[float]:
    """Start ``count`` workers at once with this environment; their seconds each."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY", "OMP_NUM_THREADS")
    }
    env.update(setting, E2EDL_PROGRESS="0")
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(steps)], env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(count)
    ]
    outputs = [p.communicate()[0] for p in procs]
    if any(p.returncode for p in procs):
        raise SystemExit("a worker failed; is MNIST available (E2EDL_MIRROR)?")
    return [float(out.strip().splitlines()[-1]) for out in outputs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from e2edl.train.device import describe_machine, machine_summary

    print(f"machine: {machine_summary(describe_machine())}")
    print(f"{args.steps} training steps per worker, {args.repeats} repeats, settings interleaved\n")
    alone = {name: [] for name in SETTINGS}
    pair = {name: [] for name in SETTINGS}
    for repeat in range(args.repeats):
        for name, setting in SETTINGS.items():
            alone[name] += run_workers(setting, 1, args.steps)
            pair[name].append(max(run_workers(setting, 2, args.steps)))  # both must finish
            print(
                f"  repeat {repeat + 1}: {name:<36} alone {alone[name][-1]:6.2f} s, two at once {pair[name][-1]:6.2f} s"
            )
    reference = statistics.median(alone["GNU OpenMP default (spin 300,000)"])
    print(
        "\n| setting | alone (median s) | alone vs GNU default | two at once (median s) | two at once / alone |"
    )
    print("|---|---|---|---|---|")
    for name in SETTINGS:
        a, p = statistics.median(alone[name]), statistics.median(pair[name])
        print(f"| {name} | {a:.2f} | {a / reference:.2f}× | {p:.2f} | {p / a:.2f}× |")


if __name__ == "__main__":
    main()
