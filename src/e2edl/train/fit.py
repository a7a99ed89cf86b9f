"""One training loop for every lesson: ``fit`` trains, ``evaluate`` measures.

Read it top-down: ``fit`` sets up a run (a :class:`_Run`, restored from the checkpoint when
resuming) and calls ``_train_epoch`` once per epoch, which calls ``_train_step`` once per batch.
``_record`` turns the training since the last record (a :class:`_Window`) into a record: the
train loss, the validation scores, the clock. At the end of an epoch come the epoch's scheduler
step, ``_save`` (the checkpoint) and ``_report`` (the ``on_record`` hook).

**Epochs or a step budget.** ``fit(..., epochs=E)`` passes over a finite loader E times.
``fit(..., steps=N, eval_every=M)`` instead takes N batches from an *endless* sampler (a language
model's random windows of one long text, ``e2edl.train.batches.RandomBatches``): ``_train_steps``
calls the same ``_train_step``, and every M steps (and after the last) the same ``_record``,
``_save`` and ``_report``. The sampler's ``state_dict()`` (its generator) goes into the
checkpoint like a loader's, so a resumed run draws the batches an uninterrupted one would.

The checkpoint holds everything that decides what happens next — weights, optimizer, scheduler,
grad scaler, every RNG state, the epoch and the data order — so ``resume=True`` after a kill
finishes with exactly the weights an uninterrupted run would have (on the CPU, bit for bit).

**Cheap on a GPU.** A step queues its kernels and returns; nothing in it reads a value back from
the device, so the CPU runs ahead and the GPU never waits for Python. The loss is summed on the
device and read once per record, where it is also checked: a loss that became NaN or infinite
stops the run *before* the checkpoint is written, so the last good checkpoint is left as it was.
Two reads remain, on purpose: the progress bar shows the running loss at most once a second, and
fp16 loss scaling (GPUs without bf16) reads the scale once per step to know whether the step was
skipped — ``GradScaler`` itself reads the overflow flag each step already.

**Determinism** is an option (``deterministic``): on for the CPU, where it costs nothing and
resumed runs are tested bit for bit; off on a GPU, where deterministic kernels are slower.

**Where later additions plug in** (each is an addition, not a rewrite):

- *A step budget with an endless random-batch sampler* (GPT): done, ``_train_steps`` above.
- *Loggers* (TensorBoard, W&B, ``e2edl.train.loggers``): done. ``fit(..., loggers=[...])``;
  ``MetricsLog`` hands them every record it writes to ``metrics.jsonl``. They start once there is
  training to do (a finished checkpoint reused starts none), finish after the final checkpoint,
  and are closed always; a resumed run tells them where it continues (``RunInfo``).
- *Rank awareness* (DDP, FSDP2): done. Under ``torchrun`` (``WORLD_SIZE`` > 1) ``fit`` joins the
  process group, wraps the model (``strategy``: DDP or FSDP2, ``e2edl.train.parallel_model``) and
  gives each rank its slice of every global batch (``e2edl.data.rank_shard``); ``_record`` sums the
  window's loss over the ranks first, so every rank sees the same train loss and raises
  ``TrainingDiverged`` together; only rank 0 shows progress bars and writes ``metrics.jsonl`` and
  the checkpoint (full, unsharded weights plus every rank's RNG state); every rank resumes from it.
  In a single process each of these calls is a no-op (``e2edl.train.distributed``).
- *Sharing the cores* with other processes: for bf16 autocast on a CPU, ``_train_step`` lets
  ``e2edl.train.free_cores`` fit torch's thread count to the cores others leave free.
- *A per-evaluation report hook* (Ray Tune): ``on_record``, called after each record (at the end
  of an epoch once its checkpoint is written); raising from it stops the run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from e2edl.progress import progress_enabled
from e2edl.train import distributed
from e2edl.train.checkpoint import check_same_config, load_checkpoint, save_checkpoint
from e2edl.train.device import pick_device
from e2edl.train.free_cores import FreeCoreThreads
from e2edl.train.history import History
from e2edl.train.loggers.protocol import Logger, RunInfo
from e2edl.train.metrics_log import MetricsLog
from e2edl.train.parallel_model import (
    load_model_state,
    load_optimizer_state,
    model_state_dict,
    optimizer_state_dict,
    wrap_model,
)
from e2edl.train.seeding import deterministic_kernels, get_rng_state, seed_everything, set_rng_state

__all__ = ["CHECKPOINT_NAME", "History", "TrainingDiverged", "evaluate", "fit", "progress_enabled"]

CHECKPOINT_NAME = "checkpoint.pt"
LOSS_DISPLAY_SECONDS = 1.0  # the progress bar reads the running loss from the device this seldom


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint (if any) is left as it was."""


