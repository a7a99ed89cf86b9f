"""Our GPT training against nanoGPT's own ``train.py``, on the same machine, in one run.

nanoGPT's README gives a CPU run (4 layers, 4 heads, width 128, context 64, batch 12, 2,000
iterations); the gpt lesson's ``NANOGPT_CPU`` recipe is that configuration and ``FAST`` our
recipe for the same model shape. This script:

1. copies nanoGPT (``../shared/peers/nanogpt``, a pinned copy with its licence; skipped with a
   message when absent) and Tiny Shakespeare to a temporary folder, runs its ``prepare.py``, then
   its CPU command — its own code, timed as a subprocess;
2. scores nanoGPT's final checkpoint **with its own model code** (in a subprocess, from the
   temporary copy) on our fixed validation set: every complete window of 64 characters of the
   validation text (``e2edl.recipes.gpt.validation_batches``), float32;
3. (a) trains ours with exactly nanoGPT's configuration, float32, eager: the ratio of the median
   time per step (nanoGPT's own per-iteration times against ours, taken between optimizer
   steps) — goal: no slower;
4. (b) trains ours with ``FAST``, timed from building the model to its float32 validation score
   (compilation, if the recipe compiles, counted) — goal: at or below nanoGPT's validation loss in
   at most half nanoGPT's wall time;
5. prints both wall times, the validation losses, and our achieved GFLOP/s
   (``GPT.training_flops_per_token``) against this machine's measured float32 and bf16 matmul peaks.

Run it on a quiet machine (every other process slows one of the contenders)::

    E2EDL_MIRROR=/work/shared/data .venv/bin/python benchmarks/gpt_vs_nanogpt.py --threads 2
    ... --quick      # a smoke test: 60 iterations each, 128 validation windows

nanoGPT's code is run, never imported into the project and never copied into it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

from e2edl.data.fetch import fetch
from e2edl.data.text_windows import CharSplits
from e2edl.figures import Table
from e2edl.nn.gpt import NextTokenLoss
from e2edl.recipes.gpt import FAST, NANOGPT_CPU, train_gpt, validation_batches
from e2edl.train.fit import evaluate

ROOT = Path(__file__).resolve().parents[1]
PEER = ROOT.parent / "shared" / "peers" / "nanogpt"
NANOGPT_ARGS = [  # its README's CPU run
    "config/train_shakespeare_char.py", "--device=cpu", "--compile=False", "--eval_iters=20", "--log_interval=1",
    "--block_size=64", "--batch_size=12", "--n_layer=4", "--n_head=4", "--n_embd=128", "--dropout=0.0",
]  # fmt: skip
ITER_LINE = re.compile(r"^iter (\d+): loss ([\d.]+), time ([\d.]+)ms")
EVAL_LINE = re.compile(r"^step (\d+): train loss ([\d.]+), val loss ([\d.]+)")

# Run inside the temporary copy of nanoGPT: its model class, its checkpoint, our windows.
SCORE_NANOGPT = """
import json, pickle, sys
import torch
from model import GPT, GPTConfig  # nanoGPT's own model code, from this folder
torch.set_num_threads(int(sys.argv[3]))
checkpoint = torch.load(sys.argv[1], map_location="cpu", weights_only=False)
model = GPT(GPTConfig(**checkpoint["model_args"]))
model.load_state_dict({k.removeprefix("_orig_mod."): v for k, v in checkpoint["model"].items()})
model.eval()
windows = torch.load(sys.argv[2])
meta = pickle.load(open("data/shakespeare_char/meta.pkl", "rb"))
assert [meta["itos"][i] for i in range(len(meta["itos"]))] == windows["itos"], "another character numbering"
x, y = windows["x"], windows["y"]
total = 0.0
with torch.no_grad():
    for i in range(0, len(x), 128):
        _, loss = model(x[i : i + 128], y[i : i + 128])
        total += loss.item() * len(x[i : i + 128])
