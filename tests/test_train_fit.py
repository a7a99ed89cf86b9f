"""fit/evaluate behaviour: learning, logging, checkpoints, divergence, devices."""

import importlib
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

fit_module = importlib.import_module("e2edl.train.fit")  # the module; `e2edl.train.fit` is the function


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
    saved = {}

    def keep_checkpoint_bytes(record: dict) -> None:
        saved[record["epoch"]] = (tmp_path / "checkpoint.pt").read_bytes()

    # The loss is read at each record (here the end of epoch 3, after step 24), not every step,
    # but the message still names the step where it first stopped being a number.
    with pytest.raises(
        TrainingDiverged,
        match=r"loss became nan at epoch 3, step 20 \(seen at the record after step 24\); "
        r"the last good checkpoint is .*checkpoint.pt, left as it was",
    ):
        fit(
            model,
            TensorLoader(x, y, batch_size=64),
            epochs=5,
            loss_fn=nn.CrossEntropyLoss(),
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
            run_dir=tmp_path,
            progress=False,
            on_record=keep_checkpoint_bytes,
        )
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert state["epoch"] == 2
    assert all(torch.isfinite(t).all() for t in state["model"].values())
    assert (tmp_path / "checkpoint.pt").read_bytes() == saved[2], "the last good checkpoint was rewritten"
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2, "a diverged record was logged"


def test_nan_seen_at_a_mid_epoch_record_before_any_checkpoint(tmp_path: Path) -> None:
    x, y = blobs()
    model = nn.Linear(2, 3)
    calls = {"n": 0}

    def loss_fn(outputs, targets):
        calls["n"] += 1
        loss = nn.functional.cross_entropy(outputs, targets)
        return loss * float("inf") if calls["n"] >= 6 else loss

    with pytest.raises(
        TrainingDiverged,
        match=r"loss became (inf|nan) at epoch 1, step 6 \(seen at the record after step 8\); "
        r"no checkpoint was written\. Try a lower learning rate",
    ):
        fit(
            model,
            TensorLoader(x, y, batch_size=32),  # 16 steps per epoch
            epochs=2,
            loss_fn=loss_fn,
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
            eval_every=4,
            run_dir=tmp_path,
            progress=False,
        )
    assert not (tmp_path / "checkpoint.pt").exists()
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 1  # the record after step 4


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


def plain_loop(model, loader, optimizer, loss_fn, epochs: int) -> list[float]:
    """The ten-line loop ``fit`` must agree with; returns each epoch's mean train loss."""
    means = []
    for epoch in range(epochs):
        loader.set_epoch(epoch)
        total, seen = 0.0, 0
        for inputs, targets in loader:
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(inputs), targets)
            loss.backward()
            optimizer.step()
            total, seen = total + loss.item() * len(targets), seen + len(targets)
        means.append(total / seen)
    return means


def test_fit_is_the_plain_loop_bit_for_bit() -> None:
    """Same seed, same data order: fit ends with the plain loop's weights, and its train loss
    (summed on the device, read once per epoch) equals the loop's per-step Python sum exactly."""
    x, y = blobs(300)  # an uneven last batch: the mean is weighted by batch size
    results = []
    for use_fit in (True, False):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
        loader = TensorLoader(x, y, batch_size=64, shuffle=True, seed=4)
        if use_fit:
            history = fit(
                model, loader, epochs=3, loss_fn=nn.CrossEntropyLoss(), optimizer=optimizer, progress=False
            )
            losses = history.series("train_loss")
        else:
            losses = plain_loop(model, loader, optimizer, nn.CrossEntropyLoss(), epochs=3)
        results.append((losses, model.state_dict()))
    (fit_losses, fit_weights), (loop_losses, loop_weights) = results
    assert fit_losses == loop_losses
    assert all(torch.equal(fit_weights[k], loop_weights[k]) for k in fit_weights)


