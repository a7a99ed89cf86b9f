"""A lost worker, survived: ``torchrun --max-restarts 1``, one of two workers killed with SIGKILL in
the middle of an epoch, and the restarted group ends with the weights of an uninterrupted run.

Two halves:

- ``python -m e2edl.distributed.lost_worker RUN_DIR [--epochs E] [--slow S]`` is the training job
  that ``torchrun`` starts on every rank: a small MLP with dropout and a noise augmentation drawn
  from the global random generator (so each rank's random state matters), trained with
  ``fit(..., resume=True)`` — as a job under ``--max-restarts`` must be: a restarted group
  continues from the last checkpoint. Each worker writes its pid to
  ``RUN_DIR/pids/rank{R}.attempt{A}`` (A: torchrun's restart count), so that it can be killed.
- :func:`lose_a_worker` runs that job twice on 2 processes: straight through (on the 2 ranks of a
  notebook's ``LocalGroup``, whose processes run already, or under ``torchrun``), and under
  ``torchrun --max-restarts 1`` with rank 1 killed after the first checkpoint; it compares the two
  runs' final weights. Both have the same 2 ranks, gloo, one thread each and deterministic
  kernels, so "the same" means bit for bit.

Both launches have a timeout; on any failure every process they started is killed, so none is
left behind (``torchrun`` starts each worker in a process group of its own: they are found by the
pid files and killed one by one).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch import nn

from e2edl.distributed.local_group import LocalGroup
from e2edl.distributed.ports import free_port


def train(run_dir: str | Path, epochs: int = 4, slow: float = 0.0) -> int:
    """The job, in this process: alone, as a ``torchrun`` worker, or as a rank of a
    :class:`~e2edl.distributed.local_group.LocalGroup` (``fit`` uses the group that is there).
    Resumes from ``run_dir``'s checkpoint when there is one; returns the epochs done."""
    from e2edl.data.tensor_loader import TensorLoader
    from e2edl.train import fit

    torch.manual_seed(123)
    x = torch.randn(512, 16)  # (N, 16)
    y = (x @ torch.randn(16, 3)).argmax(dim=1)  # (N,) three classes a linear map can tell apart

    def augment(batch):
        time.sleep(slow)
        inputs, targets = batch
        return inputs + 0.05 * torch.randn_like(inputs), targets  # the global generator: per rank

    loader = TensorLoader(x, y, batch_size=32, shuffle=True, seed=7, transform=augment)
    torch.manual_seed(0)  # the same initial weights on every rank
    model = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Dropout(0.3), nn.Linear(64, 3))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    history = fit(
        model,
        loader,
        epochs=epochs,
        loss_fn=nn.CrossEntropyLoss(),
        optimizer=optimizer,
        scheduler=torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5),
        val_loader=TensorLoader(x[:128], y[:128], batch_size=64),
        seed=1,
        run_dir=run_dir,
        resume=True,
        progress=False,
    )
    return int(history.last["epoch"])


def main(argv: list[str] | None = None) -> None:
    """The job one ``torchrun`` worker runs; it first writes its pid where it can be found."""
    parser = argparse.ArgumentParser(prog="python -m e2edl.distributed.lost_worker")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--slow", type=float, default=0.0, help="seconds to sleep per batch")
    args = parser.parse_args(argv)
    rank, attempt = os.environ.get("RANK", "0"), os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    pids = args.run_dir / "pids"
    pids.mkdir(parents=True, exist_ok=True)
    (pids / f"rank{rank}.attempt{attempt}").write_text(str(os.getpid()))
    train(args.run_dir, args.epochs, args.slow)


def torchrun_command(run_dir: Path, epochs: int, slow: float, restarts: int, port: int) -> list[str]:
    """``torchrun`` with 2 workers on this machine running the job into ``run_dir``."""
    return [
        sys.executable, "-m", "torch.distributed.run",  # = torchrun, with this Python
        "--nnodes", "1", "--nproc-per-node", "2", "--max-restarts", str(restarts),
        "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}",
        "-m", "e2edl.distributed.lost_worker", str(run_dir), "--epochs", str(epochs), "--slow", str(slow),
    ]  # fmt: skip


