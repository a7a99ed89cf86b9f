"""``fit`` under ``torchrun``: 2 processes equal 1 with the global batch (by epochs, and by a step
budget from an endless sampler), FSDP2 equals DDP, and a worker killed mid-epoch is survived —
``torchrun --max-restarts 1`` restarts the group from the last checkpoint and it ends with the
weights of an uninterrupted 2-process run, bit for bit.

These need ``fit``'s rank awareness (the ``strategy`` argument; ``e2edl.train.distributed``):
without it they are skipped. Every launch has a timeout, uses a free rendezvous port and leaves
no process and no listening port behind.
"""

from __future__ import annotations

import inspect
import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from checkpoint_support import wait_for_checkpoint
from distributed_support import (
    VENV_BIN,
    assert_no_leftovers,
    finish,
    kill_group,
    launch,
    new_token,
    worker_env,
)
from e2edl.distributed.ports import free_port, is_listening
from e2edl.train import fit

SCRIPT = Path(__file__).with_name("distributed_train_script.py")
STEPS_SCRIPT = Path(__file__).with_name("distributed_steps_script.py")  # fit(steps=...), RandomBatches
RANK_AWARE = "strategy" in inspect.signature(fit).parameters
pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(600),
    pytest.mark.skipif(
        not RANK_AWARE, reason="needs fit's rank awareness (the fit.py patch: fit(strategy=...))"
    ),
]
TIMEOUT = 240  # seconds for one launch on a busy 2-core machine (a hang is killed after this)


def torchrun(
    run_dir: Path, *script_args: str, restarts: int = 0, port: int | None = None, script: Path = SCRIPT
) -> list[str]:
    """2 worker processes on this machine, rendezvous at a free port of our choosing."""
    return [
        str(VENV_BIN / "torchrun"),
        "--nnodes", "1",
        "--nproc-per-node", "2",
        "--rdzv-backend", "c10d",
        "--rdzv-endpoint", f"localhost:{port or free_port()}",
        "--max-restarts", str(restarts),
        str(script), str(run_dir), *script_args,
    ]  # fmt: skip


def run_to_end(cmd: list[str], token: str, log: Path) -> str:
    code, output = finish(launch(cmd, worker_env(token), log=log), TIMEOUT, log)
    assert code == 0, output[-4000:]
    return output


def records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def final_state(run_dir: Path, epochs: int) -> dict:
    state = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == epochs
    return state


def test_two_processes_follow_one_process_on_the_global_batch(tmp_path: Path) -> None:
    """No dropout, no noise: 2 ranks × 16 samples take the steps 1 process takes with 32."""
    token = new_token()
    plain = ["--dropout", "0", "--noise", "0", "--epochs", "3"]
    one, two = tmp_path / "one", tmp_path / "two"
    run_to_end([sys.executable, str(SCRIPT), str(one), *plain], token, tmp_path / "one.log")
    port = free_port()
    run_to_end(torchrun(two, *plain, port=port), token, tmp_path / "two.log")
    a, b = records(one), records(two)
    assert [r["step"] for r in a] == [r["step"] for r in b]
    for key in ("train_loss", "val_loss"):
        assert [r[key] for r in b] == pytest.approx([r[key] for r in a], rel=1e-5), key
    wa, wb = final_state(one, 3)["model"], final_state(two, 3)["model"]
    for name in wa:
        torch.testing.assert_close(wb[name], wa[name], rtol=1e-5, atol=1e-6)
    assert_no_leftovers(token)
    assert not is_listening(port)


def test_a_step_budget_on_two_processes_follows_one_process_and_resumes(tmp_path: Path) -> None:
    """fit(steps=12, eval_every=4) on an endless RandomBatches: each rank takes its half of every
    global batch, so the records and weights are one process's; stopped at step 8 and resumed to
    12, the 2-process run ends where a straight one does, bit for bit."""
    token = new_token()
    budget = ["--steps", "12", "--eval-every", "4"]
    one, two, resumed = tmp_path / "one", tmp_path / "two", tmp_path / "resumed"
    run_to_end([sys.executable, str(STEPS_SCRIPT), str(one), *budget], token, tmp_path / "one.log")
    port = free_port()
    run_to_end(torchrun(two, *budget, port=port, script=STEPS_SCRIPT), token, tmp_path / "two.log")
    a, b = records(one), records(two)
    assert [r["step"] for r in a] == [r["step"] for r in b] == [4, 8, 12]
    assert "epoch" not in b[-1]
    for key in ("train_loss", "val_loss", "lr"):
        assert [r[key] for r in b] == pytest.approx([r[key] for r in a], rel=1e-5), key
    assert b[-1]["val_loss"] < b[0]["val_loss"]  # it learned something
    sa, sb = (torch.load(run / "checkpoint.pt", weights_only=True) for run in (one, two))
    assert sa["step"] == sb["step"] == 12 and sa["epoch"] is None and sb["epoch"] is None
    assert sa["loader"]["drawn"] == sb["loader"]["drawn"] == 12  # every rank drew every global batch
    for name in sa["model"]:
        torch.testing.assert_close(sb["model"][name], sa["model"][name], rtol=1e-5, atol=1e-6)

    for steps in ("8", "12"):
        run_to_end(
            torchrun(resumed, "--steps", steps, "--eval-every", "4", script=STEPS_SCRIPT),
            token,
            tmp_path / "r.log",
        )
    sr = torch.load(resumed / "checkpoint.pt", weights_only=True)
    for name in sb["model"]:
        assert torch.equal(sr["model"][name], sb["model"][name]), f"{name} differs after resuming"
    assert [r["train_loss"] for r in records(resumed)] == [r["train_loss"] for r in b]
    assert_no_leftovers(token)
    assert not is_listening(port)