def count_host_reads(fn) -> int:
    """How many times ``fn`` reads a tensor's value back to Python (``.item()``, ``float(t)``...)."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        fn()
    return sum(e.count for e in prof.key_averages() if e.key == "aten::_local_scalar_dense")


def test_no_host_read_per_step() -> None:
    """On a GPU each ``.item()`` waits for the device; fit reads the loss once per record only."""
    x, y = blobs(512)
    model = nn.Linear(2, 3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

    def train() -> None:
        fit(
            model,
            TensorLoader(x, y, batch_size=16),  # 32 steps
            epochs=1,
            loss_fn=nn.CrossEntropyLoss(),
            optimizer=optimizer,
            eval_every=16,  # two records
            progress=False,
        )

    assert count_host_reads(train) == 2 * 2  # per record: the loss sum and the finite-step count


def test_progress_bar_shows_the_running_loss(monkeypatch, capsys) -> None:
    monkeypatch.setenv("E2EDL_PROGRESS", "1")
    monkeypatch.setattr(fit_module, "LOSS_DISPLAY_SECONDS", 0.0)  # every step, for the test
    x, y = blobs(128)
    model = nn.Linear(2, 3)
    fit(
        model,
        TensorLoader(x, y, batch_size=32),
        epochs=1,
        loss_fn=nn.CrossEntropyLoss(),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
    )
    assert "loss=" in capsys.readouterr().err


def test_on_record_sees_every_record_after_its_checkpoint(tmp_path: Path) -> None:
    x, y = blobs(256)
    model = nn.Linear(2, 3)
    seen = []

    def report(record: dict) -> None:
        if float(record["epoch"]).is_integer():  # an epoch's end: its checkpoint is on disk
            assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == record["epoch"]
        seen.append(record)
        record["train_loss"] = "changed"  # a copy: the history keeps its own

    history = fit(
        model,
        TensorLoader(x, y, batch_size=32),  # 8 steps per epoch
        epochs=2,
        loss_fn=nn.CrossEntropyLoss(),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        eval_every=4,
        run_dir=tmp_path,
        progress=False,
        on_record=report,
    )
    assert [r["epoch"] for r in seen] == [0.5, 1, 1.5, 2]
    assert all(isinstance(r["train_loss"], float) for r in history.records)


def test_raising_from_on_record_stops_the_run_and_keeps_its_checkpoint(tmp_path: Path) -> None:
    """Early stopping (or a tuner stopping a trial) is a hook that raises."""
    x, y = blobs(256)
    model = nn.Linear(2, 3)

    class Stop(Exception):
        pass

    def stop_after_epoch_2(record: dict) -> None:
        if record["epoch"] == 2:
            raise Stop

    with pytest.raises(Stop):
        fit(
            model,
            TensorLoader(x, y, batch_size=32),
            epochs=5,
            loss_fn=nn.CrossEntropyLoss(),
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
            run_dir=tmp_path,
            progress=False,
            on_record=stop_after_epoch_2,
        )
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 2


@pytest.fixture
def kernel_switches():
    """Leave PyTorch's deterministic-kernel switches as the test found them."""
    saved = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.deterministic,
        torch.utils.deterministic.fill_uninitialized_memory,
    )
    yield
    torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
    torch.backends.cudnn.deterministic = saved[2]
    torch.utils.deterministic.fill_uninitialized_memory = saved[3]


@pytest.mark.usefixtures("kernel_switches")
@pytest.mark.parametrize("deterministic, expected", [(None, True), (True, True), (False, False)])
def test_determinism_is_an_option_for_the_run_only(deterministic, expected) -> None:
    """Default on for the CPU; inside the run only — fit leaves the switches as it found them."""
    x, y = blobs(64)
    model = nn.Linear(2, 3)
    during = []
    torch.use_deterministic_algorithms(not expected)
    fit(
        model,
        TensorLoader(x, y, batch_size=32),
        epochs=1,
        loss_fn=nn.CrossEntropyLoss(),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        device="cpu",
        deterministic=deterministic,
        progress=False,
        on_record=lambda record: during.append(torch.are_deterministic_algorithms_enabled()),
    )
    assert during == [expected]
    assert torch.are_deterministic_algorithms_enabled() == (not expected)