def _to_device(batch, device: torch.device):
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: _to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(v, device) for v in batch)
    return batch


def _amp_settings(device: torch.device, amp: bool | None) -> tuple[bool, torch.dtype]:
    """Mixed precision: on CUDA by default (bf16 where the GPU computes in it natively, else fp16
    with loss scaling); on a CPU only when asked for (``amp=True``), in bf16, which pays off on
    CPUs with bf16 instructions (AVX512-BF16, AMX) and is slower than float32 on the others."""
    if device.type == "cuda":
        enabled = amp is None or bool(amp)
        # Not torch.cuda.is_bf16_supported(): it also says yes where bf16 is only emulated (T4).
        native_bf16 = bool(torch.version.hip) or torch.cuda.get_device_capability(device)[0] >= 8
        return enabled, torch.bfloat16 if enabled and native_bf16 else torch.float16
    if device.type == "cpu":
        return bool(amp), torch.bfloat16
    return False, torch.float16


def _set_epoch(loader: Iterable, epoch: int) -> None:
    """Tell the loader (or its sampler) which epoch's order to produce."""
    for part in (loader, getattr(loader, "sampler", None), getattr(loader, "batch_sampler", None)):
        if hasattr(part, "set_epoch"):
            part.set_epoch(epoch)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: Iterable,
    loss_fn: nn.Module | None = None,
    metrics: Mapping[str, object] | None = None,
    device: str | torch.device | None = None,
    amp: bool | None = None,
    progress: bool = False,
) -> dict[str, float]:
    """Mean loss (weighted by batch size) and each torchmetrics metric over ``loader``.

    Batches are ``(inputs, targets)``; ``model(inputs)`` gives the outputs fed to the loss and
    to each metric's ``update(outputs, targets)``. The loss is summed on the device and read once.
    """
    device = pick_device(device)
    model.to(device)
    was_training = model.training
    model.eval()
    metrics = {name: metric.to(device) for name, metric in (metrics or {}).items()}
    for metric in metrics.values():
        metric.reset()
    use_amp, amp_dtype = _amp_settings(device, amp)
    total_loss, count = torch.zeros((), dtype=_sum_dtype(device), device=device), 0
    for inputs, targets in tqdm(loader, desc="evaluate", leave=False, disable=not progress_enabled(progress)):
        inputs, targets = _to_device((inputs, targets), device)
        with torch.autocast(device_type=device.type, dtype=amp_dtype, enabled=use_amp):
            outputs = model(inputs)
        outputs = outputs.float()
        if loss_fn is not None:
            total_loss.add_(loss_fn(outputs, targets), alpha=len(targets))
            count += len(targets)
        for metric in metrics.values():
            metric.update(outputs, targets)
    model.train(was_training)
    total_loss, count = distributed.reduce_evaluation(loader, total_loss, count)  # a rank's shard: sum them
    result = {"loss": total_loss.item() / max(count, 1)} if loss_fn is not None else {}
    result.update({name: float(metric.compute()) for name, metric in metrics.items()})
    return result


def _sum_dtype(device: torch.device) -> torch.dtype:
    """Loss sums in float64 (what a Python float sum gave), float32 where the device has no float64."""
    return torch.float32 if device.type == "mps" else torch.float64


