"""fit's loggers: TensorBoard and W&B (offline) hold what metrics.jsonl holds, read back with each
tool's own reader; a resumed run continues the same W&B run; no tracker imported unless asked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from e2edl.data.tensor_loader import TensorLoader
from e2edl.train import fit, load_checkpoint
from e2edl.train.batches import RandomBatches
from e2edl.train.loggers import (
    PredictionSamples,
    RunInfo,
    TensorBoardLogger,
    WandbLogger,
    read_runs,
    read_scalars,
    wandb_mode,
)

pytestmark = pytest.mark.usefixtures("one_thread")

AXES = ("epoch", "step")


class Stop(Exception):
    """Raised from on_record: the run is interrupted after a checkpoint."""


@pytest.fixture(scope="module", autouse=True)
def no_wandb_process_left():
    """After this module's tests, W&B's service is shut down and no W&B process is left running."""
    yield
    if "wandb" in sys.modules:
        import wandb

        wandb.teardown()
    psutil = pytest.importorskip("psutil")
    left = [p for p in psutil.Process().children(recursive=True) if "wandb" in _name(p)]
    assert not left, f"W&B processes still running after the tests: {[_name(p) for p in left]}"


def _name(process) -> str:
    try:
        return " ".join([process.name(), *process.cmdline()[:2]])
    except Exception:  # noqa: BLE001 — gone meanwhile
        return ""


@pytest.fixture(autouse=True)
def offline_wandb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """W&B offline, its settings, cache and artifact staging inside the test's folder: nothing
    reaches the network or the home folder."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    for variable in ("WANDB_DATA_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_ARTIFACT_DIR"):
        monkeypatch.setenv(variable, str(tmp_path / "wandb-home" / variable.lower()))
    monkeypatch.setenv("WANDB_SILENT", "true")


def blobs(n: int = 96, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    centers = torch.tensor([[3.0, 0.0], [-3.0, 0.0], [0.0, 3.0], [0.0, -3.0]])
    return centers[y] + torch.randn(n, 2, generator=g), y


def samples(x: torch.Tensor, y: torch.Tensor) -> PredictionSamples:
    pictures = (x[:4, :, None, None].expand(4, 2, 3, 3).reshape(4, 6, 3) * 30 + 128).clamp(0, 255)
    return PredictionSamples(x[:4], y[:4], ["a", "b", "c"], images=pictures.to(torch.uint8))


def train(run_dir: Path, loggers, epochs: int = 2, resume: bool = False, on_record=None):
    x, y = blobs()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 3))
    history = fit(
        model,
        TensorLoader(x, y, batch_size=32, shuffle=True),
        epochs=epochs,
        loss_fn=nn.CrossEntropyLoss(),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        val_loader=TensorLoader(x, y, batch_size=48),
        run_dir=run_dir,
        resume=resume,
        progress=False,
        eval_every=2,
        config={"lr": 0.1, "hidden": 8, "optimizer": "sgd"},
        on_record=on_record,
        loggers=loggers,
    )
    return model, history