@pytest.mark.usefixtures("kernel_switches")
def test_seed_everything_switches_kernels_only_when_asked() -> None:
    torch.use_deterministic_algorithms(False)
    seed_everything(0)
    assert not torch.are_deterministic_algorithms_enabled()
    seed_everything(0, deterministic=True)
    assert torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.deterministic
    assert not torch.utils.deterministic.fill_uninitialized_memory  # NaN-filling costs ~5% on the CPU
    seed_everything(0)  # None: left as it is
    assert torch.are_deterministic_algorithms_enabled()
    seed_everything(0, deterministic=False)
    assert not torch.are_deterministic_algorithms_enabled() and not torch.backends.cudnn.deterministic
    a = torch.rand(3)
    seed_everything(0, deterministic=False)
    assert torch.equal(a, torch.rand(3))


def test_reduce_lr_on_plateau_watches_val_loss() -> None:
    x, y = blobs(128)
    model = nn.Linear(2, 3)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-12)  # too small to move: a plateau
    history = fit(
        model,
        TensorLoader(x, y, batch_size=64),
        epochs=4,
        loss_fn=nn.CrossEntropyLoss(),
        optimizer=optimizer,
        scheduler=torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=0),
        val_loader=TensorLoader(x, y, batch_size=128),
        progress=False,
    )
    assert history.series("lr") == pytest.approx([1e-12, 1e-12, 5e-13, 2.5e-13])
    with pytest.raises(ValueError, match="ReduceLROnPlateau needs a metric"):
        fit(
            model,
            [],
            epochs=1,
            loss_fn=nn.CrossEntropyLoss(),
            optimizer=optimizer,
            scheduler=torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer),
            scheduler_interval="step",
            progress=False,
        )


def test_fp16_overflow_skips_the_step_and_the_scheduler(monkeypatch) -> None:
    """With fp16 loss scaling, a step whose gradients overflow is skipped by the scaler; the
    per-step scheduler must skip it too, or the schedule runs ahead of the weights."""
    monkeypatch.setattr(fit_module, "_amp_settings", lambda device, amp: (True, torch.float16))  # as on a T4
    x, y = blobs(128)
    model = nn.Linear(2, 3)
    steps = {"n": 0}

    def overflow_on_step_1(grad: torch.Tensor) -> torch.Tensor:
        steps["n"] += 1
        return grad * float("inf") if steps["n"] == 1 else grad

    model.weight.register_hook(overflow_on_step_1)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5**step)
    updates = []
    optimizer.register_step_post_hook(lambda *args: updates.append(1))
    history = fit(
        model,
        TensorLoader(x, y, batch_size=32),  # 4 steps, the first one overflows
        epochs=1,
        loss_fn=nn.CrossEntropyLoss(),
        optimizer=optimizer,
        scheduler=scheduler,
        scheduler_interval="step",
        device="cpu",
        progress=False,
    )
    assert len(updates) == 3
    assert history.last["lr"] == pytest.approx(0.5**3)
    assert history.last["step"] == 4


def train_with_config(run_dir: Path, config: dict, epochs: int = 2, resume: bool = False):
    x, y = blobs(256)
    torch.manual_seed(0)
    model = nn.Linear(2, 3)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config["lr"])
    updates = []
    optimizer.register_step_post_hook(lambda *args: updates.append(1))
    history = fit(
        model,
        TensorLoader(x, y, batch_size=64, shuffle=True),
        epochs=epochs,
        loss_fn=nn.CrossEntropyLoss(),
        optimizer=optimizer,
        run_dir=run_dir,
        resume=resume,
        config=config,
        progress=False,
    )
    return history, model, optimizer, len(updates)