print(json.dumps({"val_loss": total / len(x), "iter_num": checkpoint["iter_num"]}))
"""


def matmul_peak(dtype: torch.dtype, n: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of an n×n matmul in ``dtype`` (best of ``repeats``), on this process's threads."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    a @ b  # warm-up
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def run_nanogpt(folder: Path, iterations: int, threads: int) -> dict:
    """nanoGPT's CPU command in ``folder``: wall seconds, its per-iteration times, its evaluations."""
    args = [*NANOGPT_ARGS, f"--max_iters={iterations}", f"--lr_decay_iters={iterations}"]
    if iterations < 250:  # --quick: evaluate (and save a checkpoint) within the short run
        args += [f"--eval_interval={iterations // 2}", f"--warmup_iters={iterations // 6}"]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    process = subprocess.run(
        [sys.executable, "train.py", *args], cwd=folder, env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - start
    if process.returncode != 0:
        raise RuntimeError(f"nanoGPT's train.py failed:\n{process.stderr[-3000:]}")
    step_ms = [float(m.group(3)) for line in process.stdout.splitlines() if (m := ITER_LINE.match(line))]
    evals = [
        (int(m.group(1)), float(m.group(3)))
        for line in process.stdout.splitlines()
        if (m := EVAL_LINE.match(line))
    ]
    return {"seconds": seconds, "step_ms": statistics.median(step_ms[5:]), "evals": evals}


def prepare_nanogpt(folder: Path) -> None:
    """Copy nanoGPT and the corpus into ``folder`` and run its ``prepare.py`` (offline)."""
    shutil.copytree(PEER, folder)
    data_dir = folder / "data" / "shakespeare_char"
    shutil.copy(fetch("tinyshakespeare") / "input.txt", data_dir / "input.txt")
    if importlib.util.find_spec("requests") is None:  # prepare.py imports it only to download
        prepare = data_dir / "prepare.py"
        prepare.write_text(prepare.read_text().replace("import requests\n", ""))
    subprocess.run([sys.executable, "prepare.py"], cwd=data_dir, check=True, capture_output=True)


def score_nanogpt(folder: Path, windows_file: Path, threads: int) -> dict:
    checkpoint = folder / "out-shakespeare-char" / "ckpt.pt"
    process = subprocess.run(
        [sys.executable, "-c", SCORE_NANOGPT, str(checkpoint), str(windows_file), str(threads)],
        cwd=folder, capture_output=True, text=True,
    )  # fmt: skip
    if process.returncode != 0:
        raise RuntimeError(f"scoring nanoGPT's checkpoint failed:\n{process.stderr[-3000:]}")
    return json.loads(process.stdout.strip().splitlines()[-1])


class StepClock:
    """The time between consecutive optimizer steps of every optimizer (a global hook)."""

    def __init__(self) -> None:
        self.stamps: list[float] = []
        self.handle = register_optimizer_step_post_hook(lambda *args: self.stamps.append(time.perf_counter()))

    def median_ms(self) -> float:
        gaps = [b - a for a, b in zip(self.stamps, self.stamps[1:])]
        return 1000 * statistics.median(gaps[5:] or gaps)

    def close(self) -> None:
        self.handle.remove()


def run_ours(data: CharSplits, recipe, val_loader) -> dict:
    """Train ``recipe`` (no run folder); wall seconds from building the model to its float32 score."""
    clock = StepClock()
    start = time.perf_counter()
    try:
        model, history = train_gpt(data, recipe, progress=False)
        val_loss = evaluate(model, val_loader, NextTokenLoss(), amp=False)["loss"]
    finally:
        clock.close()
    seconds = time.perf_counter() - start
    step_ms = clock.median_ms()
    tokens = recipe.batch_size * recipe.model.block_size
    return {
        "seconds": seconds, "step_ms": step_ms, "val_loss": val_loss,
        "gflops": model.training_flops_per_token() * tokens / (step_ms / 1000) / 1e9,
        "curve": [(r["step"], r["val_loss"]) for r in history.records],
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke test: a few dozen steps each")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    if not PEER.is_dir():
        print(f"skipped: nanoGPT's code is not at {PEER} (a pinned copy of karpathy/nanoGPT; see its README)")
        return
    torch.set_num_threads(args.threads)
    text_path = fetch("tinyshakespeare") / "input.txt"
    data = CharSplits.of(text_path.read_text(encoding="utf-8"))
    iterations = 60 if args.quick else NANOGPT_CPU.steps
    exact = replace(NANOGPT_CPU, steps=iterations, eval_every=iterations // 2 if args.quick else 250,
                    warmup_steps=iterations // 6 if args.quick else NANOGPT_CPU.warmup_steps)  # fmt: skip
    fast = replace(FAST, steps=40, warmup_steps=5) if args.quick else FAST
    fast = replace(fast, eval_every=fast.steps)  # no validation before the end: it would cost time
    windows = list(validation_batches(data, exact.model.block_size))
    x, y = torch.cat([w[0] for w in windows]), torch.cat([w[1] for w in windows])
    if args.quick:
        x, y = x[:128], y[:128]
    val_loader = [(x[i : i + 128], y[i : i + 128]) for i in range(0, len(x), 128)]
    print(f"{args.threads} thread(s); validation: {len(x):,} windows of {exact.model.block_size} characters")

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "nanogpt"
        prepare_nanogpt(folder)
        windows_file = Path(tmp) / "windows.pt"
        torch.save({"x": x, "y": y, "itos": data.vocabulary.itos}, windows_file)
        nanogpt = run_nanogpt(folder, iterations, args.threads)
        nanogpt.update(score_nanogpt(folder, windows_file, args.threads))
    print(f"nanoGPT: {nanogpt['seconds']:.1f} s, its own estimates {nanogpt['evals']}, "
          f"checkpoint of iteration {nanogpt['iter_num']}")  # fmt: skip

    ours_exact = run_ours(data, exact, val_loader)
    ours_fast = run_ours(data, fast, val_loader)
    peaks = {"float32": matmul_peak(torch.float32), "bfloat16": matmul_peak(torch.bfloat16)}
    rows = [
        {"run": "nanoGPT's train.py (its code)", "steps": iterations, "batch": 12, "wall s": nanogpt["seconds"],
         "ms/step": nanogpt["step_ms"], "val loss": nanogpt["val_loss"]},
        {"run": "ours, nanoGPT's configuration (fp32, eager)", "steps": exact.steps, "batch": exact.batch_size,
         "wall s": ours_exact["seconds"], "ms/step": ours_exact["step_ms"], "val loss": ours_exact["val_loss"],
         "GFLOP/s": ours_exact["gflops"]},
        {"run": "ours, FAST", "steps": fast.steps, "batch": fast.batch_size, "wall s": ours_fast["seconds"],
         "ms/step": ours_fast["step_ms"], "val loss": ours_fast["val_loss"], "GFLOP/s": ours_fast["gflops"]},
    ]  # fmt: skip
    print(Table(rows, title="Same machine, same validation windows (float32 scores)",
                formats={"wall s": ".1f", "ms/step": ".1f", "val loss": ".4f", "GFLOP/s": ".0f"}))  # fmt: skip
    step_ratio = ours_exact["step_ms"] / nanogpt["step_ms"]
    wall_ratio = ours_fast["seconds"] / nanogpt["seconds"]
    reached = ours_fast["val_loss"] <= nanogpt["val_loss"]
    print(f"\n(a) time per step, ours / nanoGPT's, same configuration: {step_ratio:.2f} (goal: <= 1)")
    print(f"(b) FAST's wall time / nanoGPT's: {wall_ratio:.2f} (goal: <= 0.5), val loss "
          f"{ours_fast['val_loss']:.4f} vs nanoGPT's {nanogpt['val_loss']:.4f}: "
          f"{'reached' if reached else 'NOT reached'}")  # fmt: skip
    print(f"matmul peak on this machine ({args.threads} threads, 2048²): float32 {peaks['float32']:.0f} GFLOP/s, "
          f"bf16 {peaks['bfloat16']:.0f} GFLOP/s; FAST achieved {ours_fast['gflops']:.0f} GFLOP/s "
          f"({ours_fast['gflops'] / peaks['bfloat16' if fast.amp else 'float32']:.0%} of its precision's peak)")  # fmt: skip


if __name__ == "__main__":
    main()
