"""fit/evaluate behaviour: learning, logging, checkpoints, divergence, devices."""

import json
from pathlib import Path

import pytest
import torch
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from e2edl.data.tensor_loader import TensorLoader
from e2edl.train import (
    TrainingDiverged,
    evaluate,
    fit,
    load_checkpoint,
    pick_device,
    save_checkpoint,
    seed_everything,
)


def blobs(n: int = 512, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    centers = torch.tensor([[3.0, 0.0], [-3.0, 0.0], [0.0, 3.0]])
    return centers[y] + torch.randn(n, 2, generator=g), y


def test_fit_learns_and_logs_every_epoch(tmp_path: Path) -> None:
    x, y = blobs()
    seed_everything(0)
    model = nn.Linear(2, 3)
    history = fit(
        model,
        TensorLoader(x, y, batch_size=64, shuffle=True),
        epochs=5,
        loss_fn=nn.CrossEntropyLoss(),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        val_loader=TensorLoader(*blobs(seed=1), batch_size=256),
        metrics={"accuracy": MulticlassAccuracy(num_classes=3)},
        run_dir=tmp_path,
        progress=False,
    )
    assert history.last["val_accuracy"] > 0.95
    losses = history.series("train_loss")
    assert losses[-1] < losses[0] / 2
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2, 3, 4, 5]
    assert lines == history.records
    assert lines[-1]["step"] == 5 * 8
    assert not list(tmp_path.glob(".*.tmp")), "a temp file was left behind"


def test_evaluate_matches_a_hand_computation() -> None:
    x, y = blobs(300)
    model = nn.Linear(2, 3)
    scores = evaluate(
        model,
        TensorLoader(x, y, batch_size=64),  # uneven last batch: the mean must be weighted
        nn.CrossEntropyLoss(),
        {"accuracy": MulticlassAccuracy(num_classes=3, average="micro")},
    )
    with torch.no_grad():
        logits = model(x)
    assert scores["loss"] == pytest.approx(nn.functional.cross_entropy(logits, y).item(), rel=1e-5)
    assert scores["accuracy"] == pytest.approx((logits.argmax(1) == y).float().mean().item())


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    x, y = blobs()

    class BlowsUpInEpoch3(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(2, 3)
            self.calls = 0

        def forward(self, inputs):
            self.calls += 1
            out = self.linear(inputs)
            return out * float("nan") if self.calls > 2 * 8 + 3 else out

    model = BlowsUpInEpoch3()
    with pytest.raises(
        TrainingDiverged, match=r"loss became nan at epoch 3, step 20; the last good checkpoint is"
    ):
        fit(
            model,
            TensorLoader(x, y, batch_size=64),
            epochs=5,
            loss_fn=nn.CrossEntropyLoss(),
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
            run_dir=tmp_path,
            progress=False,
        )
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert state["epoch"] == 2
    assert all(torch.isfinite(t).all() for t in state["model"].values())


def test_step_scheduler_and_grad_clip() -> None:
    x, y = blobs(128)
    model = nn.Linear(2, 3)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5**step)
    before = model.weight.detach().clone()
    history = fit(
        model,
        TensorLoader(x * 1000, y, batch_size=128),  # huge gradients
        epochs=1,
        loss_fn=nn.CrossEntropyLoss(),
        optimizer=optimizer,
        scheduler=scheduler,
        scheduler_interval="step",
        grad_clip=1e-3,
        progress=False,
    )
    assert history.last["lr"] == pytest.approx(0.5)  # one step taken
    assert (model.weight.detach() - before).norm() <= 1e-3 + 1e-6  # lr 1 × clipped norm


def test_bad_arguments_say_what_to_do(tmp_path: Path) -> None:
    model = nn.Linear(2, 3)
    args = dict(
        loss_fn=nn.CrossEntropyLoss(), optimizer=torch.optim.SGD(model.parameters(), lr=0.1), progress=False
    )
    with pytest.raises(ValueError, match="resume=True needs the run_dir"):
        fit(model, [], epochs=1, resume=True, **args)
    with pytest.raises(ValueError, match="scheduler_interval"):
        fit(model, [], epochs=1, scheduler_interval="batch", **args)


def test_pick_device() -> None:
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device(None).type in ("cpu", "cuda", "mps")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU; use --device cpu"):
            pick_device("cuda")
    with pytest.raises(ValueError, match="unknown device 'tpu9'"):
        pick_device("tpu9")


def test_checkpoint_round_trip_and_damaged_file(tmp_path: Path) -> None:
    path = save_checkpoint({"w": torch.arange(3), "epoch": 2}, tmp_path / "c.pt")
    assert load_checkpoint(path)["epoch"] == 2
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(RuntimeError, match=r"cannot be read .*delete it and run without --resume"):
        load_checkpoint(path)
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing.pt")


def test_tensor_loader_order_depends_only_on_seed_and_epoch() -> None:
    x = torch.arange(10)
    a, b = (
        TensorLoader(x, batch_size=4, shuffle=True, seed=3),
        TensorLoader(x, batch_size=4, shuffle=True, seed=3),
    )
    a.set_epoch(5)
    b.set_epoch(5)
    assert [t[0].tolist() for t in a] == [t[0].tolist() for t in b]
    b.set_epoch(6)
    assert [t[0].tolist() for t in a] != [t[0].tolist() for t in b]
    assert sorted(torch.cat([t[0] for t in a]).tolist()) == list(range(10))
    assert len(a) == 3 and len(TensorLoader(x, batch_size=4, drop_last=True)) == 2
    with pytest.raises(ValueError, match="same length"):
        TensorLoader(x, torch.arange(9), batch_size=2)


def test_tensorboard_option_writes_event_files(tmp_path: Path) -> None:
    x, y = blobs(64)
    model = nn.Linear(2, 3)
    fit(
        model,
        TensorLoader(x, y, batch_size=32),
        epochs=2,
        loss_fn=nn.CrossEntropyLoss(),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        run_dir=tmp_path,
        tensorboard=True,
        progress=False,
    )
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    assert [e.step for e in events.Scalars("train_loss")] == [2, 4]


def test_eval_every_adds_mid_epoch_records() -> None:
    x, y = blobs(256)
    model = nn.Linear(2, 3)
    history = fit(
        model,
        TensorLoader(x, y, batch_size=32),  # 8 steps per epoch
        epochs=2,
        loss_fn=nn.CrossEntropyLoss(),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        val_loader=TensorLoader(x, y, batch_size=256),
        metrics={"accuracy": MulticlassAccuracy(num_classes=3)},
        eval_every=4,
        progress=False,
    )
    assert [r["epoch"] for r in history.records] == [0.5, 1, 1.5, 2]
    assert [r["step"] for r in history.records] == [4, 8, 12, 16]
    assert all("val_accuracy" in r for r in history.records)
    elapsed = history.series("elapsed")
    assert elapsed == sorted(elapsed)