def fit(
    model: nn.Module,
    train_loader: Iterable,
    *,
    epochs: int | None = None,
    steps: int | None = None,
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    scheduler_interval: str = "epoch",
    val_loader: Iterable | None = None,
    metrics: Mapping[str, object] | None = None,
    device: str | torch.device | None = None,
    amp: bool | None = None,
    grad_clip: float | None = None,
    seed: int = 0,
    run_dir: str | Path | None = None,
    resume: bool = False,
    tensorboard: bool = False,
    progress: bool = True,
    eval_every: int | None = None,
    config: Mapping | None = None,
    deterministic: bool | None = None,
    on_record: Callable[[dict], None] | None = None,
    strategy: str = "ddp",
    share_cores: bool | None = None,
    loggers: Sequence[Logger] = (),
) -> History:
    """Train ``model`` for ``epochs`` epochs (or ``steps`` steps); return the :class:`History`
    of its records.

    Args:
        train_loader: iterable of ``(inputs, targets)`` batches; if it (or its sampler) has
            ``set_epoch``, it is called before each epoch so the order depends on the epoch only.
            With ``steps``: an endless iterable of batches; if it has ``state_dict`` /
            ``load_state_dict``, its state is checkpointed (``e2edl.train.batches.RandomBatches``).
        epochs: passes over ``train_loader``; give either this or ``steps``.
        steps: a step budget instead of epochs: take this many batches from the endless
            ``train_loader``, recording (evaluating, checkpointing, reporting) every ``eval_every``
            steps and after the last. Records then have no ``epoch``, only a ``step``.
        scheduler_interval: ``"epoch"`` or ``"step"`` — when ``scheduler.step()`` is called.
        metrics: name → torchmetrics metric, computed on ``val_loader`` as ``val_<name>``.
        device: ``None``/``"auto"`` picks cuda → mps → cpu.
        amp: mixed precision: default on for CUDA; ``True`` on a CPU trains in bf16 autocast.
        grad_clip: clip the global gradient norm to this value.
        seed: seeds Python, NumPy and torch at the start of a fresh run.
        run_dir: where ``metrics.jsonl`` and ``checkpoint.pt`` go; ``None`` keeps nothing on disk.
        resume: continue from ``run_dir/checkpoint.pt`` if it exists.
        eval_every: also evaluate (and log a record) every this many steps inside an epoch, for
            short runs where "when did it reach 99%?" needs a finer clock than epochs. Mid-epoch
            records have a fractional ``epoch`` (1.5 = half-way through the second epoch).
            ``None`` or 0: records at the ends of epochs only. With ``steps``: a record (and a
            checkpoint) every this many steps; ``None`` or 0: one record, after the last step.
        config: the recipe's settings (plain values), saved in the checkpoint. Resuming from a
            checkpoint whose config differs is an error that names the differences: the weights
            would belong to another recipe. A finished checkpoint with the same config is reused
            as it is — no step is trained again.
        deterministic: deterministic kernels during the run (and as they were afterwards).
            ``None``: on for the CPU (free there, and resumed runs are bitwise identical), off on
            other devices (deterministic GPU kernels are slower).
        on_record: called with a copy of each record once it is logged — at the end of an epoch,
            once the checkpoint holding it is written. For reporting to a tuner; raising from
            it stops the run (early stopping), keeping that checkpoint.
        strategy: under ``torchrun`` with several processes, how the model is made data-parallel:
            ``"ddp"`` (a full copy per rank) or ``"fsdp"`` (FSDP2: each rank holds a shard; build
            the optimizer before calling fit). Loaders give each rank its slice of every global
            batch. Alone, ignored.
        share_cores: follow the free cores — train on as many threads as the cores other
            processes leave free, re-checked each second (``e2edl.train.free_cores``). ``None``:
            on for bf16 autocast on a CPU, whose convolution kernels wait for every thread and
            so run many times slower when another process shares the cores; off otherwise.
        loggers: where the records go besides ``metrics.jsonl`` (always written when there is a
            ``run_dir``): ``e2edl.train.loggers.TensorBoardLogger``, ``WandbLogger``, or any object
            with ``start``, ``log``, ``finish`` and ``close``. A tracker is imported only when its
            logger starts. ``tensorboard=True`` is a ``TensorBoardLogger()`` added to them.
    """
    _check_arguments(train_loader, epochs, steps, scheduler, scheduler_interval, run_dir, resume, eval_every)
    device = distributed.init_from_env(pick_device(device))  # joins torchrun's process group, if any
    if deterministic is None:
        deterministic = device.type == "cpu"
    with deterministic_kernels(deterministic):
        run = _Run(
            model=wrap_model(model, strategy, device, optimizer),
            train_loader=distributed.shard(train_loader),
            loss_fn=loss_fn,
            optimizer=optimizer,
            scheduler=scheduler,
            scheduler_interval=scheduler_interval,
            val_loader=distributed.shard(val_loader),
            metrics=metrics,
            device=device,
            amp=amp,
            grad_clip=grad_clip,
            eval_every=eval_every,
            run_dir=Path(run_dir) if run_dir is not None else None,
            tensorboard=tensorboard,
            config=dict(config) if config is not None else None,
            on_record=on_record,
            show=progress_enabled(progress) and distributed.is_main(),
            share_cores=share_cores,
            loggers=loggers,
        )
        seed_everything(seed + distributed.rank())  # per rank; on resume the checkpoint's RNG wins
        start_epoch = _restore(run) if resume else 0
        run.scale = run.scaler.get_scale() if run.scaler.is_enabled() else None
        run.log.restart(run.history.records)
        if steps is not None:
            try:
                _start_loggers(run, model, to_do=run.step < steps)
                _train_steps(run, steps)
                run.log.finish(run.checkpoint_path)
            finally:
                run.close()
            return run.history
        epoch_bar = tqdm(
            range(start_epoch, epochs), desc="epochs", initial=start_epoch, total=epochs, disable=not run.show
        )
        try:
            _start_loggers(run, model, to_do=start_epoch < epochs)
            for epoch in epoch_bar:
                record = _train_epoch(run, epoch)
                epoch_bar.set_postfix(
                    {k: f"{v:.4g}" for k, v in record.items() if k.startswith(("train_loss", "val_"))}
                )
            run.log.finish(run.checkpoint_path)
        finally:
            epoch_bar.close()
            run.close()
    return run.history


