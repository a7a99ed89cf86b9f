"""What ``fit`` costs over a plain training loop, and (on a GPU) how often each waits for the device.

The mnist-cnn lesson's CNN (``MnistCNN(16, 32, 128)``, channels-last), batches of 256, SGD with
Nesterov momentum, one epoch of MNIST's 55,000 training images: through ``fit`` (no validation
data, no run folder, no progress bar, float32 like the loop) and through a plain ten-line loop, in
one process, alternately (fit, loop, fit, loop, ...) and from the same seed each time. Prints every
repeat (wall-clock and CPU seconds), the medians, the median of the paired ratios fit / loop (goal:
at most 1.03 on a CPU), the ratio of the fastest repeats, and whether both ended with the same
weights. A short untimed stretch of each runs first, so the first repeat does not pay for warming
up.

On a GPU it then profiles a short stretch of each with ``torch.profiler`` and prints the
device→host synchronisations per step (``cudaStreamSynchronize`` and friends, and the
``aten::_local_scalar_dense`` behind every ``.item()``). On a CPU that part needs a GPU and is
skipped, unless ``--profile-on-cpu`` asks for the host reads alone (the ``.item()`` calls that
become synchronisations on a GPU).

Usage: ``E2EDL_MIRROR=... OMP_NUM_THREADS=1 python benchmarks/fit_overhead.py [--repeats 7]``
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import time

import torch
from torch import nn

from e2edl.data.mnist import MNIST
from e2edl.figures import Table
from e2edl.nn.cnn import MnistCNN
from e2edl.train import fit, pick_device, seed_everything
from e2edl.train.device import describe_machine, machine_summary

BATCH, LR, MOMENTUM, WEIGHT_DECAY, LABEL_SMOOTHING, SEED = 256, 0.1, 0.9, 5e-4, 0.1, 0
SYNC_EVENTS = (
    "cudaStreamSynchronize",
    "cudaDeviceSynchronize",
    "cudaEventSynchronize",
    "aten::_local_scalar_dense",
)


class FirstBatches:
    """The first ``n`` batches of a loader (for the warm-up and the profiled stretch)."""

    def __init__(self, loader, n: int) -> None:
        self.loader, self.n = loader, min(n, len(loader))

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        return itertools.islice(iter(self.loader), self.n)

    def set_epoch(self, epoch: int) -> None:
        self.loader.set_epoch(epoch)


def fresh_setup(device: torch.device) -> tuple[nn.Module, torch.optim.Optimizer, nn.Module]:
    """The lesson's model and optimiser, from the same seed every time."""
    seed_everything(SEED)
    model = MnistCNN(16, 32, 128).to(device=device, memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=LR, momentum=MOMENTUM, nesterov=True, weight_decay=WEIGHT_DECAY
    )
    return model, optimizer, nn.CrossEntropyLoss(label_smoothing=LABEL_SMOOTHING)


def train_with_fit(loader, device: torch.device, amp: bool | None = False) -> nn.Module:
    model, optimizer, loss_fn = fresh_setup(device)
    fit(
        model, loader, epochs=1, loss_fn=loss_fn, optimizer=optimizer, device=device, amp=amp,
        seed=SEED, progress=False,
    )  # fmt: skip
    return model