def test_resuming_with_another_config_names_every_difference_in_one_line(tmp_path: Path) -> None:
    from e2edl.train import CheckpointError

    train_with_config(tmp_path, {"lr": 0.1, "width": 8, "augment": True}, epochs=1)
    before = (tmp_path / "checkpoint.pt").read_bytes()
    with pytest.raises(CheckpointError) as error:
        train_with_config(tmp_path, {"lr": 0.05, "width": 16, "augment": True, "shift": 2}, resume=True)
    message = str(error.value)
    assert "\n" not in message
    assert "lr: 0.1 in the checkpoint, 0.05 now" in message
    assert "width: 8 in the checkpoint, 16 now" in message
    assert "shift: (absent) in the checkpoint, 2 now" in message
    assert "augment" not in message
    assert "use another run folder, or delete this one" in message
    assert (tmp_path / "checkpoint.pt").read_bytes() == before


def test_resuming_a_finished_run_with_its_config_trains_nothing(tmp_path: Path) -> None:
    """How a notebook hands the model it trained to ``run_lesson(..., resume=True)``."""
    config = {"lr": 0.1, "width": 8}
    history, model, optimizer, updates = train_with_config(tmp_path, config)
    assert updates == 2 * 4
    again, model2, optimizer2, updates2 = train_with_config(tmp_path, config, resume=True)
    assert updates2 == 0
    assert again.records == history.records
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), model2.state_dict().values()))
    steps = [s["step"] for s in optimizer2.state_dict()["state"].values()]
    assert steps == [s["step"] for s in optimizer.state_dict()["state"].values()] and float(steps[0]) == 8


# ------------------------------------------------------------------ a step budget and an endless sampler


class Bigram(nn.Module):
    """Next token from the current one: (B, T) ids → (B, T, V) logits, with dropout (global RNG)."""

    def __init__(self, vocab: int = 11) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, 16)
        self.drop = nn.Dropout(0.2)
        self.head = nn.Linear(16, vocab)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(self.embed(ids)))


def next_token_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())


def token_stream(n: int = 2000) -> torch.Tensor:
    """A sequence with structure to learn: each token mostly followed by the next one, mod 11."""
    g = torch.Generator().manual_seed(0)
    steps = torch.where(torch.rand(n, generator=g) < 0.8, 1, torch.randint(11, (n,), generator=g))
    return steps.cumsum(0) % 11


def train_steps(run_dir=None, steps: int = 30, resume: bool = False, loss_fn=next_token_loss, **options):
    from e2edl.train.batches import RandomBatches

    torch.manual_seed(0)
    model = Bigram()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    history = fit(
        model,
        RandomBatches(token_stream(), block_size=8, batch_size=4, seed=3),
        steps=steps,
        loss_fn=loss_fn,
        optimizer=optimizer,
        scheduler=torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1 / (1 + s)),
        scheduler_interval="step",
        val_loader=[(token_stream(64)[:-1].view(7, 9), token_stream(64)[1:].view(7, 9))],
        run_dir=run_dir,
        resume=resume,
        progress=False,
        **options,
    )
    return model, history


def test_random_batches_are_shifted_windows_and_resume_from_their_state() -> None:
    from e2edl.train.batches import RandomBatches

    ids = torch.arange(50)
    batches = RandomBatches(ids, block_size=6, batch_size=5, seed=1)
    for x, y in (next(batches) for _ in range(20)):
        assert x.shape == y.shape == (5, 6)
        assert torch.equal(y, x + 1)  # the targets are the inputs shifted by one position
        assert x.min() >= 0 and y.max() <= 49
    state = batches.state_dict()
    ahead = [next(batches) for _ in range(3)]
    restored = RandomBatches(ids, block_size=6, batch_size=5, seed=99)
    restored.load_state_dict(state)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(ahead, (next(restored) for _ in range(3))))
    assert restored.drawn == batches.drawn == 23
    with pytest.raises(ValueError, match="no window of block_size 6"):
        RandomBatches(torch.arange(6), block_size=6, batch_size=2)