def _check_arguments(
    train_loader, epochs, steps, scheduler, scheduler_interval, run_dir, resume, eval_every
) -> None:
    """Bad combinations of ``fit``'s arguments, each a one-line error that says what to do."""
    if (epochs is None) == (steps is None):
        raise ValueError(
            "give fit either epochs (passes over a loader) or steps (a budget of batches): exactly one"
        )
    if steps is not None:
        if steps < 0:
            raise ValueError(f"steps must be >= 0, got {steps}")
        if scheduler is not None and scheduler_interval != "step":
            raise ValueError("a step budget has no epochs: use scheduler_interval='step'")
    elif epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    if scheduler_interval not in ("epoch", "step"):
        raise ValueError(f"scheduler_interval must be 'epoch' or 'step', got {scheduler_interval!r}")
    if resume and run_dir is None:
        raise ValueError("resume=True needs the run_dir of the run to continue")
    if eval_every is not None and eval_every < 0:
        raise ValueError(
            f"eval_every must be a number of steps (0 or None: only at epoch ends), got {eval_every}"
        )
    if eval_every and steps is None and not hasattr(train_loader, "__len__"):
        raise ValueError("eval_every needs a train_loader with a length (to place records inside the epoch)")
    if scheduler_interval == "step" and isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        raise ValueError("ReduceLROnPlateau needs a metric: use scheduler_interval='epoch'")


