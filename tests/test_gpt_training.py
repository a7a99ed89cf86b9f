"""Training the gpt lesson's model for a step budget: a run killed between checkpoints and resumed
ends with the same weights as an uninterrupted one (bit for bit, on the CPU); ``e2edl run gpt
--resume`` continues a killed lesson run; a checkpoint of another recipe is a one-line error."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from checkpoint_support import wait_for_checkpoint

SCRIPT = Path(__file__).with_name("gpt_resume_script.py")
ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("one_thread")


def records(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def kill_at_checkpoint(cmd: list[str], run_dir: Path, step: int, env=None, timeout: float = 600) -> None:
    """Start ``cmd``, wait until ``run_dir`` holds the checkpoint of ``step`` (or a later one),
    then kill -9 it."""
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    wait_for_checkpoint(run_dir / "checkpoint.pt", "step", step, process, timeout)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the training process ended before it could be killed"


@pytest.mark.slow
def test_a_killed_step_budget_run_resumes_to_bitwise_identical_weights(tmp_path: Path) -> None:
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    subprocess.run([sys.executable, str(SCRIPT), str(straight)], check=True, timeout=300)
    kill_at_checkpoint([sys.executable, str(SCRIPT), str(killed), "--slow", "0.05"], killed, step=10)
    interrupted_at = torch.load(killed / "checkpoint.pt", weights_only=True)["step"]
    assert 10 <= interrupted_at < 40
    subprocess.run([sys.executable, str(SCRIPT), str(killed), "--resume"], check=True, timeout=300)

    a = torch.load(straight / "checkpoint.pt", weights_only=True)
    b = torch.load(killed / "checkpoint.pt", weights_only=True)
    assert a["step"] == b["step"] == 40
    for name in a["model"]:
        assert torch.equal(a["model"][name], b["model"][name]), f"{name} differs after resume"

    def losses(run_dir: Path) -> list:
        return [(r["step"], r["train_loss"], r["val_loss"], r["lr"]) for r in records(run_dir)]

    assert losses(straight) == losses(killed)  # the log rewound to the checkpoint: no duplicates


def test_a_checkpoint_of_another_recipe_is_a_one_line_error(tmp_path: Path) -> None:
    from e2edl.data.text_windows import CharSplits
    from e2edl.nn.gpt import GPT, ConfigMismatch
    from e2edl.recipes.gpt import NANOGPT_CPU, train_gpt
    from e2edl.train import CheckpointError

    data = CharSplits.of("to be or not to be, that is the question " * 40)
    model = replace(NANOGPT_CPU.model, vocab_size=len(data.vocabulary), block_size=8, n_layer=1, n_embd=16)
    recipe = replace(NANOGPT_CPU, model=model, steps=4, batch_size=2, warmup_steps=1, eval_every=2)
    trained, _ = train_gpt(data, recipe, run_dir=tmp_path, progress=False)
    with pytest.raises(CheckpointError) as error:
        train_gpt(data, replace(recipe, lr=5e-4), run_dir=tmp_path, resume=True, progress=False)
    assert "\n" not in str(error.value) and "lr: 0.001 in the checkpoint, 0.0005 now" in str(error.value)
    with pytest.raises(ConfigMismatch) as error:
        GPT.from_checkpoint(trained.checkpoint(), expected=replace(model, n_embd=32))
    message = str(error.value)
    assert "\n" not in message and "n_embd=16" in message and "n_embd=32" in message
    with pytest.raises(ValueError, match="vocab_size"):
        train_gpt(data, replace(recipe, model=replace(model, vocab_size=65)), progress=False)


@pytest.mark.slow
def test_e2edl_run_gpt_resume_continues_a_killed_run(tmp_path: Path) -> None:
    out = tmp_path / "run"
    env = {**os.environ, "E2EDL_PROGRESS": "0", "OMP_NUM_THREADS": "1"}
    env.setdefault("E2EDL_MIRROR", str(ROOT.parent / "shared" / "data"))
    e2edl = [sys.executable, "-m", "e2edl.cli", "run", "gpt", "--quick", "--out", str(out)]
    kill_at_checkpoint(e2edl, out / "nanogpt-cpu", step=1, env=env)
    before = records(out / "nanogpt-cpu")
    checkpoint = torch.load(out / "nanogpt-cpu" / "checkpoint.pt", weights_only=True)
    assert 0 < checkpoint["step"] < 150, "killed before the first checkpoint or after the training"
    finished = subprocess.run([*e2edl, "--resume"], env=env, capture_output=True, text=True, timeout=900)
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    after = records(out / "nanogpt-cpu")
    assert [r["step"] for r in after] == [75, 150]
    kept = [r for r in after if r["step"] <= checkpoint["step"]]
    assert kept == [r for r in before if r["step"] <= checkpoint["step"]]  # continued, not started again
    assert "all claims hold" in finished.stdout or "value claims hold" in finished.stdout