def test_a_step_budget_records_every_eval_every_steps_and_after_the_last(tmp_path: Path) -> None:
    model, history = train_steps(tmp_path, steps=25, eval_every=10)
    assert [r["step"] for r in history.records] == [10, 20, 25]
    assert all("epoch" not in r and "val_loss" in r for r in history.records)
    assert history.records[-1]["train_loss"] < history.records[0]["train_loss"]
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert lines == history.records
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert state["step"] == 25 and state["epoch"] is None and state["loader"]["drawn"] == 25
    _, one_record = train_steps(steps=7)  # no eval_every: one record, after the last step
    assert [r["step"] for r in one_record.records] == [7]


def test_a_step_budget_is_the_plain_loop_bit_for_bit() -> None:
    from e2edl.train.batches import RandomBatches

    model, _ = train_steps(steps=12, eval_every=5)
    torch.manual_seed(0)
    plain = Bigram()
    optimizer = torch.optim.AdamW(plain.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1 / (1 + s))
    seed_everything(0)  # what fit does first
    batches = RandomBatches(token_stream(), block_size=8, batch_size=4, seed=3)
    for _ in range(12):
        x, y = next(batches)
        optimizer.zero_grad(set_to_none=True)
        next_token_loss(plain(x), y).backward()
        optimizer.step()
        scheduler.step()
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), plain.state_dict().values()))


def test_a_step_budget_resumed_after_a_stop_ends_with_the_same_weights(tmp_path: Path) -> None:
    """Stopped after its second record (as a kill would leave it: the checkpoint of step 10),
    then resumed: the sampler's generator, dropout's RNG, the optimizer and the schedule all
    continue, so the weights and the log equal an uninterrupted run's."""
    straight, straight_history = train_steps(tmp_path / "straight", steps=30, eval_every=5)

    class Stop(Exception):
        pass

    def stop_at_step_10(record: dict) -> None:
        if record["step"] == 10:
            raise Stop

    with pytest.raises(Stop):
        train_steps(tmp_path / "stopped", steps=30, eval_every=5, on_record=stop_at_step_10)
    assert load_checkpoint(tmp_path / "stopped" / "checkpoint.pt")["step"] == 10
    resumed, history = train_steps(tmp_path / "stopped", steps=30, eval_every=5, resume=True)
    assert all(
        torch.equal(a, b) for a, b in zip(straight.state_dict().values(), resumed.state_dict().values())
    )

    def losses(h):
        return [(r["step"], r["train_loss"], r["val_loss"], r["lr"]) for r in h.records]

    assert losses(history) == losses(straight_history)
    again, finished = train_steps(tmp_path / "stopped", steps=30, eval_every=5, resume=True)  # trains nothing
    assert finished.records == history.records


def test_a_step_budget_says_what_to_do_with_bad_arguments() -> None:
    model = Bigram()
    args = dict(
        loss_fn=next_token_loss, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), progress=False
    )
    with pytest.raises(ValueError, match="either epochs .* or steps"):
        fit(model, [], epochs=1, steps=5, **args)
    with pytest.raises(ValueError, match="either epochs .* or steps"):
        fit(model, [], **args)
    scheduler = torch.optim.lr_scheduler.StepLR(args["optimizer"], 1)
    with pytest.raises(ValueError, match="scheduler_interval='step'"):
        fit(model, [], steps=5, scheduler=scheduler, **args)
    finite = [(torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 3, dtype=torch.long))] * 3
    with pytest.raises(ValueError, match="ran out after 3 steps: a step budget needs an endless sampler"):
        fit(model, finite, steps=5, **args)


def test_a_step_budget_names_the_step_where_the_loss_diverged(tmp_path: Path) -> None:
    calls = {"n": 0}

    def blows_up_at_step_7(logits, targets):
        calls["n"] += torch.is_grad_enabled()  # training steps only, not the evaluations
        loss = next_token_loss(logits, targets)
        return loss * float("nan") if calls["n"] >= 7 else loss

    with pytest.raises(
        TrainingDiverged, match=r"loss became nan at step 7 \(seen at the record after step 10\)"
    ):
        train_steps(tmp_path, steps=20, eval_every=5, loss_fn=blows_up_at_step_7)
    assert load_checkpoint(tmp_path / "checkpoint.pt")["step"] == 5