@dataclass
class _Run:
    """What one call of ``fit`` works with: its arguments, what follows from them (mixed
    precision, the loss scaler, the log, the history), and the state the loop advances."""

    model: nn.Module
    train_loader: Iterable
    loss_fn: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: object | None
    scheduler_interval: str
    val_loader: Iterable | None
    metrics: Mapping[str, object] | None
    device: torch.device
    amp: bool | None  # as asked for (evaluate gets it too)
    grad_clip: float | None
    eval_every: int | None
    run_dir: Path | None
    tensorboard: bool
    config: dict | None
    on_record: Callable[[dict], None] | None
    show: bool  # progress bars and messages
    share_cores: bool | None = None  # as asked for; None: for bf16 autocast on a CPU
    loggers: Sequence[Logger] = ()  # besides metrics.jsonl (e2edl.train.loggers)
    step: int = 0  # optimizer steps taken (skipped fp16 steps included), over all epochs
    elapsed: float = 0.0  # training seconds over all records, resumed runs included
    scale: float | None = None  # the fp16 loss scale after the last step (None without loss scaling)

    def __post_init__(self) -> None:
        self.model.to(self.device)
        self.use_amp, self.amp_dtype = _amp_settings(self.device, self.amp)
        fp16_scaling = self.use_amp and self.amp_dtype == torch.float16
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=fp16_scaling)
        self.checkpoint_path = self.run_dir / CHECKPOINT_NAME if self.run_dir is not None else None
        self.steps_per_epoch = len(self.train_loader) if hasattr(self.train_loader, "__len__") else None
        main = distributed.is_main()  # only rank 0 writes the log
        self.log = MetricsLog(
            self.run_dir if main else None,
            tensorboard=self.tensorboard and main,
            loggers=self.loggers if main else (),
        )
        self.history = History(run_dir=self.run_dir)
        share = self.share_cores if self.share_cores is not None else self.use_amp
        self.threads = (
            FreeCoreThreads(on_change=self._threads_changed) if share and self.device.type == "cpu" else None
        )

    def _threads_changed(self, old: int, new: int, others: float) -> None:
        if self.show:
            why = f"other processes keep {others:.1f} cores busy" if new < old else "the cores are free again"
            tqdm.write(f"{why}: training on {new} thread{'s' if new > 1 else ''} instead of {old}")

    def close(self) -> None:
        """The end of the run: the log closed, torch's thread count as it was."""
        if self.threads is not None:
            self.threads.close()
        self.log.close()


def _restore(run: _Run) -> int:
    """Load the checkpoint in ``run.run_dir`` (if any) into the run; return the epoch to start at."""
    path = run.checkpoint_path
    if not path.is_file():
        if run.show:
            tqdm.write(f"no checkpoint in {run.run_dir}; starting from scratch")
        return 0
    state = load_checkpoint(path, map_location="cpu")  # RNG states must stay on the CPU
    check_same_config(path, state.get("config"), run.config)
    load_model_state(run.model, state["model"])
    load_optimizer_state(run.model, run.optimizer, state["optimizer"])
    if run.scheduler is not None and state.get("scheduler") is not None:
        run.scheduler.load_state_dict(state["scheduler"])
    if state.get("scaler"):
        run.scaler.load_state_dict(state["scaler"])
    if state.get("loader") is not None and hasattr(run.train_loader, "load_state_dict"):
        run.train_loader.load_state_dict(state["loader"])
    set_rng_state(distributed.rank_rng_state(state))
    run.step = state["step"]
    run.history.records = list(state["history"])
    run.elapsed = run.history.last.get("elapsed", 0.0)
    if run.show:
        after = f"epoch {state['epoch']}" if state["epoch"] is not None else f"step {state['step']}"
        tqdm.write(f"resuming {run.run_dir} after {after}")
    return state["epoch"] or 0


class _Window:
    """The training since the last record, kept on the device so that a step never waits for it.

    ``loss_sum`` adds each batch's mean loss × its size; ``finite_steps`` counts the steps before
    the sum first stopped being finite (NaN and infinity never turn finite again in a sum), which
    names the step where a diverged run went wrong.
    """

    def __init__(self, run: _Run, epoch: int | None) -> None:
        self.epoch = epoch  # 0-based; None under a step budget
        self.first_step = run.step
        self.loss_sum = torch.zeros((), dtype=_sum_dtype(run.device), device=run.device)
        self.finite_steps = torch.zeros((), dtype=torch.int64, device=run.device)
        self.samples = 0
        self.started = time.perf_counter()

    def add(self, loss: torch.Tensor, samples: int) -> None:
        self.loss_sum.add_(loss, alpha=samples)
        self.finite_steps.add_(self.loss_sum.isfinite())
        self.samples += samples

    def mean_loss(self) -> float:
        """The mean train loss so far (reads the device: a host sync)."""
        return self.loss_sum.item() / max(self.samples, 1)


def _start_loggers(run: _Run, model: nn.Module, to_do: bool) -> None:
    """Start the loggers when there is training to do (a finished checkpoint reused starts none),
    telling them where the run stands: fresh, or resumed at the checkpoint's step."""
    if to_do:
        run.log.start(RunInfo(run.run_dir, run.config, model, run.step, resumed=bool(run.history.records)))