def jsonl(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def values(record: dict) -> dict[str, float]:
    return {k: v for k, v in record.items() if k not in AXES}


class Recorder:
    """A logger of our own: writes down each call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def start(self, run: RunInfo) -> None:
        self.calls.append(("start", run))

    def log(self, record: dict) -> None:
        self.calls.append(("log", dict(record)))

    def finish(self, checkpoint: Path | None) -> None:
        self.calls.append(("finish", checkpoint))

    def close(self) -> None:
        self.calls.append(("close", None))


def test_importing_the_library_imports_no_tracker() -> None:
    code = (
        "import sys, torch\n"
        "from torch import nn\n"
        "import e2edl.train, e2edl.train.loggers\n"
        "from e2edl.data.tensor_loader import TensorLoader\n"
        "m = nn.Linear(2, 2)\n"
        "e2edl.train.fit(m, TensorLoader(torch.randn(8, 2), torch.zeros(8, dtype=torch.long), batch_size=4),"
        " epochs=1, loss_fn=nn.CrossEntropyLoss(), optimizer=torch.optim.SGD(m.parameters(), lr=0.1),"
        " progress=False)\n"
        "print(sorted(n for n in sys.modules if n.split('.')[0] in ('wandb', 'tensorboard', 'tensorboardX')"
        " or n.startswith('torch.utils.tensorboard')))\n"
    )
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_a_logger_of_your_own_gets_every_record_in_order(tmp_path: Path) -> None:
    recorder = Recorder()
    _, history = train(tmp_path, [recorder])
    kinds = [kind for kind, _ in recorder.calls]
    assert kinds == ["start"] + ["log"] * len(history.records) + ["finish", "close"]
    run = recorder.calls[0][1]
    assert run.run_dir == tmp_path and run.start_step == 0 and not run.resumed
    assert run.config == {"lr": 0.1, "hidden": 8, "optimizer": "sgd"}
    assert [record for kind, record in recorder.calls if kind == "log"] == jsonl(tmp_path) == history.records
    assert recorder.calls[-2] == ("finish", tmp_path / "checkpoint.pt")

    again = Recorder()  # a finished checkpoint is reused: no training, so no logger starts
    train(tmp_path, [again], resume=True)
    assert again.calls == []


def test_loggers_reach_a_step_budget_and_are_closed_after_an_error(tmp_path: Path) -> None:
    ids = torch.randint(0, 5, (200,), generator=torch.Generator().manual_seed(0))
    model = nn.Sequential(nn.Embedding(5, 4), nn.Linear(4, 5))

    def loss_fn(logits, targets):  # (B, T, V) and (B, T)
        return nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())

    recorder = Recorder()
    fit(
        model,
        RandomBatches(ids, block_size=8, batch_size=4),
        steps=6,
        eval_every=2,
        loss_fn=loss_fn,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        run_dir=tmp_path,
        progress=False,
        loggers=[recorder],
    )
    logged = [record for kind, record in recorder.calls if kind == "log"]
    assert [r["step"] for r in logged] == [2, 4, 6] and logged == jsonl(tmp_path)
    assert recorder.calls[-1] == ("close", None) and recorder.calls[-2][0] == "finish"

    broken = Recorder()
    with pytest.raises(Stop):
        train(tmp_path / "broken", [broken], on_record=lambda record: (_ for _ in ()).throw(Stop()))
    assert [kind for kind, _ in broken.calls] == ["start", "log", "close"]  # closed, never finished


def test_tensorboard_holds_the_values_of_metrics_jsonl(tmp_path: Path) -> None:
    x, y = blobs()
    model, history = train(tmp_path, [TensorBoardLogger(histograms=True, samples=samples(x, y))])
    scalars = read_scalars(tmp_path / "tensorboard")  # TensorBoard's own reader
    records = jsonl(tmp_path)
    assert set(scalars) == set().union(*(values(r) for r in records))
    for tag, points in scalars.items():
        expected = [(r["step"], float(np.float32(r[tag]))) for r in records]  # stored as float32
        assert points == expected, tag

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "tensorboard"), size_guidance={"histograms": 0})
    events.Reload()
    tags = events.Tags()
    assert {f"weights/{name}" for name, _ in model.named_parameters()} == set(tags["histograms"])
    last = events.Histograms("weights/2.bias")[-1]
    assert last.step == records[-1]["step"] and last.histogram_value.num == 3
    assert tags["images"] == ["predictions"]
    hparams = events.PluginTagToContent("hparams")
    assert hparams, "no hparams summary written"


def test_wandb_offline_run_holds_config_metrics_checkpoint_and_samples(tmp_path: Path) -> None:
    x, y = blobs()
    train(tmp_path, [WandbLogger(project="tests", name="sgd", samples=samples(x, y))])
    [run] = read_runs(tmp_path)  # W&B's own reader: wandb leet inspect --json
    assert run.folder.name.startswith("offline-run-") and run.folder.name.endswith(run.id)
    assert (run.project, run.name, run.exit_code) == ("tests", "sgd", 0)
    assert run.config == {"lr": 0.1, "hidden": 8, "optimizer": "sgd"}
    records = jsonl(tmp_path)
    assert [row["_step"] for row in run.history] == [r["step"] for r in records]
    for row, record in zip(run.history, records, strict=True):
        assert {key: row[key] for key in record if key != "step"} == values(record) | (
            {"epoch": record["epoch"]} if "epoch" in record else {}
        )
    assert {key: run.summary[key] for key in values(records[-1])} == values(records[-1])

    model_artifacts = [a for a in run.artifacts if a["type"] == "model"]
    assert [a["files"] for a in model_artifacts] == [["checkpoint.pt"]]
    [table] = [a for a in run.artifacts if a["type"] == "run_table"]
    assert "predictions.table.json" in table["files"] and len(table["files"]) == 1 + 4  # + 4 images
    [table_file] = run.folder.glob("files/media/table/predictions_*.table.json")
    saved = json.loads(table_file.read_text())
    assert saved["columns"] == ["example", "true", "predicted", "confidence", "correct"]
    assert [row[1] for row in saved["data"]] == [["a", "b", "c"][int(label)] for label in y[:4]]
    assert (tmp_path / "wandb" / "run_id").read_text().strip() == run.id


def test_a_resumed_run_continues_the_same_wandb_run_and_tensorboard_curves(tmp_path: Path) -> None:
    def loggers():
        return [TensorBoardLogger(), WandbLogger(project="tests")]

    def stop_after_epoch_one(record: dict) -> None:
        if record["epoch"] == 1:
            raise Stop

    with pytest.raises(Stop):
        train(tmp_path, loggers(), epochs=3, on_record=stop_after_epoch_one)
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 1
    _, history = train(tmp_path, loggers(), epochs=3, resume=True)

    first, second = read_runs(tmp_path)  # a resumed offline run: two folders, one id
    assert first.id == second.id
    assert (first.exit_code, second.exit_code) == (1, 0)  # the interrupted part is marked failed
    steps = [row["_step"] for row in first.history + second.history]
    records = jsonl(tmp_path)
    assert steps == [r["step"] for r in records] == sorted(set(steps))  # the steps go on
    assert [row["train_loss"] for row in first.history + second.history] == [r["train_loss"] for r in records]

    scalars = read_scalars(tmp_path / "tensorboard")  # each step once, as in metrics.jsonl
    assert scalars["val_loss"] == [(r["step"], float(np.float32(r["val_loss"]))) for r in records]


def test_bad_loggers_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"^object is not a logger: it needs start, log, finish and close"):
        train(tmp_path, [object()])
    with pytest.raises(TypeError, match=r"loggers takes a list of loggers"):
        train(tmp_path, TensorBoardLogger())
    with pytest.raises(ValueError, match="needs a run folder"):
        TensorBoardLogger().start(RunInfo(None, None, None, 0, False))


def test_wandb_mode_respects_the_environment_and_never_asks_the_network_without_a_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert wandb_mode() == "offline"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert wandb_mode() == "disabled"
    monkeypatch.delenv("WANDB_MODE")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))

    def no_network(*args, **kwargs):
        raise AssertionError("wandb_mode went to the network without an API key")

    monkeypatch.setattr("socket.create_connection", no_network)
    assert wandb_mode() == "offline"


def test_loggers_reach_the_accelerate_loop() -> None:
    pytest.importorskip("accelerate")
    from e2edl.train.accelerate_loop import HeadRecipe, train_head

    x, y = blobs(128)
    recorder = Recorder()
    losses = train_head(x, y, HeadRecipe(epochs=1, batch_size=32), loggers=[recorder])
    kinds = [kind for kind, _ in recorder.calls]
    assert kinds == ["start"] + ["log"] * len(losses) + ["finish", "close"]
    assert [record for kind, record in recorder.calls if kind == "log"] == [
        {"step": step, "train_loss": loss} for step, loss in enumerate(losses, start=1)
    ]


def test_a_fresh_run_in_a_used_folder_shows_only_itself(tmp_path: Path) -> None:
    def loggers():
        return [TensorBoardLogger(), WandbLogger(project="tests")]

    train(tmp_path, loggers(), epochs=2)
    [old] = read_runs(tmp_path)
    train(tmp_path, loggers(), epochs=1)  # resume=False: a new run replaces the old one's logs
    records = jsonl(tmp_path)
    scalars = read_scalars(tmp_path / "tensorboard")  # the old event file is purged from step 0
    assert scalars["train_loss"] == [(r["step"], float(np.float32(r["train_loss"]))) for r in records]
    [new] = read_runs(tmp_path)  # the run of this folder's checkpoint; the old folder stays on disk
    assert new.id != old.id and [row["_step"] for row in new.history] == [r["step"] for r in records]
    assert len(read_runs(tmp_path, run_id=old.id)) == 1