def train_with_loop(loader, device: torch.device) -> nn.Module:
    model, optimizer, loss_fn = fresh_setup(device)
    model.train()
    loader.set_epoch(0)
    for inputs, targets in loader:
        inputs, targets = inputs.to(device, non_blocking=True), targets.to(device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
    return model


def timed(train, *args) -> tuple[float, float, nn.Module]:
    """(wall seconds, CPU seconds of this process, the trained model)."""
    device = args[1]
    if device.type == "cuda":
        torch.cuda.synchronize()
    wall, cpu = time.perf_counter(), time.process_time()
    model = train(*args)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - wall, time.process_time() - cpu, model


def max_difference(a: nn.Module, b: nn.Module) -> float:
    sa, sb = a.state_dict(), b.state_dict()
    return max((sa[k].double() - sb[k].double()).abs().max().item() for k in sa)


def count_syncs(train, loader, device: torch.device, steps: int) -> dict[str, float]:
    """Profile ``steps`` steps of ``train``; each synchronisation event's count per step."""
    activities = [torch.profiler.ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    stretch = FirstBatches(loader, steps)
    train(FirstBatches(loader, 5), device)  # warm up outside the profile
    with torch.profiler.profile(activities=activities) as prof:
        train(stretch, device)
        if device.type == "cuda":
            torch.cuda.synchronize()  # ours, after the stretch: counted once, not per step
    names = SYNC_EVENTS if device.type == "cuda" else ("aten::_local_scalar_dense",)
    counts = {e.key: e.count for e in prof.key_averages() if e.key in names}
    return {name: counts.get(name, 0) / len(stretch) for name in names}


def load_average(when: str) -> str:
    """The machine's load (other processes slow the timings down; ratios suffer less)."""
    one, five, fifteen = os.getloadavg()
    return f"load average {when}: {one:.2f}, {five:.2f}, {fifteen:.2f} (1, 5, 15 min; {os.cpu_count()} cores)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="pairs of timed epochs (fit, loop)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, ...")
    parser.add_argument("--profile-steps", type=int, default=50)
    parser.add_argument("--profile-on-cpu", action="store_true", help="count host reads on a CPU")
    args = parser.parse_args()
    device = pick_device(args.device)
    print(f"machine: {machine_summary(describe_machine())}")
    print(f"device: {device}; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '(unset)')}")
    print(load_average("at the start"))

    data = MNIST.load()
    loader = data.train_loader(BATCH, seed=SEED, channels_last=True)
    print(f"{len(data.x_train)} training images, {len(loader)} steps of {BATCH} per epoch")
    train_with_fit(FirstBatches(loader, 20), device)  # warm-up, untimed
    train_with_loop(FirstBatches(loader, 20), device)

    rows, differences = [], []
    for repeat in range(1, args.repeats + 1):
        fit_wall, fit_cpu, fit_model = timed(train_with_fit, loader, device)
        loop_wall, loop_cpu, loop_model = timed(train_with_loop, loader, device)
        differences.append(max_difference(fit_model, loop_model))
        rows.append(
            {
                "repeat": repeat,
                "fit wall s": fit_wall,
                "loop wall s": loop_wall,
                "wall ratio": fit_wall / loop_wall,
                "fit CPU s": fit_cpu,
                "loop CPU s": loop_cpu,
                "CPU ratio": fit_cpu / loop_cpu,
            }
        )
        print(
            f"repeat {repeat}: fit {fit_wall:.2f} s, loop {loop_wall:.2f} s wall "
            f"(ratio {fit_wall / loop_wall:.3f}); CPU {fit_cpu:.2f} s vs {loop_cpu:.2f} s",
            flush=True,
        )
    median = {key: statistics.median(r[key] for r in rows) for key in rows[0] if key != "repeat"}
    fastest = {key: min(r[key] for r in rows) for key in rows[0] if key != "repeat"}
    fastest["wall ratio"] = fastest["fit wall s"] / fastest["loop wall s"]
    fastest["CPU ratio"] = fastest["fit CPU s"] / fastest["loop CPU s"]
    rows += [{"repeat": "median", **median}, {"repeat": "fastest", **fastest}]
    formats = {key: ".3f" if "ratio" in key else ".2f" for key in rows[0] if key != "repeat"}
    print()
    print(Table(rows, title="One epoch of the mnist-cnn lesson's CNN: fit vs a plain loop", formats=formats))
    print(
        f"\nmedian ratio fit / loop: {median['wall ratio']:.3f} wall-clock, {median['CPU ratio']:.3f} CPU time "
        f"(ratio of the medians: {median['fit wall s'] / median['loop wall s']:.3f}); goal <= 1.03"
    )
    print(
        f"fastest fit / fastest loop: {fastest['wall ratio']:.3f} wall-clock, {fastest['CPU ratio']:.3f} CPU time "
        "(other processes only ever add time, so on a busy machine the fastest repeats are the fairest pair)"
    )
    same = max(differences) == 0.0
    print(
        "final weights of fit and the loop: "
        + ("identical, bit for bit, in every repeat" if same else f"differ by at most {max(differences):.3g}")
    )
    print(load_average("at the end"))

    if device.type != "cuda" and not args.profile_on_cpu:
        print("\nsynchronisations per step: this part needs a GPU (no CUDA device here); skipped")
        return
    what = "synchronisations" if device.type == "cuda" else "host reads (CPU: no device to wait for)"
    print(f"\n{what} per step, over {args.profile_steps} profiled steps:")
    sync_rows = [
        {"run": "plain loop", **count_syncs(train_with_loop, loader, device, args.profile_steps)},
        {"run": "fit, float32", **count_syncs(train_with_fit, loader, device, args.profile_steps)},
    ]
    if device.type == "cuda":
        fit_amp = lambda batches, dev: train_with_fit(batches, dev, amp=None)  # noqa: E731
        sync_rows.append(
            {"run": "fit, default AMP", **count_syncs(fit_amp, loader, device, args.profile_steps)}
        )
    print(Table(sync_rows, formats={name: ".3f" for name in SYNC_EVENTS}))
    print(
        "fit reads the loss once per record (here one, at the end of the stretch): 2 reads in all, "
        f"{2 / args.profile_steps:.3f} per step"
    )


if __name__ == "__main__":
    main()
