"""Kill a real training process in the middle of an epoch, resume it, get the same weights bit for bit."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from checkpoint_support import wait_for_checkpoint

SCRIPT = Path(__file__).with_name("resume_script.py")
EPOCHS = 6


def train(run_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(SCRIPT), str(run_dir), "--epochs", str(EPOCHS), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=True)


def epochs_logged(run_dir: Path) -> int:
    """Completed epochs in the log (mid-epoch records, from eval_every, have fractional epochs)."""
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return 0
    records = [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]
    return sum(1 for r in records if float(r["epoch"]).is_integer())


def final_weights(run_dir: Path) -> dict:
    state = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == EPOCHS
    return state["model"]


@pytest.mark.slow
@pytest.mark.parametrize("loader", ["tensor", "dataloader"])
def test_killed_run_resumes_to_bitwise_identical_weights(tmp_path: Path, loader: str) -> None:
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    train(straight, "--loader", loader)

    # Start the same run slowly, wait until epoch 2 is checkpointed, then kill -9 mid-epoch 3.
    cmd = [
        sys.executable,
        str(SCRIPT),
        str(killed),
        "--epochs",
        str(EPOCHS),
        "--loader",
        loader,
        "--slow",
        "0.01",
    ]
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for_checkpoint(killed / "checkpoint.pt", "epoch", 2, process, timeout=120)
    time.sleep(0.1)  # into the middle of the next epoch
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the training process ended before it could be killed"
    interrupted_at = torch.load(killed / "checkpoint.pt", weights_only=True)["epoch"]
    assert 2 <= interrupted_at < EPOCHS

    train(killed, "--loader", loader, "--resume")

    a, b = final_weights(straight), final_weights(killed)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), f"{name} differs after resume"

    def losses(run_dir: Path) -> list:
        lines = (run_dir / "metrics.jsonl").read_text().splitlines()
        return [(r["epoch"], r["train_loss"], r["val_loss"], r["lr"]) for r in map(json.loads, lines)]

    assert losses(straight) == losses(killed)  # the log was rewound to the checkpoint, no duplicates


def test_resume_without_checkpoint_starts_afresh(tmp_path: Path) -> None:
    result = train(tmp_path / "new", "--resume", "--epochs", "1")
    assert result.returncode == 0
    assert epochs_logged(tmp_path / "new") == 1