def test_fsdp_follows_ddp_and_saves_full_weights(tmp_path: Path) -> None:
    token = new_token()
    plain = ["--dropout", "0", "--noise", "0", "--epochs", "2"]
    ddp, fsdp = tmp_path / "ddp", tmp_path / "fsdp"
    run_to_end(torchrun(ddp, *plain), token, tmp_path / "ddp.log")
    run_to_end(torchrun(fsdp, *plain, "--strategy", "fsdp"), token, tmp_path / "fsdp.log")
    assert [r["train_loss"] for r in records(fsdp)] == pytest.approx(
        [r["train_loss"] for r in records(ddp)], rel=1e-5
    )
    state = final_state(fsdp, 2)["model"]  # full tensors, plain names: one process can load them
    model = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Dropout(0.0), nn.Linear(64, 3))
    model.load_state_dict(state)
    for name, tensor in final_state(ddp, 2)["model"].items():
        torch.testing.assert_close(state[name], tensor, rtol=1e-5, atol=1e-6)
    assert_no_leftovers(token)


def test_a_killed_worker_is_survived_with_identical_final_weights(tmp_path: Path) -> None:
    epochs, token = 6, new_token()
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    run_to_end(torchrun(straight, "--epochs", str(epochs)), token, tmp_path / "straight.log")

    port = free_port()
    log = tmp_path / "killed.log"
    cmd = torchrun(killed, "--epochs", str(epochs), "--slow", "0.02", restarts=1, port=port)
    launcher = launch(cmd, worker_env(token), log=log)
    try:
        wait_for_checkpoint(killed / "checkpoint.pt", "epoch", 2, launcher, TIMEOUT)
        time.sleep(0.15)  # into the middle of the third epoch
        victim = int((killed / "pids" / "rank1.attempt0").read_text())
        os.kill(victim, signal.SIGKILL)
        interrupted_at = torch.load(killed / "checkpoint.pt", weights_only=True)["epoch"]
    except BaseException:
        kill_group(launcher)
        raise
    code, output = finish(launcher, TIMEOUT, log)
    assert code == 0, output[-4000:]
    assert 2 <= interrupted_at < epochs, "the worker was not killed mid-run"
    assert (killed / "pids" / "rank1.attempt1").exists(), "the group did not restart"

    a, b = final_state(straight, epochs), final_state(killed, epochs)
    for name in a["model"]:
        assert torch.equal(a["model"][name], b["model"][name]), f"{name} differs after the restart"
    assert len(b["rng_ranks"]) == 2  # each rank resumed its own random state
    losses = lambda run: [(r["epoch"], r["train_loss"], r["val_loss"]) for r in records(run)]
    assert losses(straight) == losses(killed)  # the log was rewound to the checkpoint
    assert_no_leftovers(token)
    assert not is_listening(port)


def test_fsdp_resumes_to_identical_weights(tmp_path: Path) -> None:
    """FSDP2 checkpoints hold full weights and the full optimizer state: stop after one epoch,
    resume for the second, and end where a straight two-epoch run ends, bit for bit."""
    token = new_token()
    resumed, straight = tmp_path / "resumed", tmp_path / "straight"
    for run_dir, epochs in ((resumed, 1), (resumed, 2), (straight, 2)):
        run_to_end(torchrun(run_dir, "--epochs", str(epochs), "--strategy", "fsdp"), token, tmp_path / "log")
    a, b = final_state(resumed, 2)["model"], final_state(straight, 2)["model"]
    for name in a:
        assert torch.equal(a[name], b[name]), f"{name} differs after resuming"
    assert_no_leftovers(token)


def test_lose_a_worker_matches_a_straight_run_on_a_local_group(tmp_path: Path, monkeypatch) -> None:
    """What the data-parallel lesson claims: the straight run on a notebook's 2 ranks (a LocalGroup)
    and the run whose rank 1 is killed under torchrun --max-restarts 1 end with the same weights."""
    from e2edl.distributed.local_group import LocalGroup
    from e2edl.distributed.lost_worker import lose_a_worker

    token = new_token()
    for name, value in worker_env(token).items():
        monkeypatch.setenv(name, value)  # every process lose_a_worker starts carries the token
    with LocalGroup(2) as group:
        lost = lose_a_worker(tmp_path / "lost", group, epochs=4)
    assert lost["restarted"] and lost["finished"] and 1 <= lost["resumed_after_epoch"] < 4
    assert lost["max_weight_difference"] == 0.0
    with pytest.raises(FileExistsError, match="give lose_a_worker an empty folder"):
        lose_a_worker(tmp_path / "lost")
    assert_no_leftovers(token)