def _train_epoch(run: _Run, epoch: int) -> dict:
    """One pass over the training data: a step per batch, a record every ``eval_every`` steps
    and one at the end, then the epoch's scheduler step, the checkpoint and the report hook."""
    _set_epoch(run.train_loader, epoch)
    run.model.train()
    window = _Window(run, epoch)
    bar = tqdm(run.train_loader, desc=f"epoch {epoch + 1}", leave=False, disable=not run.show)
    display = _LossDisplay(bar)
    for index, batch in enumerate(bar):
        window.add(*_train_step(run, batch))
        if run.eval_every and run.step % run.eval_every == 0 and index + 1 != run.steps_per_epoch:
            _report(run, _record(run, window, round(epoch + (index + 1) / run.steps_per_epoch, 4)))
            window = _Window(run, epoch)
        display.update(window)
    record = _record(run, window, epoch + 1)
    _scheduler_epoch_step(run, record)
    _save(run, epoch + 1)
    _report(run, record)
    return record


def _train_steps(run: _Run, steps: int) -> None:
    """A step budget: batches from the endless ``run.train_loader`` until ``run.step == steps``,
    with a record, the checkpoint and the report hook every ``eval_every`` steps and after the
    last. A resumed run starts at its checkpoint's step (always a record's step)."""
    run.model.train()
    batches = iter(run.train_loader)
    every = run.eval_every or steps
    bar = tqdm(total=steps, initial=run.step, desc="steps", disable=not run.show)
    display = _LossDisplay(bar)
    try:
        while run.step < steps:
            window = _Window(run, None)
            end = min(steps, (run.step // every + 1) * every)  # the next record's step
            while run.step < end:
                try:
                    batch = next(batches)
                except StopIteration:
                    raise ValueError(
                        f"the sampler ran out after {run.step} steps: a step budget needs an endless sampler "
                        "(e2edl.train.batches.RandomBatches), or use epochs"
                    ) from None
                window.add(*_train_step(run, batch))
                bar.update(1)
                display.update(window)
            record = _record(run, window, None)
            _save(run, None)
            _report(run, record)
            bar.set_postfix(
                {k: f"{v:.4g}" for k, v in record.items() if k.startswith(("train_loss", "val_"))}
            )
    finally:
        bar.close()


def _train_step(run: _Run, batch) -> tuple[torch.Tensor, int]:
    """One optimisation step on one batch; returns the loss (still on the device) and the batch
    size. Nothing here reads a value back from the device (except for fp16 loss scaling)."""
    inputs, targets = _to_device(batch, run.device)
    with torch.autocast(device_type=run.device.type, dtype=run.amp_dtype, enabled=run.use_amp):
        outputs = run.model(inputs)
        loss = run.loss_fn(outputs, targets)
    run.optimizer.zero_grad(set_to_none=True)
    run.scaler.scale(loss).backward()
    if run.grad_clip is not None:
        run.scaler.unscale_(run.optimizer)
        nn.utils.clip_grad_norm_(run.model.parameters(), run.grad_clip)
    updated = _optimizer_step(run)
    if run.scheduler is not None and run.scheduler_interval == "step" and updated:
        run.scheduler.step()
    run.step += 1
    if run.threads is not None:
        run.threads.poll()  # a clock read; every second a look at how busy the cores are
    return loss.detach(), len(targets)


def _optimizer_step(run: _Run) -> bool:
    """``optimizer.step()`` through the loss scaler. False when fp16 loss scaling found an
    overflow and skipped the update (then the scheduler does not step either)."""
    run.scaler.step(run.optimizer)
    run.scaler.update()
    if run.scale is None:
        return True
    scale = run.scaler.get_scale()  # a host read; the scale only drops after an overflow
    updated = scale >= run.scale
    run.scale = scale
    return updated


def _record(run: _Run, window: _Window, epoch: float | None) -> dict:
    """Close ``window`` into a record — train loss (checked finite before anything is written),
    learning rate, validation scores, seconds — and append it to the history and the log.
    ``epoch`` None (a step budget): the record has a ``step`` and no ``epoch``."""
    distributed.reduce_window(window)  # over all ranks' batches
    loss_sum, finite_steps = window.loss_sum.item(), int(window.finite_steps.item())
    if not math.isfinite(loss_sum):
        raise _diverged(run, window, loss_sum, finite_steps)
    record = {"epoch": epoch} if epoch is not None else {}
    record.update({"step": run.step, "train_loss": loss_sum / max(window.samples, 1)})
    record["lr"] = run.optimizer.param_groups[0]["lr"]
    if run.val_loader is not None:
        scores = evaluate(run.model, run.val_loader, run.loss_fn, run.metrics, device=run.device, amp=run.amp)
        record.update({f"val_{name}": value for name, value in scores.items()})
    record["seconds"] = round(time.perf_counter() - window.started, 4)
    run.elapsed += record["seconds"]
    record["elapsed"] = round(run.elapsed, 4)
    run.history.records.append(record)
    run.log.log(record)
    return record


def _diverged(run: _Run, window: _Window, loss_sum: float, finite_steps: int) -> TrainingDiverged:
    """The error for a loss that is no longer a number: where it went wrong, what is kept."""
    path = run.checkpoint_path
    kept = "no checkpoint was written"
    if path is not None and path.is_file():
        kept = f"the last good checkpoint is {path}, left as it was"
    at_epoch = f"epoch {window.epoch + 1}, " if window.epoch is not None else ""
    return TrainingDiverged(
        f"loss became {loss_sum} at {at_epoch}step {window.first_step + finite_steps + 1} "
        f"(seen at the record after step {run.step}); {kept}. "
        "Try a lower learning rate or gradient clipping (grad_clip)."
    )


def _scheduler_epoch_step(run: _Run, record: dict) -> None:
    """The end-of-epoch scheduler step; ReduceLROnPlateau watches val_loss (else train_loss)."""
    if run.scheduler is None or run.scheduler_interval != "epoch":
        return
    if isinstance(run.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        run.scheduler.step(record.get("val_loss", record["train_loss"]))
    else:
        run.scheduler.step()


def _save(run: _Run, epochs_done: int | None) -> None:
    """Write the checkpoint (if the run has a folder): everything a resumed run needs.
    ``epochs_done`` is None under a step budget (``step`` says where the run is)."""
    if run.checkpoint_path is None:
        return
    loader = run.train_loader
    state = {
        "model": model_state_dict(run.model),  # full weights, without DDP's or FSDP's wrapping
        "optimizer": optimizer_state_dict(run.model, run.optimizer),
        "scheduler": run.scheduler.state_dict() if run.scheduler is not None else None,
        "scaler": run.scaler.state_dict() if run.scaler.is_enabled() else None,
        "loader": loader.state_dict() if hasattr(loader, "state_dict") else None,
        "rng": get_rng_state(),
        "rng_ranks": distributed.gather_rng_states(),  # None in a single process
        "epoch": epochs_done,
        "step": run.step,
        "history": run.history.records,
        "config": run.config,
    }
    if distributed.is_main():  # every rank helped gather the state; rank 0 writes it
        save_checkpoint(state, run.checkpoint_path)


def _report(run: _Run, record: dict) -> None:
    """Hand a copy of the record to the ``on_record`` hook, if there is one."""
    if run.on_record is not None:
        run.on_record(dict(record))


class _LossDisplay:
    """The running train loss on the batch progress bar, read from the device at most once every
    ``LOSS_DISPLAY_SECONDS``: nobody reads a number faster, and each read makes the CPU wait for
    the GPU to finish its queue (a host sync), which on every step would leave the GPU idle
    between steps. With the bar off it reads nothing."""

    def __init__(self, bar: tqdm) -> None:
        self.bar = bar
        self.shown_at = time.perf_counter()

    def update(self, window: _Window) -> None:
        if self.bar.disable or window.samples == 0:
            return
        now = time.perf_counter()
        if now - self.shown_at >= LOSS_DISPLAY_SECONDS:
            self.bar.set_postfix(loss=f"{window.mean_loss():.4f}", refresh=False)
            self.shown_at = now