def _start(command: list[str], log: Path) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", E2EDL_PROGRESS="0", E2EDL_DIST_TIMEOUT="60")
    with log.open("w") as out:  # the child keeps its own copy of the file
        return subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _kill_all(launcher: subprocess.Popen, run_dir: Path) -> None:
    """The launcher's process group, and every worker that wrote a pid file."""
    for pid_file in (run_dir / "pids").glob("rank*"):
        try:
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
        except (ProcessLookupError, ValueError, PermissionError):
            pass
    try:
        os.killpg(launcher.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    launcher.wait(10)


def _finish(launcher: subprocess.Popen, run_dir: Path, log: Path, deadline: float) -> None:
    """Wait for the launcher until ``deadline``; a hang or a failure kills everything and raises."""
    try:
        code = launcher.wait(max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        _kill_all(launcher, run_dir)
        raise RuntimeError(f"torchrun into {run_dir} hung and was killed; its output: {log}") from None
    if code != 0:
        _kill_all(launcher, run_dir)
        tail = log.read_text()[-2000:]
        raise RuntimeError(f"torchrun into {run_dir} failed with exit code {code}:\n{tail}")


def lose_a_worker(
    out: str | Path,
    group: LocalGroup | None = None,
    epochs: int = 4,
    slow: float = 0.02,
    timeout: float = 180.0,
) -> dict:
    """Train the job on 2 processes straight through into ``out/straight`` (on ``group``'s 2
    ranks, whose processes are running already, or else under ``torchrun``), then into
    ``out/killed`` under ``torchrun --max-restarts 1``, SIGKILLing rank 1 once the first epoch's
    checkpoint is written and the second epoch is under way. Returns the largest difference
    between the two runs' final weights, whether the group restarted, the epoch the restarted
    group resumed after, and each run's seconds (process start-up included)."""
    if group is not None and group.world_size != 2:
        raise ValueError(
            f"the straight run needs a group of 2 ranks, like torchrun's; got {group.world_size}"
        )
    straight, killed = Path(out) / "straight", Path(out) / "killed"
    for run_dir in (straight, killed):
        if (run_dir / "checkpoint.pt").exists():
            raise FileExistsError(f"{run_dir} holds a run already: give lose_a_worker an empty folder")
        run_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout

    started = time.perf_counter()
    if group is not None:
        group.run(train, straight, epochs)
    else:
        launcher = _start(torchrun_command(straight, epochs, 0.0, 0, free_port()), straight / "torchrun.log")
        _finish(launcher, straight, straight / "torchrun.log", deadline)
    straight_seconds = time.perf_counter() - started

    started = time.perf_counter()
    launcher = _start(torchrun_command(killed, epochs, slow, 1, free_port()), killed / "torchrun.log")
    try:
        while not (killed / "checkpoint.pt").exists() and launcher.poll() is None:  # written atomically
            if time.monotonic() > deadline:
                raise RuntimeError(f"the first epoch into {killed} did not end in time")
            time.sleep(0.02)
        time.sleep(4 * slow)  # a few batches into the next epoch
        victim = int((killed / "pids" / "rank1.attempt0").read_text())
        resumed_after = torch.load(killed / "checkpoint.pt", weights_only=True)["epoch"]
        os.kill(victim, signal.SIGKILL)
    except BaseException:
        _kill_all(launcher, killed)
        raise
    _finish(launcher, killed, killed / "torchrun.log", deadline)
    killed_seconds = time.perf_counter() - started

    a = torch.load(straight / "checkpoint.pt", weights_only=True)
    b = torch.load(killed / "checkpoint.pt", weights_only=True)
    difference = max((a["model"][name] - b["model"][name]).abs().max().item() for name in a["model"])
    return {
        "max_weight_difference": difference,
        "restarted": (killed / "pids" / "rank1.attempt1").exists(),
        "resumed_after_epoch": resumed_after,
        "epochs": epochs,
        "finished": a["epoch"] == b["epoch"] == epochs,
        "straight_seconds": straight_seconds,
        "killed_seconds": killed_seconds,
    }


if __name__ == "__main__":
    main()
