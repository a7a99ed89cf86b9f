"""Two trainings at once in bf16 autocast on a CPU: the case the course's thread settings do not fix.

Each worker trains torchvision's ResNet-18 (the resnet-from-scratch lesson's network, 64 px,
batch 64, channels-last, AdamW) for a few steps on random data and prints its seconds per step.
The benchmark runs a worker alone, then two at once, in float32 and in bf16 autocast, with torch's
default threads, and then bf16 with ``OMP_NUM_THREADS=1`` for each worker. Fair sharing of 2 cores
costs 2× per step. On the Intel Xeon with AMX where it was written, float32 shared fairly, bf16
with 2 threads each ran about 25× slower, and one thread each brought the pair back to one thread's
speed (see the README, "Two settings `import e2edl` makes").

    python benchmarks/bf16_sharing.py [--steps 6]

Run it on an otherwise idle machine: it measures contention, so any other load spoils it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time


def worker(dtype: str, steps: int) -> None:
    import e2edl  # noqa: F401, I001 — the course's thread settings, before torch

    import torch
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=2).to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randn(64, 3, 64, 64).to(memory_format=torch.channels_last)
    y = torch.randint(0, 2, (64,))

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bf16"):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step(), step()  # warm-up: kernels chosen, buffers allocated
    start = time.perf_counter()
    for _ in range(steps):
        step()
    print(f"{(time.perf_counter() - start) / steps:.3f}", flush=True)


def seconds_per_step(dtype: str, steps: int, copies: int, threads: int | None) -> list[float]:
    env = dict(os.environ)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    command = [sys.executable, __file__, "--worker", dtype, "--steps", str(steps)]
    workers = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True) for _ in range(copies)]
    return [float(w.communicate()[0].strip().splitlines()[-1]) for w in workers]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--worker", choices=["fp32", "bf16"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.steps)
        return
    print(f"{os.cpu_count()} cores; seconds per training step of ResNet-18 at 64 px, batch 64")
    print(f"{'setting':<34} {'alone':>7} {'two at once':>14} {'ratio':>6}")
    for dtype, threads in (("fp32", None), ("bf16", None), ("bf16", 1)):
        alone = seconds_per_step(dtype, args.steps, 1, threads)[0]
        pair = seconds_per_step(dtype, args.steps, 2, threads)
        label = f"{dtype}, {'default threads' if threads is None else f'{threads} thread each'}"
        both = " / ".join(f"{s:.2f}" for s in pair)
        print(f"{label:<34} {alone:>7.3f} {both:>14} {max(pair) / alone:>6.1f}")


if __name__ == "__main__":
    main()
